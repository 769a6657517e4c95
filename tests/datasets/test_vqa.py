"""RSVQA question / answer / image JSON triplets (generated in the official layout)."""

import json

import pytest
from PIL import Image

from rsvision.datasets.vqa import RsvqaDataset
from rsvision.errors import AnnotationError, InputNotFoundError


def _write(root, questions, answers, images):
    (root / "Images_LR").mkdir(exist_ok=True)
    for i in (1, 2):
        Image.new("RGB", (4, 4)).save(root / "Images_LR" / f"{i}.png")
    for key, items in (("questions", questions), ("answers", answers), ("images", images)):
        (root / f"LR_split_test_{key}.json").write_text(json.dumps({key: items}))


QUESTIONS = [
    {"id": 0, "active": False},
    {"id": 10, "img_id": 1, "type": "presence", "question": "Is there a road?", "answers_ids": [100], "active": True},
    {"id": 11, "img_id": 1, "type": "count", "question": "How many buildings?", "answers_ids": [101], "active": True},
    {"id": 12, "img_id": 2, "type": "comp", "question": "More water than roads?", "answers_ids": [102], "active": True},
    {"id": 13, "img_id": 3, "type": "presence", "question": "Inactive image?", "answers_ids": [103], "active": True},
]
ANSWERS = [
    {"id": 100, "question_id": 10, "answer": "yes", "active": True},
    {"id": 101, "question_id": 11, "answer": "4", "active": True},
    {"id": 102, "question_id": 12, "answer": "no", "active": True},
    {"id": 103, "question_id": 13, "answer": "no", "active": True},
]
IMAGES = [{"id": 1, "active": True}, {"id": 2, "active": True}, {"id": 3, "active": False}]


def test_rsvqa_triplet(tmp_path):
    _write(tmp_path, QUESTIONS, ANSWERS, IMAGES)
    ds = RsvqaDataset(tmp_path, split="test")
    assert [s.id for s in ds] == ["10", "11", "12"]
    assert ds.classes == ("comp", "count", "presence")
    assert ds[1].targets == {"question": "How many buildings?", "answer": "4", "type": "count"}
    assert ds[2].image.name == "2.png" and ds[2].meta["img_id"] == 2
    same = RsvqaDataset(tmp_path / "LR_split_test_questions.json")
    assert [s.id for s in same] == [s.id for s in ds] and same.split == "test"


def test_rsvqa_errors(tmp_path):
    with pytest.raises(InputNotFoundError, match="no \\*_split_val_questions.json"):
        RsvqaDataset(tmp_path, split="val")
    _write(tmp_path, QUESTIONS[:2], [], IMAGES)
    with pytest.raises(AnnotationError, match="question id 10: no active answer"):
        RsvqaDataset(tmp_path)
    _write(tmp_path, [{"id": 5, "img_id": 1, "question": "?", "active": True}], ANSWERS, IMAGES)
    with pytest.raises(AnnotationError, match="question id 5: lacks 'type'"):
        RsvqaDataset(tmp_path)
