"""Atomic file helpers: every output is written beside its final name under a temporary one and renamed when
complete, so a killed job never leaves a half-written file under the final name and an existing output survives
until the new one is complete. Output folders must exist; the only folder rsvision makes is a work folder."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from rsvision.errors import OutputError


def temp_path_for(path: Path, tag: str = "partial") -> Path:
    return path.with_name(f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}{path.suffix}")


def check_writable(path: str | os.PathLike) -> Path:
    """The output path, after checking its folder exists and can be written, and that the path is not a folder.
    Output folders are never created: a missing one is an error."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {path}: folder {folder} is not writable")
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder")
    return path


def check_work_folder(path: str | os.PathLike) -> Path:
    """A folder a command owns for its intermediate files (caches, checkpoints): an existing writable folder,
    or a new one inside an existing writable folder (created here: the one folder rsvision makes itself)."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputError(f"cannot use {path} as the work folder: it is a file")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputError(f"cannot use {path} as the work folder: it is not writable")
        return path
    check_writable(path)
    try:
        path.mkdir()
    except OSError as err:
        raise OutputError(f"cannot create the work folder {path}: {err.strerror or err}") from None
    return path


def work_folder_of(weights: str | os.PathLike, work: str | os.PathLike | None = None) -> Path:
    """A training run's work folder: ``work``, default ``NAME.work`` beside the weights ``NAME.safetensors``."""
    return Path(work) if work else Path(weights).with_name(f"{Path(weights).stem}.work")


def check_weights_outputs(weights: str | os.PathLike, work: str | os.PathLike | None = None) -> Path:
    """The work folder of a training run (:func:`work_folder_of`), after checking the weights ``NAME.safetensors``,
    their card ``NAME.json`` and the work folder can all be written."""
    weights = Path(weights)
    if weights.suffix != ".safetensors":
        raise OutputError(f"-o {weights}: weights are written as NAME.safetensors (with NAME.json beside it)")
    check_writable(weights)
    check_writable(weights.with_suffix(".json"))
    return check_work_folder(work_folder_of(weights, work))


def claim_weights_outputs(weights: str | os.PathLike, work: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """:func:`check_weights_outputs`, and whether the work folder was made by this call (what
    :func:`removed_if_unused` needs to know)."""
    created = not work_folder_of(weights, work).exists()
    return check_weights_outputs(weights, work), created


@contextlib.contextmanager
def removed_if_unused(folder: Path, created: bool) -> Iterator[Path]:
    """Yield a run's work ``folder``; when the block fails and the folder is one this run ``created`` and still
    empty (a refused start: no checkpoint, no log), remove it, so a refused run leaves nothing behind. A folder
    holding a checkpoint stays for the next run to resume from."""
    try:
        yield folder
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only an empty folder goes
        raise


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block completes."""
    final = check_writable(path)
    tmp = temp_path_for(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as err:
        remove_partial(tmp)
        raise OutputError(f"cannot write {final}: {err.strerror or err}") from None
    except BaseException:
        remove_partial(tmp)
        raise


def remove_stale_partials(path: Path) -> int:
    """Remove what writers of ``path`` left under temporary names (:func:`temp_path_for`) when their process died
    (a killed worker): call it once ``path`` is complete and nothing else writes it. The number removed."""
    stale = list(path.parent.glob(f".{glob_escape(path.name)}.*-????????{glob_escape(path.suffix)}*"))
    for p in stale:
        remove_partial(p)
    return len(stale)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def remove_partial(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    for aux in (path.with_name(path.name + ".aux.xml"), path.with_name(path.name + ".ovr")):
        with contextlib.suppress(FileNotFoundError):
            aux.unlink()


def check_replaceable_folder(out: Path, is_ours: Callable[[str], bool], what: str) -> Path:
    """``out`` if a generated folder may be (re)placed there: its parent exists and is writable, and it is absent,
    empty, or holds only entries ``is_ours`` accepts (an earlier ``what``): any other folder is refused, never
    replaced."""
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        raise OutputError(f"cannot write {out}: folder {out.parent} does not exist or is not writable")
    if out.exists() and not out.is_dir():
        raise OutputError(f"cannot write {out}: it is a file")
    if out.is_dir():
        strange = [p.name for p in out.iterdir() if not is_ours(p.name)]
        if strange:
            raise OutputError(f"{out} holds other files than {what} ({strange[0]} ...); give an empty folder")
    return out


def publish_folder(work: Path, out: Path) -> None:
    """Rename the finished folder ``work`` onto ``out``; an earlier one is moved aside first and removed after."""
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    try:
        if out.exists():
            os.replace(out, old)
        os.replace(work, out)
    except OSError as err:
        if old.exists() and not out.exists():
            os.replace(old, out)  # the earlier one back where it was
        raise OutputError(f"cannot write {out}: {err.strerror or err}") from None
    shutil.rmtree(old, ignore_errors=True)


def safe_name(name: str) -> str:
    """A name for file names and ids: lower case, runs of other characters than letters and digits as one "-"
    (so ``_`` can separate the fields of an id)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
