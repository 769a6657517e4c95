"""Resume a killed run: a sidecar folder beside the output holds the state at the last finished tile row.

``.OUT.resume/`` holds ``state.json`` (fingerprint, next tile row, counters), ``state-NNNNNN.npz`` (what crosses the
row boundary: the dense carry, or the boxes and records so far) and, for rasters, their staging GeoTIFFs. A run
with several outputs keeps one sidecar, beside the first. The npz is
written first under a new name and ``state.json`` replaced atomically after it, so the state on disk is always a
complete one. A sidecar made for other inputs or settings (another fingerprint) is discarded, never reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

import rsvision
from rsvision.errors import OutputError
from rsvision.io import Scene

_VERSION = 2  # 2: raster outputs staged in parts (the rows staged are part of the state)


def scene_fingerprint(scene: Scene) -> dict[str, Any]:
    """What identifies a scene's pixels: path, file size and modification time, grid, bands and dtype."""
    info: dict[str, Any] = {
        "path": os.path.abspath(scene.path),
        "grid": [str(scene.crs), tuple(scene.transform)[:6], scene.width, scene.height],
        "bands": scene.band_names,
        "dtype": scene.dtype,
        "nodata": repr(scene.nodata),
    }
    if os.path.isfile(scene.path):
        st = os.stat(scene.path)
        info["file"] = [st.st_size, st.st_mtime_ns]
    return info


def run_fingerprint(**parts: Any) -> str:
    text = json.dumps({"rsvision": rsvision.__version__, **parts}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


class Checkpoint:
    """The resume sidecar of one output file."""

    def __init__(self, output: Path, fingerprint: str):
        self.output, self.fingerprint = output, fingerprint
        self.folder = output.with_name(f".{output.name}.resume")

    def staging_for(self, path: Path) -> Path:
        """Where a raster output stages while the run goes on (one file per output, in the sidecar folder)."""
        return self.folder / f"stage-{Path(path).name}"

    def load(self) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """The saved state and arrays when a checkpoint for this fingerprint exists; otherwise clear any other."""
        try:
            state = json.loads((self.folder / "state.json").read_text())
            if state.get("version") != _VERSION or state.get("fingerprint") != self.fingerprint:
                raise ValueError("another run's checkpoint")
            with np.load(self.folder / state["arrays"], allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, KeyError):
            self.clear()
            return None
        return state, arrays

    @property
    def saved(self) -> bool:
        """Whether a state has been recorded (so a stopped run can resume)."""
        return (self.folder / "state.json").exists()

    def start(self) -> None:
        """Begin afresh: an empty sidecar folder."""
        self.clear()
        try:
            self.folder.mkdir()
        except OSError as err:
            raise OutputError(f"cannot write {self.output}: {err.strerror or err}") from None

    def save(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Record a consistent state: arrays first, then the JSON that points at them (replaced atomically)."""
        name = f"state-{int(state['next_row']):06d}.npz"
        tmp_json = self.folder / "state.json.tmp"
        try:
            with open(self.folder / name, "wb") as f:
                np.savez(f, **arrays)
            tmp_json.write_text(
                json.dumps({**state, "version": _VERSION, "fingerprint": self.fingerprint, "arrays": name})
            )
            os.replace(tmp_json, self.folder / "state.json")
        except OSError as err:
            raise OutputError(f"cannot write {self.output}: {err.strerror or err}") from None
        for old in self.folder.glob("state-*.npz"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
