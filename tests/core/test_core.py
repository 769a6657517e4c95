"""Core helpers: progress bars only on a terminal, counted nouns, scoped torch threads."""

import io

import torch
from rich.console import Console

from rsvision.core.progress import plural, progress_bar
from rsvision.core.settings import torch_threads


def test_progress_bar_draws_nothing_off_a_terminal():
    buffer = io.StringIO()
    with progress_bar(console=Console(file=buffer, force_terminal=False)) as bar:
        task = bar.add_task("work", total=3)
        bar.advance(task, 3)
    assert buffer.getvalue() == ""
    assert progress_bar(console=Console(file=io.StringIO(), force_terminal=True)).disable is False
    assert progress_bar(enabled=False, console=Console(file=io.StringIO(), force_terminal=True)).disable is True


def test_plural():
    assert plural(1, "band") == "1 band" and plural(3, "band") == "3 bands" and plural(0, "tile") == "0 tiles"
    assert plural(1200, "image") == "1,200 images" and plural(2, "class", "classes") == "2 classes"


def test_torch_threads_are_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
