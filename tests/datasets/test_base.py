"""Shared pieces: Issues summaries, image reading, samples and subsets."""

import warnings

import numpy as np
import pytest
from PIL import Image

from rsvision.datasets.base import Dataset, Issues, Sample
from rsvision.errors import AnnotationWarning, InputNotFoundError, UnreadableRasterError
from rsvision.io.images import image_size, read_image


def test_issues_warn_once_per_kind_with_counts():
    issues = Issues("data/x")
    for i in range(5):
        issues.add("clipped", "boxes were clipped", f"a.txt:{i + 1}")
    issues.add("missing", "names were skipped", "list.txt: b", n=3)
    issues.add("nothing", "never counted", "z", n=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        counts = issues.emit()
    assert counts == {"clipped": 5, "missing": 3}
    assert [str(w.message) for w in caught] == [
        "data/x: 5 boxes were clipped (first: a.txt:1)",
        "data/x: 3 names were skipped (first: list.txt: b)",
    ]
    assert all(w.category is AnnotationWarning for w in caught)


def test_read_image_modes(tmp_path):
    pal = Image.fromarray(np.array([[0, 1]], dtype=np.uint8), mode="P")
    pal.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    pal.save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png")[:, 0, 1].tolist() == [40, 50, 60]
    Image.fromarray(np.array([[7, 8]], dtype=np.uint8)).save(tmp_path / "g.png")
    assert read_image(tmp_path / "g.png").shape == (1, 1, 2)
    assert image_size(tmp_path / "g.png") == (2, 1)
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(UnreadableRasterError, match="bad.jpg"):
        read_image(tmp_path / "bad.jpg")
    with pytest.raises(InputNotFoundError, match="no such image"):
        read_image(tmp_path / "none.png")


def test_dataset_sequence_and_subset(tmp_path):
    samples = [Sample(str(i), None, {"label": i % 2}) for i in range(5)]
    ds = Dataset(tmp_path, samples, ["a", "b"])
    assert len(ds) == 5 and [s.id for s in ds] == list("01234")
    sub = ds.subset([4, 0])
    assert [s.id for s in sub] == ["4", "0"] and sub.classes == ("a", "b") and len(ds) == 5
    assert [s.id for s in ds[1:3]] == ["1", "2"]
    with pytest.raises(InputNotFoundError, match="sample 0 .* has no image"):
        ds.load_image(ds[0])
