"""``rsvision eval robustness TASK``: how far a model's score falls under image corruptions (REOBench's question).

The task's evaluation (:func:`rsvision.bench.model_eval.task_evaluator`, the model loaded once) runs on the clean
dataset, then on the same dataset with every image corrupted as it loads (:mod:`rsvision.bench.corruptions`), once
per corruption and severity. Each image gets its own seed (the run's seed and the sample's id), so a table is
reproducible and its rows see the same clouds, noise and dead pixels at every severity. The clean score is the plain
``eval``'s, computed the same way. The table holds the task's main metric; ``mean_relative_drop`` is the mean over
its cells of ``(clean - corrupted) / clean``.
"""

from __future__ import annotations

import copy
import textwrap
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from rsvision.bench.corruptions import corrupt, corruption_names
from rsvision.core.files import atomic_output
from rsvision.core.progress import progress_bar
from rsvision.datasets import Dataset
from rsvision.errors import EvaluationError

MAIN_METRIC = {"classification": "overall_accuracy", "segmentation": "miou", "change": "f1", "detection": "map50"}


def parse_corruptions(text: str | None) -> list[str]:
    """``all`` (or None) or comma-separated names, checked against the corruptions there are."""
    known = corruption_names()
    if text is None or text.strip() == "all":
        return list(known)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise EvaluationError(f"unknown corruption(s) {', '.join(unknown) or text!r}; use all or {', '.join(known)}")
    return names


def parse_severities(text: str | None) -> list[int]:
    """``1-5``, ``3`` or ``1,3,5``: severities from 1 to 5."""
    text = (text or "1-5").strip()
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            values = list(range(lo, hi + 1))
        else:
            values = sorted({int(v) for v in text.split(",")})
    except ValueError:
        values = []
    if not values or min(values) < 1 or max(values) > 5:
        raise EvaluationError(f"--severities {text!r}: give severities from 1 to 5, such as 1-5, 3 or 1,3,5")
    return values


def every_nth(dataset: Dataset, limit: int | None) -> Dataset:
    """At most ``limit`` samples, evenly spread over the dataset's order (every class of a class-sorted one)."""
    if not limit or limit >= len(dataset):
        return dataset
    return dataset.subset(np.linspace(0, len(dataset) - 1, limit).round().astype(int))


def corrupted(dataset: Dataset, name: str, severity: int, seed: int = 0) -> Dataset:
    """A shallow copy of ``dataset`` whose images are corrupted as they load, each with its own seed."""
    out = copy.copy(dataset)
    load = dataset.load_image

    def load_image(sample, which: int = 0) -> np.ndarray:
        image = np.ma.filled(load(sample, which), 0)  # a masked read: its fill, as the models see it
        own = (seed * 1_000_003 + zlib.crc32(f"{sample.id}/{which}".encode())) % 2**32
        return corrupt(image, name, severity, seed=own)

    out.load_image = load_image  # type: ignore[method-assign]
    return out


def robustness_table(
    task: str,
    evaluate: Callable[[Dataset], dict[str, Any]],
    dataset: Dataset,
    corruptions: Sequence[str],
    severities: Sequence[int],
    *,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """The task's main metric clean and under each corruption and severity (see the module's note)."""
    metric = MAIN_METRIC.get(task)
    if metric is None:
        raise EvaluationError(f"eval robustness takes {', '.join(MAIN_METRIC)}; not {task!r}")
    t0 = time.perf_counter()
    with progress_bar(enabled=progress) as bar:
        cells = bar.add_task(f"robustness of {task}: clean + {len(corruptions)} x {len(severities)}", total=None)
        clean = float(evaluate(dataset)[metric])
        bar.update(cells, total=1 + len(corruptions) * len(severities), completed=1)
        table: dict[str, dict[str, float]] = {}
        for name in corruptions:
            for s in severities:
                table.setdefault(name, {})[str(s)] = float(evaluate(corrupted(dataset, name, s, seed))[metric])
                bar.advance(cells)
    drops = [(clean - v) / clean for row in table.values() for v in row.values()] if clean else []
    return {
        "metric": metric,
        "clean": clean,
        "table": table,
        "mean_relative_drop": float(np.mean(drops)) if drops else float("nan"),
        "mean_relative_drop_by_corruption": {
            n: float(np.mean([(clean - v) / clean for v in row.values()])) if clean else float("nan")
            for n, row in table.items()
        },
        "severities": list(severities),
        "seed": seed,
        "n_samples": len(dataset),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def plot_robustness(result: dict[str, Any], path: str | Path, title: str) -> Path:
    """The table as a heat map (corruption x severity) of the metric, the clean score in the title."""
    names = list(result["table"])
    severities = [str(s) for s in result["severities"]]
    values = np.array([[result["table"][n][s] for s in severities] for n in names], dtype=float)
    fig = Figure(figsize=(max(6.0, 1.1 * len(severities) + 3), 0.36 * len(names) + 2.0))
    ax = fig.subplots()
    image = ax.imshow(
        values, cmap="magma", aspect="auto", vmin=0, vmax=max(result["clean"], float(np.nanmax(values)), 1e-9)
    )
    ax.set_xticks(range(len(severities)), severities)
    ax.set_yticks(range(len(names)), [n.replace("_", " ") for n in names], fontsize=8)
    ax.set_xlabel("severity")
    for i in range(len(names)):
        for j in range(len(severities)):
            v = values[i, j]
            ax.text(
                j,
                i,
                f"{v:.3f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if v < 0.6 * result["clean"] else "black",
            )
    clean, drop = result["clean"], result["mean_relative_drop"]
    subtitle = f"{result['metric']}: clean {clean:.3f}, mean relative drop {drop:.1%}"
    fig.suptitle(textwrap.fill(title, 80) + "\n" + subtitle, fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    with atomic_output(Path(path)) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return Path(path)
