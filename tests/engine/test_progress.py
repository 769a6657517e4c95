"""The summary line's peak memory is the process's own."""

import subprocess
import sys

import numpy as np
import pytest

from rsvision.engine.progress import peak_rss_mb

CHILD = "from rsvision.engine.progress import peak_rss_mb; print(peak_rss_mb())"


@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM and exec's carried ru_maxrss are Linux's")
def test_a_command_started_by_a_large_process_reports_its_own_peak():
    held = np.ones(768 * 2**20 // 8)  # 768 MB touched here, never in the child
    parent = peak_rss_mb()
    child = float(subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout)
    assert held.sum() > 0 and parent > 768
    assert 0 < child < parent - 512  # getrusage's ru_maxrss carried the parent's peak over exec (Linux)
