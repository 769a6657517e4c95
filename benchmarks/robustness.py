"""How the shipped models hold up under corruptions: the AID classifier and the land-cover model at one severity.

- ``aid_mean_drop``: the built-in classifier (``aid_efficientnet_lite0``) on AID's ``rsicd-test`` images
  (``--aid-limit`` of them, evenly spread, all by default), overall accuracy clean and under each of the 14
  corruptions at ``--severity`` (3), the mean relative drop; ``aid_seconds`` the whole table's time.
- ``landcover_mean_drop``: the built-in land-cover model (``dubai_landcover_fpn``) on Dubai tile 7, mIoU, the same.

The same tables as ``rsvision eval robustness classification --data ../shared/data/AID --split rsicd-test
--severities 3`` and ``rsvision eval robustness segmentation --data ../shared/data/dubai_segmentation --split "Tile 7"
--severities 3`` (seed 0). Each table is printed, then one JSON line of the figures.

    nice -n 19 .venv/bin/python benchmarks/robustness.py
    nice -n 19 .venv/bin/python benchmarks/robustness.py --aid-limit 300 --landcover-limit 3   # quicker
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rsvision.bench import open_task_dataset
from rsvision.bench.corruptions import corruption_names
from rsvision.bench.model_eval import task_evaluator
from rsvision.bench.robustness import every_nth, robustness_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def table(task: str, data: Path, split: str | None, limit: int | None, severity: int) -> dict:
    dataset = every_nth(open_task_dataset(task, data, None, split, None), limit)
    evaluate = task_evaluator(task, None, dataset)
    result = robustness_table(task, evaluate, dataset, corruption_names(), [severity], progress=True)
    cells = {name: round(row[str(severity)], 4) for name, row in result["table"].items()}
    print(f"{task} on {data} ({len(dataset)} samples): {result['metric']} clean {result['clean']:.4f}", flush=True)
    print(json.dumps(cells), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--severity", type=int, default=3)
    parser.add_argument("--aid-limit", type=int, default=None)
    parser.add_argument("--landcover-limit", type=int, default=None)
    args = parser.parse_args()
    aid = table("classification", args.data / "AID", "rsicd-test", args.aid_limit, args.severity)
    land = table("segmentation", args.data / "dubai_segmentation", "Tile 7", args.landcover_limit, args.severity)
    figures = {
        "severity": args.severity,
        "aid_images": aid["n_samples"],
        "aid_clean": round(aid["clean"], 4),
        "aid_mean_drop": round(aid["mean_relative_drop"], 4),
        "aid_seconds": aid["seconds"],
        "landcover_images": land["n_samples"],
        "landcover_clean": round(land["clean"], 4),
        "landcover_mean_drop": round(land["mean_relative_drop"], 4),
        "landcover_seconds": land["seconds"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
