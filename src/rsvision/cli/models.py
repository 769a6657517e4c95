"""`rsvision models [--json]`: the built-in weights and the metrics measured for them (read from their cards,
without torch)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console

from rsvision.cli.app import QUIET, app, set_quiet
from rsvision.models.weights import builtin_weights

SHOWN_METRICS = ("overall_accuracy", "kappa", "miou", "f1", "map50", "mean_recall", "cider", "bleu4", "accuracy")


def _short(value: Any, limit: int = 60) -> str:
    """A card value as one short word: a vocabulary, an answer list or a digest is cut (``--json`` has them whole)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


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
    quiet: bool = QUIET,
) -> None:
    """List the built-in weights: architecture, bands, input size, classes and measured metrics."""
    set_quiet(quiet)
    records = [describe(w) for w in builtin_weights().values()]
    if as_json:
        print(json.dumps(records, indent=2))
        return
    console = Console()
    if not records:
        console.print("no built-in weights are installed", highlight=False)
    for r in records:  # one line per model, then one per measured split: readable at any terminal width
        kwargs = "".join(f" {k}={_short(v)}" for k, v in r["architecture_kwargs"].items())
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
