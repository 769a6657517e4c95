"""RSVQA (LR / HR): ``<prefix>_split_<split>_questions.json``, ``..._answers.json`` and ``..._images.json``.

Each file holds one list (``questions``, ``answers``, ``images``); entries with ``"active": false`` are
left out, as in the official loaders. A question names its image (``img_id``), its ``type`` and its
answers (``answers_ids``; answers are also found by their ``question_id``). Images are
``Images_LR/<img_id>.tif`` (or ``Images``, ``Images_HR``, ``Data``) beside the JSON files.
One sample per question: ``targets = {"question", "answer", "type"}``; ``meta["before"]`` is the older date's
image where ``<img_id>_before.<ext>`` lies beside the image (change questions).
"""

from __future__ import annotations

import os
from pathlib import Path

from rsvision.datasets.base import (
    Dataset,
    Issues,
    Sample,
    index_by_stem,
    read_json,
    require_dir,
)
from rsvision.errors import AnnotationError, InputNotFoundError

_IMAGE_DIRS = ("Images_LR", "Images_HR", "Images", "Data", "images")


def _load_list(path: Path, key: str) -> list[dict]:
    data = read_json(path)
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise AnnotationError(f"{path}: expected {{{key!r}: [...]}}")
    return [x for x in items if isinstance(x, dict) and x.get("active", True)]


class RsvqaDataset(Dataset):
    """RSVQA question/answer/image JSON triplet of one split; ``classes`` are the question types found."""

    format = "rsvqa"
    task = "vqa"

    def __init__(self, root: str | os.PathLike, split: str = "test", images: str | os.PathLike | None = None):
        root = Path(root)
        if root.is_file():  # a *_questions.json path names the split itself
            root, prefix = root.parent, root.name.removesuffix("_questions.json")
            split = prefix.rpartition("_split_")[2] if "_split_" in prefix else split
        else:
            root = require_dir(root, "RSVQA folder")
            found = sorted(root.glob(f"*_split_{split}_questions.json")) or sorted(
                root.glob(f"*{split}_questions.json")
            )
            if not found:
                raise InputNotFoundError(f"{root}: no *_split_{split}_questions.json")
            prefix = found[0].name.removesuffix("_questions.json")
        files = {k: root / f"{prefix}_{k}.json" for k in ("questions", "answers", "images")}
        for k in ("questions", "answers"):
            if not files[k].is_file():
                raise InputNotFoundError(f"no RSVQA {k} file: {files[k]}")
        questions = _load_list(files["questions"], "questions")
        answers = _load_list(files["answers"], "answers")
        active_images = (
            {img["id"] for img in _load_list(files["images"], "images")} if files["images"].is_file() else None
        )
        by_id = {a["id"]: a for a in answers if "id" in a}
        by_question = {a["question_id"]: a for a in answers if "question_id" in a}
        image_dir = Path(images) if images else next((root / d for d in _IMAGE_DIRS if (root / d).is_dir()), None)
        image_index = index_by_stem(image_dir) if image_dir is not None else {}
        issues = Issues(files["questions"])
        samples, types = [], []
        for q in questions:
            where = f"{files['questions']}: question id {q.get('id')}"
            for key in ("id", "img_id", "question", "type"):
                if key not in q:
                    raise AnnotationError(f"{where}: lacks {key!r}")
            if active_images is not None and q["img_id"] not in active_images:
                continue
            answer = next((by_id[i] for i in q.get("answers_ids", []) if i in by_id), None) or by_question.get(q["id"])
            if answer is None or "answer" not in answer:
                raise AnnotationError(f"{where}: no active answer in {files['answers'].name}")
            image = image_index.get(str(q["img_id"]))
            if image is None:
                issues.add("no_image", "questions have no image file (kept, without pixels)", where)
            if q["type"] not in types:
                types.append(q["type"])
            targets = {"question": str(q["question"]), "answer": str(answer["answer"]), "type": str(q["type"])}
            meta = {"img_id": q["img_id"]}
            before = image_index.get(f"{q['img_id']}_before")
            if before is not None:  # a change question's older date, beside its image (rsvision.datasets.questions)
                meta["before"] = before
            samples.append(Sample(str(q["id"]), image, targets, meta))
        if not samples:
            raise AnnotationError(f"{files['questions']}: no active questions")
        super().__init__(root, samples, sorted(types), split, issues.emit())
