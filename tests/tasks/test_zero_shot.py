"""Class names for zero-shot classification: folder names made into words, class lists and files, bad input."""

import pytest

from rsvision.errors import InputNotFoundError, RsvisionError
from rsvision.tasks.zero_shot import (
    check_classes,
    folder_class_words,
    parse_class_list,
    read_class_file,
    zero_shot_classes,
)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("aGrass", "grass"),
        ("dRiverLake", "river lake"),
        ("BaseballField", "baseball field"),
        ("bare_land", "bare land"),
        ("dense-residential", "dense residential"),
        ("StorageTanks", "storage tanks"),
        ("AnnualCrop", "annual crop"),
        ("airport", "airport"),
        ("ground_track_field", "ground track field"),
    ],
)
def test_folder_class_words(name, words):
    assert folder_class_words(name) == words


def test_class_list_and_file(tmp_path):
    assert parse_class_list(" airport, forest,,river ") == ["airport", "forest", "river"]
    path = tmp_path / "classes.txt"
    path.write_text("# scene classes\nairport\n\n  forest  \n# river\nbare land\n")
    assert read_class_file(path) == ["airport", "forest", "bare land"]
    assert zero_shot_classes(None, path) == ["airport", "forest", "bare land"]
    assert zero_shot_classes("a,b", None) == ["a", "b"]


@pytest.mark.parametrize(
    ("classes", "match"),
    [([], "no class names"), (["forest"], "needs two or more"), (["forest", "Forest"], "given twice")],
)
def test_bad_class_lists(classes, match):
    with pytest.raises(RsvisionError, match=match):
        check_classes(classes, "--zero-shot")


def test_bad_sources(tmp_path):
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(RsvisionError, match="no class names"):
        zero_shot_classes(None, tmp_path / "empty.txt")
    with pytest.raises(InputNotFoundError):
        zero_shot_classes(None, tmp_path / "missing.txt")
    with pytest.raises(RsvisionError, match="not both"):
        zero_shot_classes("a,b", tmp_path / "empty.txt")
