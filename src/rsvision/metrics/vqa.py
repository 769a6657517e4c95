"""Visual question answering accuracy, overall and per question type (RSVQA style: exact match)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rsvision.errors import MetricInputError

_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize_answer(answer: Any) -> str:
    """Lowercase, strip and collapse inner whitespace; numbers become their text ("3")."""
    return _SPACES.sub(" ", str(answer).strip().lower())


def type_key(question_type: Any) -> str:
    """A question type as it appears in key names: lowercase, runs of other characters -> "_"."""
    key = _NON_WORD.sub("_", str(question_type).strip().lower()).strip("_")
    if not key:
        raise MetricInputError(f"question type {question_type!r} has no letters or digits")
    return key


class VQAMetric:
    """Exact-match accuracy after :func:`normalize_answer`.

    ``compute()`` gives ``accuracy`` (over all questions), ``accuracy_<type>`` per
    question type, ``average_accuracy`` (mean of the per-type accuracies, RSVQA's
    AA) when types were given, and ``per_class`` ``{type: {accuracy, correct, total}}``.
    """

    def __init__(self) -> None:
        self.correct = 0
        self.total = 0
        self._by_type: dict[str, list[int]] = {}

    def update(
        self, pred_answers: Sequence[Any], true_answers: Sequence[Any], question_types: Sequence[Any] | None = None
    ) -> None:
        """Add a batch of predicted answers, true answers and (optionally) their question types."""
        if isinstance(pred_answers, str) or isinstance(true_answers, str):
            raise MetricInputError("VQAMetric.update takes lists of answers, not a single string")
        if len(pred_answers) != len(true_answers):
            raise MetricInputError(f"{len(pred_answers)} predicted answers for {len(true_answers)} questions")
        if question_types is not None and len(question_types) != len(true_answers):
            raise MetricInputError(f"{len(question_types)} question types for {len(true_answers)} questions")
        types = [None] * len(true_answers) if question_types is None else [type_key(t) for t in question_types]
        for pred, true, qtype in zip(pred_answers, true_answers, types):
            hit = int(normalize_answer(pred) == normalize_answer(true))
            self.correct += hit
            self.total += 1
            if qtype is not None:
                counts = self._by_type.setdefault(qtype, [0, 0])
                counts[0] += hit
                counts[1] += 1

    def compute(self) -> dict[str, Any]:
        if self.total == 0:
            raise MetricInputError("VQAMetric.compute() called before any question was added")
        out: dict[str, Any] = {"accuracy": self.correct / self.total}
        per_type = {t: c / n for t, (c, n) in sorted(self._by_type.items())}
        for t, acc in per_type.items():
            out[f"accuracy_{t}"] = acc
        if per_type:
            out["average_accuracy"] = sum(per_type.values()) / len(per_type)
        out["per_class"] = {
            t: {"accuracy": c / n, "correct": c, "total": n} for t, (c, n) in sorted(self._by_type.items())
        }
        return out
