"""Scoped settings: each changes process-wide state only inside a ``with`` block and restores it after, so a
library call never leaves the caller's torch threads changed."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


def available_cpus() -> int:
    """CPUs this process may run on (its affinity on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(threads: int | None, inference: bool = False) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` inside the block (None: left as they are), and with
    ``inference`` torch's inference mode. Only when torch is in use: code that runs a torch model has imported it
    by then, and numpy-only work does not pay seconds for importing it."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    previous = torch.get_num_threads()
    if threads and threads != previous:
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode() if inference else contextlib.nullcontext():
            yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
