"""`rsvision models [--json]`: the built-in weights and the metrics measured for them (read from their cards,
without torch); `rsvision models --ensemble A+B -o OUT.safetensors` joins trained models into one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from rsvision.cli.app import QUIET, app, set_quiet
from rsvision.errors import OutputError
from rsvision.models.weights import builtin_weights

SHOWN_METRICS = ("overall_accuracy", "kappa", "miou", "f1", "map50", "mean_recall", "cider", "bleu4", "accuracy")


def _short(value: Any, limit: int = 60) -> str:
    """A card value as one short word: a vocabulary, an answer list or a digest is cut (``--json`` has them whole)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _shown_kwargs(record: dict[str, Any]) -> dict[str, Any]:
    """An ensemble's members by architecture (``--json`` has their settings whole); others' kwargs as they are."""
    kwargs = dict(record["architecture_kwargs"])
    if record["architecture"] == "ensemble":
        kwargs["members"] = "+".join(m["architecture"] for m in kwargs["members"])
    return kwargs


def describe(record) -> dict[str, Any]:
    """A weights card as the flat record `rsvision models --json` prints."""
    return {
        "name": record.name,
        "task": record.task,
        "architecture": record.architecture,
        "architecture_kwargs": record.architecture_kwargs,
        "bands": record.bands,
        "input_size": record.input_size,
        "gsd_m": record.gsd_m,
        "classes": len(record.classes),
        "metrics": [{"dataset": m.dataset, "split": m.split, **m.values} for m in record.metrics],
        "images_per_s_cpu": record.notes.get("images_per_s_cpu"),
        "file": str(record.weights_path),
        "licence": record.licence,
        "command": record.command,
    }


@app.command("models")
def models_command(
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
    ensemble: str = typer.Option(
        None, "--ensemble", help="Join models (names or files, A+B) into one: their mean prediction; needs -o."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="With --ensemble: the NAME.safetensors to write."),
    quiet: bool = QUIET,
) -> None:
    """List the built-in weights: architecture, bands, input size, classes and measured metrics."""
    set_quiet(quiet)
    if ensemble or output:
        save_joined(ensemble, output, quiet)
        return
    records = [describe(w) for w in builtin_weights().values()]
    if as_json:
        print(json.dumps(records, indent=2))
        return
    console = Console()
    if not records:
        console.print("no built-in weights are installed", highlight=False)
    for r in records:  # one line per model, then one per measured split: readable at any terminal width
        kwargs = "".join(f" {k}={_short(v)}" for k, v in _shown_kwargs(r).items())
        size = f"{r['input_size']} px" + (f" at {r['gsd_m']:g} m" if r["gsd_m"] else "")
        console.print(
            f"[bold]{r['name']}[/bold]  {r['task']}  {r['architecture']}{kwargs}  bands "
            f"{','.join(r['bands'])}  {size}  {r['classes']} classes",
            highlight=False,
            soft_wrap=True,
        )
        for m in r["metrics"]:
            values = ", ".join(f"{k} {m[k]:.4f}" for k in SHOWN_METRICS if k in m)
            if values:
                console.print(f"    {m['dataset']} {m['split']}: {values}", highlight=False, soft_wrap=True)
    if not quiet:
        console.print(
            "architectures for `rsvision train --arch`: see docs/models.md (or timm:<name>)",
            highlight=False,
            soft_wrap=True,
        )


def save_joined(spec: str | None, output: Path | None, quiet: bool) -> None:
    """``--ensemble A+B -o OUT.safetensors``: the joined models' file and card (no metrics: ``rsvision eval``
    measures it)."""
    from rsvision.models.ensemble import save_ensemble  # deferred: torch, which listing the cards never needs
    from rsvision.models.resolve import resolve_model

    if not spec or output is None or output.suffix != ".safetensors":
        raise OutputError("give --ensemble A+B and -o OUT.safetensors together")
    if "+" not in spec:
        raise OutputError(f"--ensemble {spec}: name two or more models joined by '+' (A+B)")
    if not output.parent.is_dir():
        raise OutputError(f"-o {output}: no such folder {output.parent}")
    joined = resolve_model(spec)
    record = save_ensemble(joined.weights, joined.module, output.parent, output.stem, metrics=[])
    if not quiet:
        Console(stderr=True).print(
            f"wrote {record.weights_path} ({len(joined.weights.notes['members'])} members, {record.task.value})",
            highlight=False,
            soft_wrap=True,
        )
