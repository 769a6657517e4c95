"""The tile grid of a run. The planning itself lives in :mod:`rsvision.io.tiles` (one tiler for ``io.tiles()`` and
the engine; io cannot import the engine); these names stay importable from here."""

from rsvision.io.tiles import TilePlan, spread_starts

__all__ = ["TilePlan", "spread_starts"]
