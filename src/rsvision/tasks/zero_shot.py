"""Zero-shot classification as a task: the class names a user gives (a comma list or a file) and the words a
dataset's folder names stand for. The classifier itself is :func:`rsvision.models.zero_shot.zero_shot_classifier`,
an ordinary classifier, so the engine's :class:`~rsvision.tasks.classification.TileClassifier` is its predictor on
scenes. No torch here: the command line checks the class list before it loads a model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from rsvision.errors import InputNotFoundError, RsvisionError

_LETTER_PREFIX = re.compile(r"^[a-z](?=[A-Z][a-z])")  # RSSCN7's aGrass, bField, dRiverLake
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def folder_class_words(name: str) -> str:
    """A dataset's class folder name as the words a caption would use: ``BaseballField`` -> ``baseball field``,
    ``bare_land`` -> ``bare land``, ``dense-residential`` -> ``dense residential``, ``aGrass`` -> ``grass``."""
    text = _CAMEL.sub(" ", _LETTER_PREFIX.sub("", name.strip()))
    return " ".join(re.sub(r"[_\-]+", " ", text).split()).lower()


def parse_class_list(text: str) -> list[str]:
    """``"airport, forest,river"`` -> the names, stripped; empty entries are dropped (checked later)."""
    return [c.strip() for c in text.split(",") if c.strip()]


def read_class_file(path: str | os.PathLike) -> list[str]:
    """One class per line; blank lines and lines starting with ``#`` are skipped."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"no such class file: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise RsvisionError(f"{path}: not a text file of class names (one per line)") from None
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def check_classes(classes: Iterable[str], where: str) -> list[str]:
    """At least two distinct class names, or one line saying what is wrong (``where`` names the source)."""
    classes = list(classes)
    if not classes:
        raise RsvisionError(f'{where}: no class names (give two or more, e.g. "airport,forest,river")')
    if len(classes) == 1:
        raise RsvisionError(f"{where}: one class ({classes[0]}); zero-shot classification needs two or more")
    seen: set[str] = set()
    for c in classes:
        if c.lower() in seen:
            raise RsvisionError(f"{where}: class {c!r} is given twice")
        seen.add(c.lower())
    return classes


def zero_shot_classes(names: str | None, file: str | os.PathLike | None) -> list[str]:
    """The classes of ``--zero-shot NAMES`` or ``--zero-shot-file FILE`` (exactly one of them), checked."""
    if (names is None) == (file is None):
        raise RsvisionError('give the classes with --zero-shot "a,b,c" or with --zero-shot-file FILE, not both')
    if file is not None:
        return check_classes(read_class_file(file), str(file))
    return check_classes(parse_class_list(names or ""), "--zero-shot")
