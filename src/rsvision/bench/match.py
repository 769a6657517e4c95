"""Match the names that predictions carry (paths, file names, ids) to the samples of a dataset.

A sample has one or more keys, each a tuple of path parts (``("Airport", "airport_1.jpg")``); a
prediction names it by a path whose trailing parts equal the trailing parts of a key. The longest
shared tail wins, so ``/data/AID/Airport/airport_1.jpg``, ``Airport/airport_1.jpg`` and
``airport_1.jpg`` all name the same sample, while a bare file name that two folders share is an error
asking for the folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from rsvision.errors import MetricInputError

Key = tuple[str, ...]


def name_parts(name: str) -> Key:
    """A path as given in a prediction (``/`` or ``\\`` separated) -> its parts."""
    return PurePosixPath(str(name).replace("\\", "/")).parts


def listed(names: Sequence[str], k: int = 3) -> str:
    """The first ``k`` names, comma separated, with "..." when there are more."""
    shown = ", ".join(str(n) for n in names[:k])
    return shown + (", ..." if len(names) > k else "")


class SampleIndex:
    """Sample keys indexed by every trailing run of their parts."""

    def __init__(self, ids: Sequence[str], keys: Sequence[Iterable[Key]]):
        self.ids = list(ids)
        self._tails: dict[Key, set[int]] = {}
        self._depth = 0
        for i, sample_keys in enumerate(keys):
            for key in sample_keys:
                self._depth = max(self._depth, len(key))
                for n in range(1, len(key) + 1):
                    self._tails.setdefault(tuple(key[-n:]), set()).add(i)

    def find(self, parts: Key, name: str, source: str) -> int | None:
        """The index of the sample ``parts`` names, None if none; a name that fits several is an error."""
        for n in range(min(len(parts), self._depth), 0, -1):
            hits = self._tails.get(tuple(parts[-n:]))
            if hits is None:
                continue
            if len(hits) > 1:
                which = sorted(self.ids[i] for i in hits)
                raise MetricInputError(
                    f"{source}: {name!r} fits {len(which)} samples ({listed(which)}); name it by its folder too"
                )
            return next(iter(hits))
        return None

    def assign(
        self, names: Sequence[str], source: str, what: str = "prediction", require_all: bool = True
    ) -> list[int]:
        """The sample index of each name. Names of no sample, two names of one sample, and (with
        ``require_all``) samples left without a name are errors that count them and list the first few."""
        out: list[int] = []
        unknown: list[str] = []
        owner: dict[int, str] = {}
        for name in names:
            i = self.find(name_parts(name), name, source)
            if i is None:
                unknown.append(name)
                continue
            if i in owner:
                raise MetricInputError(
                    f"{source}: {owner[i]!r} and {name!r} are both {what}s for sample {self.ids[i]!r}"
                )
            owner[i] = name
            out.append(i)
        if unknown:
            raise MetricInputError(
                f"{source}: {len(unknown)} {what}s name no sample of the dataset (first: {listed(unknown)})"
            )
        if require_all and len(owner) < len(self.ids):
            missing = [s for i, s in enumerate(self.ids) if i not in owner]
            raise MetricInputError(
                f"{source}: {len(missing)} of {len(self.ids)} samples have no {what} (first: {listed(missing)})"
            )
        return out
