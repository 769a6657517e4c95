"""Run a model on a dataset and score it (``rsvision eval TASK -m MODEL``), with the keys of docs/metrics.md.

Classification: every image of the split is classified with the record's preprocessing (optionally D4 TTA,
:func:`rsvision.models.inference.predict_dataset`); an image that cannot be read or that the model cannot take
is left out of the scores, counted in ``n_failed`` and listed under ``failed``. Classes are matched by name, so
the dataset may hold a subset of the model's classes in any order. :func:`evaluate_classifier` is the one
classifier evaluator: the metrics a training run writes on its card come from it too (:mod:`rsvision.train.publish`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rasterio.windows import Window

from rsvision.bench.change import evaluate_change_model
from rsvision.bench.detection import voc_detection_scores
from rsvision.bench.evaluate import check_task, open_task_dataset, score_classes
from rsvision.core.progress import progress_bar
from rsvision.datasets import Dataset, guess_format
from rsvision.datasets.captions import find_rsicd_precomp
from rsvision.errors import EvaluationError, NotGeoreferencedWarning
from rsvision.io import open_scene
from rsvision.io.rgb import read_rgb8
from rsvision.metrics.captioning import caption_scores
from rsvision.metrics.retrieval import retrieval_recall_from_similarity
from rsvision.metrics.segmentation import SegmentationMetric
from rsvision.metrics.vqa import VQAMetric
from rsvision.tasks.base import TileBatch
from rsvision.tasks.zero_shot import check_classes, folder_class_words

if TYPE_CHECKING:
    from rsvision.models.classifier import Classifier
    from rsvision.models.embedder import Embedder
    from rsvision.models.resolve import LoadedModel

# rsvision.models.classifier and .inference are imported inside the functions that run a model: they import torch
# (seconds), and the command line imports this package to check its arguments before any model runs.


def evaluate_model(
    task: str,
    data: str | os.PathLike,
    model: str | os.PathLike | None = None,
    format: str | None = None,
    split: str | None = None,
    split_file: str | os.PathLike | None = None,
    *,
    tta: bool = False,
    scales: Sequence[float] | None = None,
    batch_size: int = 64,
    progress: bool = False,
    zero_shot: bool = False,
    coregister: bool | None = None,
) -> dict[str, Any]:
    """Run ``model`` (``-m``: a built-in name, a weights file or ``KIND:ARCH:PATH``, see
    :func:`rsvision.models.resolve.resolve_model`; the task's default model when None) on the dataset at ``data``
    and return the task's metric dict. A model of another task is refused before any image is read.
    ``zero_shot`` (classification): ``model`` is a dual encoder, classifying into the dataset's class names.
    ``scales`` (segmentation): multi-scale inference factors. ``coregister`` (change): see
    :func:`rsvision.bench.change.evaluate_change_model`."""
    check_task(task)
    if coregister is not None and task != "change":
        raise EvaluationError(f"eval {task}: --coregister applies to change alone")
    if scales is not None and task != "segmentation":
        raise EvaluationError(f"eval {task}: --scales applies to segmentation alone")
    if zero_shot and task != "classification":
        raise EvaluationError(f"eval {task}: --zero-shot applies to classification alone")
    if task == "retrieval":
        return _evaluate_retrieval_task(data, model, format, split, split_file, batch_size, progress, tta)
    if task == "captioning":
        from rsvision.tasks.captioning import load_captioner  # deferred: torch (see the note at the top)

        dataset = _caption_dataset(task, data, format, split, split_file)
        return evaluate_captioner(load_captioner(model, "eval captioning"), dataset, progress=progress)
    if task == "vqa" and model is not None:
        from rsvision.tasks.vqa import load_vqa  # deferred: torch (see the note at the top)

        dataset = open_task_dataset(task, data, format, split, split_file)
        return evaluate_vqa_model(load_vqa(model), dataset, progress=progress)
    if task not in ("classification", "segmentation", "change", "detection"):
        raise EvaluationError(
            f"eval {task} -m: the grounder composes the built-in models and takes no -m; run it without -m, "
            "or score boxes made elsewhere with --predictions"
        )
    dataset = open_task_dataset(task, data, format, split, split_file)
    if len(dataset) == 0:
        raise EvaluationError(f"{dataset.root}: the dataset holds no samples to score")
    evaluate = task_evaluator(
        task,
        model,
        dataset,
        tta=tta,
        scales=scales,
        batch_size=batch_size,
        progress=progress,
        zero_shot=zero_shot,
        coregister=coregister,
    )
    return evaluate(dataset)


def task_evaluator(
    task: str,
    model: str | os.PathLike | None,
    dataset: Dataset,
    *,
    tta: bool = False,
    scales: Sequence[float] | None = None,
    batch_size: int = 64,
    progress: bool = False,
    zero_shot: bool = False,
    coregister: bool | None = None,
) -> Callable[[Dataset], dict[str, Any]]:
    """The model of a classification, segmentation, change or detection evaluation, loaded once (``dataset``: the
    one it will score, read for the change model's bands), as a function scoring a dataset: ``eval robustness``
    scores the same dataset under each corruption with it."""
    if task == "change":
        from rsvision.models.change import default_change_model
        from rsvision.models.resolve import resolve_model  # deferred: torch (see the note at the top)
        from rsvision.models.weights import Task

        with warnings.catch_warnings():  # only its band names are read here
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            first = open_scene(dataset[0].image[0])
        model = model or default_change_model(first.band_names, first.dtype, first.sensor)
        if model is None:
            raise EvaluationError(
                f"eval change: no built-in change model takes {first.path}'s bands ({', '.join(first.band_names)}); "
                "give -m MODEL, or --method cva|irmad|pcakmeans"
            )
        loaded = resolve_model(model, Task.CHANGE, f"eval {task}")
        return lambda data: evaluate_change_model(loaded, data, progress=progress, coregister=coregister, tta=tta)
    if task == "detection":
        from rsvision.models.detection import detector_spec  # deferred: torch (see the note at the top)
        from rsvision.models.resolve import resolve_model
        from rsvision.models.weights import Task

        loaded = resolve_model(detector_spec(model), Task.DETECTION, f"eval {task}")
        return lambda data: evaluate_detector_model(loaded, data, progress=progress)
    if task == "segmentation":
        from rsvision.models.resolve import resolve_model  # deferred: torch (see the note at the top)
        from rsvision.models.segmentation import segmenter_spec
        from rsvision.models.weights import Task

        loaded = resolve_model(segmenter_spec(model), Task.SEGMENTATION, f"eval {task}")
        return lambda data: evaluate_segmenter(loaded, data, tta=tta, scales=scales, progress=progress)
    if zero_shot:
        return lambda data: evaluate_zero_shot(model, data, tta=tta, batch_size=batch_size, progress=progress)
    from rsvision.models.classifier import load_classifier  # deferred: torch (see the note at the top)

    classifier = load_classifier(model, needed_by=f"eval {task}")
    return lambda data: evaluate_classifier(classifier, data, tta=tta, batch_size=batch_size, progress=progress)


def evaluate_zero_shot(
    model: str | os.PathLike | None,
    dataset: Dataset,
    *,
    tta: bool = False,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[str, Any]:
    """Zero-shot classification keys of the dual encoder ``model`` (the built-in one when None) on a classification
    dataset: its class names are the labels, their words (:func:`folder_class_words`) what the prompts describe.
    ``class_texts`` in the result says which words stood for which class."""
    from rsvision.models.embedder import load_embedder  # deferred: torch (see the note at the top)
    from rsvision.models.zero_shot import zero_shot_classifier

    labels = check_classes(dataset.classes, f"{dataset.root}: class folders")
    phrases = [folder_class_words(c) for c in labels]
    embedder = load_embedder(model, needed_by="eval classification --zero-shot")
    classifier = zero_shot_classifier(embedder, labels, phrases)
    out = evaluate_classifier(classifier, dataset, tta=tta, batch_size=batch_size, progress=progress)
    return {**out, "class_texts": dict(zip(labels, phrases))}


def evaluate_classifier(
    classifier: Classifier, dataset: Dataset, *, tta: bool = False, batch_size: int = 64, progress: bool = False
) -> dict[str, Any]:
    """The classification keys of :func:`rsvision.bench.evaluate.score_classes`, over the dataset's classes
    (matched to the model's by name), plus ``n_images``, ``n_failed`` and, when some failed, ``failed``:
    ``[{"sample", "reason"}]``. A dataset class the model does not know is refused: it could never be right."""
    from rsvision.models.classifier import require_head  # deferred: torch (see the note at the top)
    from rsvision.models.inference import predict_dataset

    require_head(classifier)
    model_classes = list(classifier.classes)
    unknown = [c for c in dataset.classes if c not in model_classes]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        known = ", ".join(model_classes[:8]) + (" ..." if len(model_classes) > 8 else "")
        raise EvaluationError(
            f"{dataset.root}: classes unknown to model {classifier.weights.name}: {shown} "
            f"({len(unknown)} of {len(dataset.classes)}); the model knows {known}"
        )
    pred = predict_dataset(classifier, dataset, batch_size=batch_size, tta=tta, progress=progress)
    if not len(pred.indices):
        first = pred.failures[0] if pred.failures else ("", "no samples")
        raise EvaluationError(f"no image of {dataset.root} could be classified (first: {first[1]})")
    truth = np.array([dataset[int(i)].targets["label"] for i in pred.indices], dtype=np.int64)
    order = np.argsort(-pred.probabilities, axis=1, kind="stable")[:, :5]
    names = np.asarray(model_classes)
    out = score_classes(list(dataset.classes), truth, list(names[order[:, 0]]), [list(names[o]) for o in order])
    out["n_images"] = len(pred.indices)
    out["n_failed"] = len(pred.failures)
    if pred.failures:
        out["failed"] = [{"sample": s, "reason": r} for s, r in pred.failures]
    return out


def evaluate_segmenter(
    loaded: LoadedModel,
    dataset: Dataset,
    *,
    tta: bool = False,
    scales: Sequence[float] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """``miou``, ``overall_accuracy``, ``kappa`` and ``per_class`` of a segmentation model on every image of a mask
    dataset, each image whole (padded to the network's stride). The model's classes are matched to the
    dataset's by name; the dataset's ignored class (Unlabeled) is not scored. ``tta``: probabilities averaged over
    each image's shape-keeping D4 views, ``scales`` over the image resampled by each factor
    (:class:`~rsvision.tasks.segmentation.Segmenter`)."""
    from rsvision.tasks.classification import BandChoice  # deferred: torch (see the note at the top)
    from rsvision.tasks.segmentation import Segmenter

    names = list(dataset.classes)
    unknown = [c for c in loaded.weights.classes if c not in names]
    if unknown:
        raise EvaluationError(
            f"{dataset.root}: model {loaded.weights.name} predicts classes the dataset does not have: "
            f"{', '.join(unknown)} (the dataset has {', '.join(names)})"
        )
    to_dataset = np.array([names.index(c) for c in loaded.weights.classes], dtype=np.int64)
    segmenter = Segmenter(
        loaded.weights, loaded.module, BandChoice(None, "position"), dtype="uint8", tta=tta, scales=scales
    )
    metric = SegmentationMetric(len(names), getattr(dataset, "ignore_index", None), names)
    with progress_bar(enabled=progress) as bar:
        for sample in bar.track(dataset, description=f"segmenting {len(dataset)} images"):
            image = dataset.load_image(sample)
            truth = dataset.load_mask(sample)
            h, w = image.shape[1:]
            batch = TileBatch(image[None].astype(np.float32), np.zeros((1, h, w), bool), [Window(0, 0, w, h)])
            predicted = to_dataset[segmenter.predict(batch)[0].argmax(0)]
            metric.update(predicted, truth)
    out = metric.compute()
    out["n_images"] = len(dataset)
    return out


def evaluate_detector_model(
    loaded: LoadedModel, dataset: Dataset, *, score: float = 0.05, progress: bool = False
) -> dict[str, Any]:
    """``map50``, ``map``, ``map75``, ``map50_voc07`` and ``per_class`` (:func:`voc_detection_scores`) of a
    detection model on every image of a box dataset, each image whole, detections down to ``score``. Classes are
    matched by name, letter case aside."""
    from rsvision.tasks.detection import Detector  # deferred: torch (see the note at the top)

    names = [c.lower() for c in dataset.classes]
    unknown = [c for c in loaded.weights.classes if c.lower() not in names]
    if unknown:
        raise EvaluationError(
            f"{dataset.root}: model {loaded.weights.name} finds classes the dataset does not have: "
            f"{', '.join(unknown)} (the dataset has {', '.join(dataset.classes)})"
        )
    to_dataset = np.array([names.index(c.lower()) for c in loaded.weights.classes], dtype=np.int64)
    detector = Detector(loaded.weights, loaded.module, score=score, dtype="uint8")
    found = {}
    with progress_bar(enabled=progress) as bar:
        for i, sample in enumerate(bar.track(dataset, description=f"detecting in {len(dataset)} images")):
            image = dataset.load_image(sample)[: len(loaded.weights.bands)]
            h, w = image.shape[1:]
            d = detector.predict(TileBatch(image[None], np.zeros((1, h, w), bool), [Window(0, 0, w, h)]))[0]
            found[i] = replace(d, labels=to_dataset[d.labels])
    return {**voc_detection_scores(dataset, found, detector.rotated), "n_images": len(dataset)}


def _evaluate_retrieval_task(
    data: str | os.PathLike,
    model: str | os.PathLike | None,
    format: str | None,
    split: str | None,
    split_file: str | os.PathLike | None,
    batch_size: int,
    progress: bool,
    tta: bool = False,
) -> dict[str, Any]:
    """``eval retrieval -m MODEL [--tta]``: an image folder with ``captions/rsicd_precomp`` beside it (AID) is read as
    RSICD, on ``rsicd-test`` unless ``--split`` says otherwise."""
    from rsvision.models.embedder import load_embedder  # deferred: torch (see the note at the top)

    dataset = _caption_dataset("retrieval", data, format, split, split_file)
    embedder = load_embedder(model, needed_by="eval retrieval")
    return evaluate_embedder(embedder, dataset, batch_size=batch_size, progress=progress, tta=tta)


def _caption_dataset(task: str, data, format: str | None, split: str | None, split_file) -> Dataset:
    """The captioned images of ``data``: an image folder with ``captions/rsicd_precomp`` beside it (AID) is read as
    RSICD, on ``rsicd-test`` unless ``--split`` says otherwise."""
    path = Path(data)
    if format is None and path.is_dir() and guess_format(path) == "folder" and find_rsicd_precomp(path):
        format, split = "rsicd", split or "rsicd-test"
    dataset = open_task_dataset(task, data, format, split, split_file)
    if len(dataset) == 0:
        raise EvaluationError(f"{dataset.root}: the dataset holds no captioned images to score")
    return dataset


def evaluate_captioner(captioner, dataset: Dataset, *, batch_size: int = 64, progress: bool = False) -> dict[str, Any]:
    """DESIGN's captioning keys (``bleu1`` .. ``bleu4``, ``meteor``, ``rouge_l``, ``cider``) of a captioner (anything
    with ``caption_images(list of images) -> captions``) on every image of the dataset against its references,
    plus ``n_images``. The one captioning evaluator: the recipe's test figures come from it too."""
    hyps = {}
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"captioning {len(dataset)} images", total=len(dataset))
        for start in range(0, len(dataset), batch_size):
            samples = dataset.samples[start : start + batch_size]
            captions = captioner.caption_images([dataset.load_image(s) for s in samples])
            hyps.update({s.id: c.text for s, c in zip(samples, captions)})
            bar.advance(task, len(samples))
    refs = {s.id: s.targets["captions"] for s in dataset}
    return {**caption_scores(refs, hyps), "n_images": len(dataset)}


def evaluate_embedder(
    embedder: Embedder, dataset: Dataset, *, batch_size: int = 64, progress: bool = False, tta: bool = False
) -> dict[str, Any]:
    """DESIGN's retrieval keys (``i2t_r1`` .. ``t2i_r10``, ``mean_recall``) of a dual encoder: every image of the
    dataset against every caption (each image's captions are its matches), plus ``n_images`` and ``n_captions``.
    The one retrieval evaluator: a training recipe's test figures come from it too. ``tta``: image embeddings
    averaged over the 8 flips and quarter turns."""
    captions = [c for s in dataset for c in s.targets["captions"]]
    owner = np.repeat(np.arange(len(dataset)), [len(s.targets["captions"]) for s in dataset])
    images = []
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"embedding {len(dataset)} images", total=len(dataset))
        for start in range(0, len(dataset), batch_size):
            chunk = [dataset.load_image(s) for s in dataset.samples[start : start + batch_size]]
            images.append(embedder.embed_images(chunk, batch_size=batch_size, tta=tta))
            bar.advance(task, len(chunk))
    texts = embedder.embed_texts(captions)
    out = retrieval_recall_from_similarity(np.concatenate(images) @ texts.T, owner)
    return {**out, "n_images": len(dataset), "n_captions": len(captions)}


def vqa_image_features(learned, dataset: Dataset, size: int | None = None):
    """``(features, rows)``: each image's features computed once (its 8-bit RGB, and its before date's when it has
    one) and, per question, the row of its image."""
    import torch  # deferred (see the note at the top)

    size = size or learned.preprocessing.input_size
    rows: dict[str, int] = {}
    pairs: list[tuple[np.ndarray, np.ndarray | None]] = []
    for sample in dataset:
        key = str(sample.meta.get("img_id"))
        if key not in rows:
            if sample.image is None:
                raise EvaluationError(f"{dataset.root}: question {sample.id} has no image file")
            before = sample.meta.get("before")
            rows[key] = len(pairs)
            pairs.append((read_rgb8(sample.image, size), read_rgb8(before, size) if before else None))
    parts = [learned.image_features(*zip(*pairs[s : s + 64])) for s in range(0, len(pairs), 64)]
    return torch.cat(parts), np.array([rows[str(s.meta.get("img_id"))] for s in dataset])


def evaluate_vqa_model(learned, dataset: Dataset, *, batch_size: int = 256, progress: bool = False) -> dict[str, Any]:
    """VQA keys (``accuracy``, ``accuracy_<type>``, ``average_accuracy``) of a learned VQA model on an RSVQA-layout
    dataset, plus ``n_questions``. The one learned-VQA evaluator: the recipe's test figures come from it too."""
    feats, rows = vqa_image_features(learned, dataset)
    questions = [s.targets["question"] for s in dataset]
    answers: list[str] = []
    for start in range(0, len(questions), batch_size):
        part = questions[start : start + batch_size]
        answers += learned.answer_features(feats[rows[start : start + batch_size]], learned.question_features(part))
    metric = VQAMetric()
    metric.update(answers, [s.targets["answer"] for s in dataset], [s.targets["type"] for s in dataset])
    return {k: v for k, v in metric.compute().items() if k != "per_class"} | {"n_questions": len(dataset)}
