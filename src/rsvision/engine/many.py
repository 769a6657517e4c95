"""Many scenes at once on Dask: one delayed :func:`rsvision.engine.run` per scene."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

from rsvision.core.settings import available_cpus
from rsvision.engine.outputs import Destination
from rsvision.engine.run import RunResult, run
from rsvision.errors import RsvisionError
from rsvision.io import Scene
from rsvision.tasks.base import Predictor


def run_many(
    scenes: Sequence[Scene | str | PathLike],
    predictor: Predictor,
    outputs: Sequence[Destination | Sequence[Destination]],
    *,
    scenes2: Sequence[Scene | str | PathLike] | None = None,
    scheduler: str = "threads",
    num_workers: int | None = None,
    **options: Any,
) -> list[RunResult]:
    """Run ``predictor`` over every scene (and its ``scenes2`` partner for change) with ``dask.delayed``.

    ``scheduler`` is any Dask scheduler name (``threads``, ``processes``, ``synchronous``) or a distributed client's;
    ``options`` go to :func:`run` (each run is quiet). With threads, the CPUs are shared out between the workers.
    """
    try:
        import dask
    except ImportError:
        raise RsvisionError("run_many needs Dask: pip install 'rsvision[dask]'") from None
    if len(outputs) != len(scenes) or (scenes2 is not None and len(scenes2) != len(scenes)):
        raise ValueError(
            f"give one output (and one second scene) per scene: {len(scenes)} scenes, {len(outputs)} outputs"
        )
    workers = num_workers or min(len(scenes), available_cpus()) or 1
    options.setdefault("threads", max(1, available_cpus() // workers))
    options["quiet"] = True
    pairs = scenes2 if scenes2 is not None else [None] * len(scenes)
    tasks = [dask.delayed(run)(s, predictor, o, scene2=s2, **options) for s, s2, o in zip(scenes, pairs, outputs)]
    return list(dask.compute(*tasks, scheduler=scheduler, num_workers=workers))
