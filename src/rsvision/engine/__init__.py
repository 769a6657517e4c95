"""Streaming execution: tile a scene with overlap, read ahead on threads, batch, predict, merge, write as it goes,
checkpoint so a killed job resumes; Dask for many scenes."""

from rsvision.engine.many import run_many
from rsvision.engine.plan import TilePlan
from rsvision.engine.run import RunResult, run

__all__ = ["RunResult", "TilePlan", "run", "run_many"]
