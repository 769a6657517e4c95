"""The retrieval-augmented captioner (``caption_fusion``): a transformer decoder that reads the frozen AID encoder's
tokens of the image beside the captions its nearest training images carry (the top 5 by n-gram consensus among the
dual encoder's 20 nearest), as SmallCap does (Ramos et al. 2023), judged against the n-gram consensus on a
validation matched to how far rsicd-test lies from rsicd-train.

Why matched: rsicd-test's AID images are contiguous runs of each class's numbering, so a test image's nearest
same-class training image is a median 6 numbers away (10th-90th percentile 1-13), where a random validation image's
is nearly always 1 away, and AID's consecutive numbers are mostly neighbouring crops captioned alike. Each of the
399 validation queries (``representative``) gets a gap drawn from the test images' distances (names only, never a
test caption); every training image of its class fewer than that many numbers from it is left out of the memory
and of all training, and the decoder's own training retrieval leaves out near-copies the same way, so it learns to
write from captions as far from the image as a test image's are, not to copy a near-copy's.

If the fusion beats the consensus's best setting (k 20, 40, 80, with and without D4 TTA) by more than MARGIN there,
the shipped model is built: the decoder retrained on the whole training part (its epochs: the validation run's
best), its memory every rsicd-train image, and rsicd-test is read once; otherwise the measured model itself (the
decoder trained on the kept part, its memory the kept images) is written under the recipe's name. With
``CaptionConfig.encoder_lr`` the encoder learns with the decoder (recipe ``rsicd_captioner_fusion_e2e``).
Rebuild: ``python -m rsvision.train.recipes rsicd_captioner_fusion --data ../shared/data/AID --out
src/rsvision/models/weights``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from rsvision.bench.model_eval import evaluate_captioner
from rsvision.datasets.captions import RsicdDataset
from rsvision.metrics.captioning import caption_scores
from rsvision.models.captioner import (
    FUSION_ARCH,
    CaptionDecoder,
    CaptionFusion,
    CaptionMemory,
    build_caption_vocabulary,
)
from rsvision.models.embedder import DEFAULT_EMBEDDER, load_embedder
from rsvision.models.resolve import resolve_model
from rsvision.models.state import load_timm_tensors
from rsvision.models.weights import MeasuredMetrics, Task, save_weights
from rsvision.tasks.captioning import CaptionRetriever, FusionCaptioner, RetrievalCaptioner
from rsvision.train.captioning import (
    CaptionConfig,
    CaptionParts,
    decode_tokens,
    extract_images,
    extract_tokens,
    fit_caption_decoder,
)
from rsvision.train.recipes.captioning import (
    BEAM,
    ENCODER,
    LICENCE,
    NAME,
    memory_embeddings,
    once,
    representative,
)
from rsvision.train.recipes.common import recipe_entry, recipe_session
from rsvision.train.recipes.rsicd import VAL_FRACTION, limited, scores_of, smoke
from rsvision.train.retrieval import cached_array, fingerprint, split_images

MARGIN = 0.03  # the lead over the consensus that ships the fusion (session 21's rule, docs/language.md)
CONSENSUS_K = (20, 40, 80)
AID_NAME = re.compile(r"([a-z]+)_(\d+)\.\w+$")


@dataclass(frozen=True)
class FusionRecipe:
    recipe: str = "rsicd_captioner_fusion"
    config: CaptionConfig = field(default_factory=lambda: CaptionConfig(epochs=12))
    decoder: tuple = (
        ("width", 256),
        ("layers", 2),
        ("heads", 4),
        ("context", 32),
        ("retrieved", 5),
        ("retrieved_len", 20),
    )
    init: str = ENCODER
    k: int = 20  # nearest memory images whose captions the consensus ranks for the decoder
    gap_seed: int = 0  # the validation queries' gaps; the decoder's own training gaps use gap_seed + 1


def train_fusion_recipe(
    recipe: FusionRecipe,
    *,
    out: str,
    data: str = "../shared/data/AID",
    work: str | None = None,
    threads: int = 2,
    progress: bool = True,
    test: bool = True,
    limit: int | None = None,
) -> Path:
    """Judge the fusion captioner on the gap-matched validation; write it as ``out/rsicd_captioner`` when it leads
    the consensus by more than MARGIN (else as ``out/rsicd_captioner_fusion``), with ``test`` its rsicd-test
    figures (read once)."""
    with recipe_session(recipe.recipe, data, out, work, threads) as (work_dir, log, text):
        started = time.time()
        train_all = limited(RsicdDataset(data, split="rsicd-train"), limit)
        captions = [s.targets["captions"] for s in train_all]
        train_idx, val_all = split_images(len(train_all), VAL_FRACTION, 0)
        queries = representative(val_all, captions)
        names = aid_numbers([s.id for s in train_all])
        gaps = test_gaps(data, names)
        query_gaps = np.random.default_rng(recipe.gap_seed).choice(gaps, len(queries))
        kept = train_idx[~near_copies(names, queries, query_gaps)[train_idx]]
        log(
            f"gap-matched validation: {len(queries)} queries, gaps drawn from {len(gaps)} test images' (median "
            f"{np.median(gaps):.0f}); {len(kept)} of {len(train_idx)} training images kept"
        )
        embeddings = memory_embeddings(train_all, work_dir, progress, log)
        refs = {i: captions[q] for i, q in enumerate(queries)}
        baseline = consensus_scores(embeddings, kept, queries, captions, refs, log)
        best = max(baseline, key=lambda key: baseline[key]["cider"])
        decoder, prep, kwargs, tokens = decoder_parts(recipe, train_all, kept, captions, work_dir, progress)
        kept_memory = memory_of(embeddings[True], kept, captions, recipe.k)
        retriever = CaptionRetriever(kept_memory, decoder.retrieved)
        train_gaps = np.random.default_rng(recipe.gap_seed + 1).choice(gaps, len(train_all))
        parts = CaptionParts(
            tokens[kept],
            [captions[i] for i in kept],
            tokens[queries],
            [captions[q] for q in queries],
            retrieval(decoder, retriever, kept, embeddings[True], kept, names, train_gaps),
            retrieval(decoder, retriever, kept, embeddings[True], queries, names, None),
        )
        result = fit_caption_decoder(decoder, parts, recipe.config, work_dir / "validation", log)
        hyps = decode_tokens(decoder, parts.val_tokens, beam=BEAM, retrieved=parts.val_retrieved)
        fused = caption_scores(refs, dict(enumerate(hyps)))
        lead = fused["cider"] - baseline[best]["cider"]
        ships = lead > MARGIN
        log(
            f"gap-matched validation CIDEr-D: consensus (k {best[0]}, D4 TTA {best[1]}) {baseline[best]['cider']:.4f}, "
            f"fusion {fused['cider']:.4f} (best epoch {result.best_epoch}, beam {BEAM}): lead {lead:+.4f}, "
            + ("ships" if ships else f"not more than {MARGIN}: written as {recipe.recipe}, not shipped")
        )
        if ships:
            cached = (embeddings[True], tokens)
            args = (train_all, train_idx, captions, cached, names, train_gaps, result.best_epoch, work_dir, log)
            fusion = final_fusion(recipe, *args)
        else:  # what was measured: the decoder trained on the kept part, its memory the kept images
            kept_memory.embedder_sha256 = load_embedder(DEFAULT_EMBEDDER).weights.sha256
            fusion = CaptionFusion.of(decoder, kwargs, kept_memory)
        part = f"rsicd-train validation, gap-matched ({len(queries)} images, {len(kept)} training images kept)"
        metrics = [
            MeasuredMetrics(dataset="AID+RSICD", split=f"{part}, consensus k={k}, tta={t}", values=v)
            for (k, t), v in baseline.items()
        ] + [MeasuredMetrics(dataset="AID+RSICD", split=f"{part}, fusion (beam {BEAM})" + smoke(limit), values=fused)]
        if test and ships:
            captioner = FusionCaptioner(load_embedder(DEFAULT_EMBEDDER), fusion, prep)
            values = scores_of(evaluate_captioner(captioner, limited(RsicdDataset(data, split="rsicd-test"), limit)))
            log("rsicd-test: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
            metrics.append(MeasuredMetrics(dataset="AID+RSICD", split="rsicd-test" + smoke(limit), values=values))
        notes = {
            "decoder_history": result.history,
            "decoder_config": asdict(recipe.config),
            "gap_matched": {"queries": len(queries), "kept": len(kept), "lead": round(lead, 4)},
            "wall_seconds": round(time.time() - started),
            "threads": threads,
            "limit": limit,
        }
        card = {
            "task": Task.CAPTIONING,
            "architecture": FUSION_ARCH,
            "architecture_kwargs": fusion.card_kwargs(),
            "preprocessing": prep,
            "classes": [],
        }
        name = NAME if ships else recipe.recipe
        record = save_weights(fusion, out, name, metrics=metrics, licence=LICENCE, command=text, notes=notes, **card)
        log(f"wrote {record.weights_path}")
        return record.weights_path


def aid_numbers(ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each AID file name's class and number (``airport_12.jpg`` -> ``airport``, 12); ``""``, -1 for other names."""
    found = [AID_NAME.search(Path(i).name) for i in ids]
    return (
        np.array([m.group(1) if m else "" for m in found]),
        np.array([int(m.group(2)) if m else -1 for m in found]),
    )


