"""An ``rsvision`` command in a child process, and that child's own peak memory.

A child's ``getrusage`` figure would carry the benchmark's own peak over exec (Linux keeps the larger), so the child
runs the command through this file and prints its own peak (``rsvision.engine.progress.peak_rss_mb``) as its last
line of standard output.
"""

from __future__ import annotations

import json
import subprocess
import sys

from rsvision.cli import main as rsvision
from rsvision.engine.progress import peak_rss_mb


def run_rsvision(argv: list[str]) -> float:
    """Run ``rsvision ARGV`` in a child process (raising if it fails); its own peak RSS in MB."""
    printed = subprocess.run([sys.executable, __file__, *argv], check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(printed.strip().splitlines()[-1])["peak_rss_mb"]


if __name__ == "__main__":
    try:
        rsvision(sys.argv[1:])
    finally:
        print(json.dumps({"peak_rss_mb": peak_rss_mb()}))
