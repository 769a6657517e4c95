"""Metric dicts as JSON: NaN and infinities become ``null``, numpy values plain numbers; written atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from rsvision.core.files import atomic_output


def jsonable(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps(..., allow_nan=False)`` accepts: NaN / inf -> None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def metrics_json(result: dict[str, Any]) -> str:
    """The metric dict as indented JSON text (NaN written as null)."""
    return json.dumps(jsonable(result), indent=2, allow_nan=False)


def write_metrics_json(path: str | os.PathLike, result: dict[str, Any]) -> Path:
    """Write the metric dict to ``path`` atomically (a reader never sees half a file)."""
    path = Path(path)
    text = metrics_json(result) + "\n"
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
