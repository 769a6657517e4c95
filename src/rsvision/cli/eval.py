"""`rsvision eval TASK --data PATH [--format F] [--split S] [--split-file FILE] (--predictions PRED | -m MODEL)
[--json OUT]`, `rsvision eval probe --data FOLDER [-m MODEL] [--json OUT]`, `rsvision eval robustness TASK --data PATH
[-m MODEL] [--corruptions all|a,b] [--severities 1-5] [--limit N] [--plot OUT.png]` and `rsvision eval preprocessing
TASK --data PATH [-m MODEL] [--limit N]`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from rsvision.bench import (
    evaluate_change_method,
    evaluate_model,
    evaluate_predictions,
    metrics_json,
    open_task_dataset,
    probe,
    write_metrics_json,
)
from rsvision.cli.app import QUIET, SCALES, app, parse_scales, report, say, set_quiet
from rsvision.core.progress import plural
from rsvision.errors import EvaluationError


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _empty(values: dict[str, Any]) -> bool:
    """Nothing to show: every value is NaN or 0 (as for a class without ground truth or predictions)."""
    return all(isinstance(v, (int, float)) and (v == 0 or v != v) for v in values.values())


def _print_nested(result: dict[str, Any], console: Console) -> None:
    """Dicts of numbers (a study's variants) as one-row tables, dicts of such dicts (a corruption x severity table)
    as row x column tables; ``per_class`` is printed apart."""
    for key, value in result.items():
        if key == "per_class" or not isinstance(value, dict) or not value:
            continue
        rows = value if all(isinstance(v, dict) for v in value.values()) else {"": value}
        if not all(isinstance(x, (int, float)) for row in rows.values() for x in row.values()):
            continue
        if len(rows) == 1 and len(value) > 6:  # a long list of numbers: one per line
            rows = {k: {"": v} for k, v in value.items()}
        columns = list(dict.fromkeys(c for row in rows.values() for c in row))
        table = Table(key, *columns, box=None, padding=(0, 1))
        for name, row in rows.items():
            table.add_row(str(name), *(_fmt(row.get(c, "")) for c in columns))
        console.print(table)


def print_metrics(result: dict[str, Any], title: str, console: Console | None = None) -> None:
    """The scalar keys as one table, then ``per_class`` (if any) as a class x metric table."""
    console = console or Console()
    console.print(title, style="bold", markup=False, highlight=False, soft_wrap=True)
    table = Table("metric", "value", box=None, padding=(0, 1))
    for key, value in result.items():
        if isinstance(value, (int, float)):
            table.add_row(key, _fmt(value))
    console.print(table)
    _print_nested(result, console)
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


TWO_STAGE = "two-stage"
LANGUAGE_WORKFLOWS = ("vqa", "grounding")  # answered by the toolkit's models in a workflow, not one network


def _run_workflow(task, data, format, split, split_file, model, open_vocabulary: bool, progress: bool):
    """``eval vqa`` (the two-stage answerer), ``eval grounding`` (the grounder) and ``eval detection
    --open-vocabulary``: what a workflow composes from several models."""
    dataset = open_task_dataset(task, data, format, split, split_file)
    if open_vocabulary:
        if task != "detection":
            raise EvaluationError("--open-vocabulary applies to eval detection alone")
        from rsvision.workflows.detect import evaluate_open_vocabulary  # deferred: torch

        return evaluate_open_vocabulary(
            dataset, model=model, progress=progress
        ), f"detection: open vocabulary on {data}"
    if task == "vqa":
        from rsvision.workflows.ask import evaluate_two_stage

        return evaluate_two_stage(dataset, progress=progress), f"vqa: two-stage answerer on {data}"
    from rsvision.workflows.ground import evaluate_grounder

    return evaluate_grounder(dataset, progress=progress), f"grounding: built-in grounder on {data}"


STUDY_TASKS = {
    "robustness": ("classification", "segmentation", "change", "detection"),
    "preprocessing": ("classification", "segmentation"),
}
STUDIES = tuple(STUDY_TASKS)


def _run_study(kind, task, data, model, format, split, split_file, corruptions, severities, limit, seed, progress):
    """``eval robustness TASK`` and ``eval preprocessing TASK``: the result and its title."""
    if task is None:
        raise EvaluationError(f"eval {kind} needs the task studied: rsvision eval {kind} classification --data ...")
    if task not in STUDY_TASKS[kind]:
        raise EvaluationError(f"eval {kind} takes {', '.join(STUDY_TASKS[kind])}; not {task!r}")
    # deferred: matplotlib and the corruptions load only for a study
    from rsvision.bench.model_eval import task_evaluator
    from rsvision.bench.preprocessing import preprocessing_study, study_model
    from rsvision.bench.robustness import every_nth, parse_corruptions, parse_severities, robustness_table

    names, levels = parse_corruptions(corruptions), parse_severities(severities)  # checked before any model loads
    dataset = every_nth(open_task_dataset(task, data, format, split, split_file), limit)
    if len(dataset) == 0:
        raise EvaluationError(f"{dataset.root}: the dataset holds no samples to score")
    title = f"{kind} of {task}: model {model or 'built-in default'} on {data} ({len(dataset)} samples)"
    if kind == "robustness":
        evaluate = task_evaluator(task, model, dataset)
        return robustness_table(task, evaluate, dataset, names, levels, seed=seed, progress=progress), title
    return preprocessing_study(task, study_model(task, model), dataset, progress=progress), title


@app.command("eval")
def eval_command(
    task: str = typer.Argument(
        ...,
        help="classification, detection, segmentation, change, retrieval, captioning, vqa or grounding; or probe "
        "(linear probe and k-NN of a backbone's features on an image-folder dataset); or robustness TASK "
        "(the score under corruptions) or preprocessing TASK (under other input sizes, resampling, normalisation).",
    ),
    study_task: str | None = typer.Argument(
        None, help="eval robustness / preprocessing: the task studied (classification, segmentation, ...)."
    ),
    data: Path = typer.Option(..., "--data", help="Dataset path (or a registered name such as dota8)."),
    format: str | None = typer.Option(
        None, "--format", help="Dataset layout (voc, dota, coco, ...); guessed when omitted."
    ),
    split: str | None = typer.Option(None, "--split", help="A split the format knows (AID: rsicd-train, rsicd-test)."),
    split_file: Path | None = typer.Option(None, "--split-file", help="A file listing the samples of the split."),
    predictions: Path | None = typer.Option(
        None, "--predictions", help="Predictions in the dataset's result format (see docs/eval.md)."
    ),
    model: str | None = typer.Option(
        None,
        "-m",
        "--model",
        help="Run this model (without -m and --predictions: the built-in default) instead of reading --predictions: "
        "a name of `rsvision models`, a NAME.safetensors file, or timm:NAME:PATH / torchgeo:ARCH:PATH / "
        "imagenet:ARCH. eval probe uses the default classifier when omitted.",
    ),
    method: str | None = typer.Option(
        None, "--method", help="eval change: an unsupervised method instead of a model (cva, irmad, pcakmeans)."
    ),
    tta: bool = typer.Option(
        False,
        "--tta",
        help="Classification, retrieval, segmentation, change: average each image's flips and quarter turns.",
    ),
    coregister: bool | None = typer.Option(
        None,
        "--coregister/--no-coregister",
        help="eval change on OSCD: move each second date onto the first by the sub-pixel shift its pixels show "
        "(default: as the model was trained; off for --method).",
    ),
    zero_shot: bool = typer.Option(
        False,
        "--zero-shot",
        help="eval classification: classify by a dual encoder (-m, default the built-in one) into the dataset's "
        "folder names made into words (BaseballField -> baseball field), with no training.",
    ),
    scales: str | None = SCALES,
    open_vocabulary: bool = typer.Option(
        False,
        "--open-vocabulary",
        help="eval detection: detect the dataset's class names with the dual encoder (rsvision detect --classes).",
    ),
    batch: int = typer.Option(64, "--batch", min=1, help="With -m: images per batch."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Write the metrics as JSON (NaN as null) to this file; '-' prints JSON instead of tables."
    ),
    corruptions: str | None = typer.Option(None, "--corruptions", help="eval robustness: all, or names a,b,..."),
    severities: str | None = typer.Option(None, "--severities", help="eval robustness: 1-5 (default), 3, or 1,3,5."),
    plot: Path | None = typer.Option(None, "--plot", help="eval robustness: a heat map of the table (PNG)."),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="eval robustness / preprocessing: at most N samples, evenly spread."
    ),
    seed: int = typer.Option(0, "--seed", help="eval robustness: the corruptions' seed."),
    quiet: bool = QUIET,
) -> None:
    """Score predictions made elsewhere (--predictions) or run a model (-m) on a dataset; or probe features.

    `eval probe` measures a backbone's pooled features by linear probe and k-NN (docs/classification.md)."""

    set_quiet(quiet)
    progress = not quiet and (json_out is None or str(json_out) != "-")
    if zero_shot and (task != "classification" or predictions is not None or method is not None):
        raise EvaluationError("--zero-shot applies to eval classification alone, running a dual encoder (-m)")
    if task in STUDIES:
        if predictions is not None or method is not None or zero_shot or open_vocabulary:
            raise EvaluationError(f"eval {task} runs a model (-m, or the built-in one); it takes no --predictions")
        result, title = _run_study(
            task, study_task, data, model, format, split, split_file, corruptions, severities, limit, seed, progress
        )
        if plot is not None and task == "robustness":
            from rsvision.bench.robustness import plot_robustness  # deferred: matplotlib

            say(f"heat map: {plot_robustness(result, plot, title)}")
    elif study_task is not None:
        raise EvaluationError(
            f"eval {task} takes one task; a second ({study_task!r}) goes with robustness or preprocessing"
        )
    elif task == "probe":
        if predictions is not None:
            raise EvaluationError("eval probe runs a backbone (-m MODEL, or the default); --predictions does not apply")
        result = probe(data, model, format, split, split_file, batch_size=batch, progress=progress)
        title = f"probe: features of {result['model']} on {data}"
    elif method is not None:
        if task != "change" or predictions is not None or model is not None:
            raise EvaluationError("--method applies to eval change alone, without -m or --predictions")
        dataset = open_task_dataset(task, data, format, split, split_file)
        result = evaluate_change_method(dataset, method, progress=progress, coregister=coregister)
        title = f"change: method {method} on {data}"
    elif predictions is not None and model is not None:
        raise EvaluationError(
            f"eval {task}: give --predictions PRED (results made elsewhere) or -m MODEL (run a model), not both"
        )
    elif predictions is None and (open_vocabulary or (task in LANGUAGE_WORKFLOWS and model in (None, TWO_STAGE))):
        result, title = _run_workflow(task, data, format, split, split_file, model, open_vocabulary, progress)
    elif predictions is None:  # run -m MODEL, or the task's built-in default model
        result = evaluate_model(
            task,
            data,
            model,
            format,
            split,
            split_file,
            tta=tta,
            scales=parse_scales(scales),
            batch_size=batch,
            progress=progress,
            zero_shot=zero_shot,
            coregister=coregister,
        )
        how = f"{' zero-shot' if zero_shot else ''}{' with D4 TTA' if tta else ''}"
        how += f" at scales {scales}" if scales else ""
        title = f"{task}: model {model or 'built-in default'}{how} on {data}"
    else:
        result = evaluate_predictions(task, data, predictions, format=format, split=split, split_file=split_file)
        title = f"{task}: {predictions} on {data}"
    failed = result.get("failed") or []
    for item in failed[:20]:
        report(f"skipped {item['sample']}: {item['reason']}")
    if failed:
        more = f" ({len(failed) - 20} more in the JSON)" if len(failed) > 20 else ""
        say(f"{plural(len(failed), 'image')} could not be used and are not scored{more}")
    if result.get("other_class_predictions"):
        say(
            f"note: {plural(result['other_class_predictions'], 'prediction')} name classes the dataset does not "
            "have; they count as wrong (class '(other)')"
        )
    if json_out is not None and str(json_out) == "-":
        print(metrics_json(result))
        return
    if json_out is not None:
        write_metrics_json(json_out, result)
    print_metrics(result, title)