def test_gaps(data: str, names: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """For each rsicd-test image (names only), how many numbers its nearest same-class image of ``names`` is away."""
    test_names = aid_numbers([s.id for s in RsicdDataset(data, split="rsicd-test").samples])
    classes, numbers = names
    gaps = [np.abs(numbers[classes == c] - n).min() for c, n in zip(*test_names) if c and np.any(classes == c)]
    return np.array(gaps or [1], dtype=np.int64)


def near_copies(names, images: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """A mask over ``names``: the images of the class of ``images[i]`` fewer than ``gaps[i]`` numbers from it."""
    classes, numbers = names
    mask = np.zeros(len(classes), bool)
    for i, gap in zip(images, gaps):
        mask |= (classes == classes[i]) & (np.abs(numbers - numbers[i]) < gap)
    return mask


def memory_of(embeddings: np.ndarray, images: np.ndarray, captions, k: int, tta: bool = True) -> CaptionMemory:
    """A memory of ``images`` (``embeddings``: D4 ones when ``tta``), each image's repeated captions once."""
    kept = [once(captions[i]) for i in images]
    return CaptionMemory.from_captions(torch.from_numpy(embeddings[images]), kept, DEFAULT_EMBEDDER, k, tta=tta)


def consensus_scores(embeddings, kept, queries, captions, refs, log) -> dict[tuple, dict]:
    """The n-gram consensus over a memory of ``kept`` (repeats once), per (k, D4 TTA), on the queries."""
    scores = {}
    for tta in (False, True):
        captioner = RetrievalCaptioner(None, memory_of(embeddings[tta], kept, captions, max(CONSENSUS_K), tta))
        for k in CONSENSUS_K:
            captioner.k = k
            hyps = {i: c.text for i, c in enumerate(captioner.caption_embeddings(embeddings[tta][queries]))}
            scores[k, tta] = got = caption_scores(refs, hyps)
            log(f"consensus k {k}, D4 TTA {tta}: gap-matched CIDEr-D {got['cider']:.4f}, BLEU-4 {got['bleu4']:.4f}")
    return scores


def decoder_parts(recipe: FusionRecipe, train_all, images, captions, work_dir: Path, progress: bool) -> tuple:
    """A fresh fusion decoder (vocabulary of ``images``' captions, its encoder from ``recipe.init``), the encoder's
    preprocessing, the decoder's kwargs and every image's cached tokens (with an encoder learning rate, the
    normalised images the encoder reads)."""
    init = resolve_model(recipe.init, needed_by="the captioner's encoder")
    decoder, kwargs = new_decoder(recipe, init, [c for i in images for c in captions[i]])
    prep = init.weights.preprocessing
    ids = [s.id for s in train_all]
    if recipe.config.encoder_lr:
        path, extract = f"images_{len(ids)}.npy", lambda: extract_images(train_all, prep, progress=progress)
    else:
        path, extract = f"tokens_{len(ids)}.npy", lambda: extract_tokens(decoder, train_all, prep, progress=progress)
    tokens = cached_array(work_dir / path, fingerprint(ids, init.weights.sha256, prep.model_dump()), extract)
    return decoder, prep, kwargs, tokens


def new_decoder(recipe: FusionRecipe, init, captions: list[str]) -> tuple[CaptionDecoder, dict]:
    """A fusion decoder over the vocabulary of ``captions``, seeded, its frozen encoder from ``init`` (a resolved
    model); and the kwargs that build it."""
    torch.manual_seed(recipe.config.seed)
    kwargs = {"vocab": build_caption_vocabulary(captions), **dict(recipe.decoder)}
    decoder = CaptionDecoder(**kwargs)
    load_timm_tensors(decoder.encoder, init.module.state_dict())
    return decoder, kwargs


def retrieval(decoder, retriever: CaptionRetriever, memory_images, embeddings, images, names, gaps) -> torch.Tensor:
    """The retrieved caption ids the decoder reads for each of ``images``: with ``gaps``, leaving out the image
    itself and its class's images fewer than its gap away (``gaps`` indexed by dataset image)."""
    classes, numbers = names
    left_out = None
    if gaps is not None:

        def left_out(row: int) -> np.ndarray:
            i = images[row]
            close = np.abs(numbers[memory_images] - numbers[i]) < max(int(gaps[i]), 1)
            return (classes[memory_images] == classes[i]) & close

    found = retriever.retrieve(embeddings[images], left_out)
    return decoder.retrieved_ids([texts for _, _, texts in found])


def final_fusion(recipe, train_all, train_idx, captions, cached, names, train_gaps, epochs, work_dir, log):
    """The shipped fusion: a decoder trained on the whole training part for ``epochs`` (the validation run's best),
    its retrieval gap-matched over a memory of every rsicd-train image; that memory. ``cached``: every image's D4
    embedding and encoder tokens."""
    embeddings, tokens = cached
    everything = np.arange(len(train_all))
    memory = memory_of(embeddings, everything, captions, recipe.k)
    memory.embedder_sha256 = load_embedder(DEFAULT_EMBEDDER).weights.sha256
    init = resolve_model(recipe.init, needed_by="the captioner's encoder")
    decoder, kwargs = new_decoder(recipe, init, [c for i in train_idx for c in captions[i]])
    none = np.zeros((0, *tokens.shape[1:]), tokens.dtype)
    parts = CaptionParts(
        tokens[train_idx],
        [captions[i] for i in train_idx],
        none,
        [],
        retrieval(
            decoder, CaptionRetriever(memory, decoder.retrieved), everything, embeddings, train_idx, names, train_gaps
        ),
    )
    log(f"the shipped decoder: {len(train_idx)} training images, {epochs} epochs, memory of {len(everything)} images")
    fit_caption_decoder(decoder, parts, replace(recipe.config, epochs=epochs), work_dir / "final", log)
    return CaptionFusion.of(decoder, kwargs, memory)


rsicd_captioner_fusion: Callable = recipe_entry(
    train_fusion_recipe,
    FusionRecipe(),
    "Captioner: a decoder fusing the image with retrieved captions, judged on gap-matched validation.",
)

rsicd_captioner_fusion_e2e: Callable = recipe_entry(
    train_fusion_recipe,
    FusionRecipe(recipe="rsicd_captioner_fusion_e2e", config=CaptionConfig(epochs=12, encoder_lr=1e-4)),
    "Captioner: the fusion decoder with its encoder trained end to end (a fifth of the decoder's rate).",
)
