"""Matching prediction names (paths, file names, ids) to dataset samples."""

import pytest

from rsvision.bench.match import SampleIndex, name_parts
from rsvision.errors import MetricInputError

IDS = ["Airport/a_1.jpg", "Beach/b_1.jpg", "Beach/x.jpg", "Port/x.jpg"]


def _index():
    return SampleIndex(IDS, [[name_parts(i)] for i in IDS])


def test_paths_absolute_relative_and_file_names():
    names = ["/data/AID/Airport/a_1.jpg", "b_1.jpg", "Beach/x.jpg", r"C:\AID\Port\x.jpg"]
    assert _index().assign(names, "p.csv") == [0, 1, 2, 3]


def test_file_name_of_two_folders_is_ambiguous():
    with pytest.raises(MetricInputError, match=r"p.csv: 'x.jpg' fits 2 samples \(Beach/x.jpg, Port/x.jpg\)"):
        _index().assign(["x.jpg"], "p.csv", require_all=False)


def test_unknown_duplicate_and_missing_are_counted():
    with pytest.raises(MetricInputError, match=r"2 predictions name no sample of the dataset \(first: c.jpg, d.jpg\)"):
        _index().assign(["c.jpg", "a_1.jpg", "d.jpg"], "p.csv")
    with pytest.raises(MetricInputError, match="'a_1.jpg' and 'Airport/a_1.jpg' are both predictions for sample"):
        _index().assign(["a_1.jpg", "Airport/a_1.jpg"], "p.csv")
    missing = r"3 of 4 samples have no prediction \(first: Beach/b_1.jpg, Beach/x.jpg, Port/x.jpg\)"
    with pytest.raises(MetricInputError, match=missing):
        _index().assign(["a_1.jpg"], "p.csv")
    assert _index().assign(["a_1.jpg"], "p.csv", require_all=False) == [0]


def test_several_keys_per_sample():
    index = SampleIndex(["paris"], [[("paris",), ("paris-cm",)]])
    assert index.assign(["paris/cm/paris-cm"], "preds") == [0]
    assert index.assign(["paris"], "preds") == [0]
