"""Streaming execution: tile a scene with overlap, read ahead on threads, batch, predict, merge, write as it goes,
checkpoint so a killed job resumes; Dask for many scenes. Each kind of predictor output brings its splitting,
merging and sinks through :class:`OutputKind`."""

from rsvision.engine.classmap import ClassMap
from rsvision.engine.many import run_many
from rsvision.engine.outputs import OutputKind, Probabilities, output_kind
from rsvision.engine.run import RunResult, run
from rsvision.io.tiles import TilePlan

__all__ = ["ClassMap", "OutputKind", "Probabilities", "RunResult", "TilePlan", "output_kind", "run", "run_many"]
