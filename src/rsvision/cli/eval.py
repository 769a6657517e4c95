"""`rsvision eval TASK --data PATH [--format F] [--split S] [--split-file FILE] --predictions PRED [--json OUT]`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from rsvision.cli import app


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _empty(values: dict[str, Any]) -> bool:
    """Nothing to show: every value is NaN or 0 (as for a class without ground truth or predictions)."""
    return all(isinstance(v, (int, float)) and (v == 0 or v != v) for v in values.values())


def print_metrics(result: dict[str, Any], title: str, console: Console | None = None) -> None:
    """The scalar keys as one table, then ``per_class`` (if any) as a class x metric table."""
    console = console or Console()
    console.print(title, style="bold", markup=False, highlight=False, soft_wrap=True)
    table = Table("metric", "value", box=None, padding=(0, 1))
    for key, value in result.items():
        if isinstance(value, (int, float)):
            table.add_row(key, _fmt(value))
    console.print(table)
    per_class = result.get("per_class")
    if per_class:
        columns = list(dict.fromkeys(k for values in per_class.values() for k in values))
        pc = Table(box=None, padding=(0, 1))
        pc.add_column("class", no_wrap=True)
        for c in columns:
            pc.add_column(c)
        shown = {name: values for name, values in per_class.items() if not _empty(values)}
        for name, values in shown.items():
            pc.add_row(str(name), *(_fmt(values.get(c, "")) for c in columns))
        console.print(pc)
        if len(shown) < len(per_class):
            console.print(f"({len(per_class) - len(shown)} classes whose values are all 0 or undefined not shown)")


@app.command("eval")
def eval_command(
    task: str = typer.Argument(
        ..., help="classification, detection, segmentation, change, retrieval, captioning, vqa or grounding."
    ),
    data: Path = typer.Option(..., "--data", help="Dataset path (or a registered name such as dota8)."),
    format: Optional[str] = typer.Option(
        None, "--format", help="Dataset layout (voc, dota, coco, ...); guessed when omitted."
    ),
    split: Optional[str] = typer.Option(
        None, "--split", help="A split the format knows (AID: rsicd-train, rsicd-test)."
    ),
    split_file: Optional[Path] = typer.Option(None, "--split-file", help="A file listing the samples of the split."),
    predictions: Path = typer.Option(
        ..., "--predictions", help="Predictions in the dataset's result format (see docs/eval.md)."
    ),
    json_out: Optional[Path] = typer.Option(
        None, "--json", help="Write the metrics as JSON (NaN as null) to this file; '-' prints JSON instead of tables."
    ),
) -> None:
    """Score predictions made elsewhere against a dataset, with the metrics of the task."""
    from rsvision.bench import evaluate_predictions, metrics_json, write_metrics_json

    result = evaluate_predictions(task, data, predictions, format=format, split=split, split_file=split_file)
    if json_out is not None and str(json_out) == "-":
        print(metrics_json(result))
        return
    if json_out is not None:
        write_metrics_json(json_out, result)
    print_metrics(result, f"{task}: {predictions} on {data}")
