"""Segmentation models on the land-cover recipes' validation part (Dubai tiles 1-6, each tile's
``image_part_009``), plain and with test-time augmentation, as ``rsvision eval segmentation`` scores images: the
figures that choose between models and inference settings without reading tile 7.

    .venv/bin/python benchmarks/segmentation_validation.py -m dubai_landcover_fpn -m A.safetensors+B.safetensors
    .venv/bin/python benchmarks/segmentation_validation.py -m dubai_landcover_fpn --modes plain,tta,tta-scales
    .venv/bin/python benchmarks/segmentation_validation.py -m dubai_landcover_fpn --modes tta --scales 0.5,0.75,1

Prints one line per model and mode (mIoU, per-class IoU, seconds), then one JSON line of them all.
"""

from __future__ import annotations

import argparse
import json
import time

from rsvision.bench.model_eval import evaluate_segmenter
from rsvision.cli.app import parse_scales
from rsvision.datasets.masks import DUBAI_COLORS
from rsvision.datasets.registry import open_dataset
from rsvision.errors import RsvisionError
from rsvision.models.resolve import resolve_model
from rsvision.train.recipes.dubai import TRAIN_TILES, VAL_IMAGE

MODES = {"plain": {}, "tta": {"tta": True}, "tta-scales": {"tta": True, "scales": (0.75, 1.0, 1.25)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/dubai_segmentation")
    parser.add_argument("-m", "--model", action="append", required=True, help="any -m form; repeat for several")
    parser.add_argument("--modes", default="plain,tta,tta-scales", help=f"of {', '.join(MODES)}")
    parser.add_argument("--scales", action="append", default=[], help="also --tta over these scales; repeatable")
    args = parser.parse_args()
    modes = {name: MODES[name] for name in args.modes.split(",")}
    for text in args.scales:  # parsed as `eval segmentation --scales` parses them
        try:
            modes[f"tta-scales {text}"] = {"tta": True, "scales": parse_scales(text)}
        except RsvisionError as error:
            parser.error(str(error))
    dataset = open_dataset(args.data, "color-mask", split=",".join(TRAIN_TILES), colors=DUBAI_COLORS)
    val = dataset.subset([i for i, s in enumerate(dataset) if s.id.endswith(VAL_IMAGE)])
    rows = []
    for spec in args.model:
        loaded = resolve_model(spec)
        for mode, options in modes.items():
            started = time.perf_counter()
            scores = evaluate_segmenter(loaded, val, **options)
            ious = {c: round(v["iou"], 4) for c, v in scores["per_class"].items()}
            row = {"model": spec, "mode": mode, "miou": round(scores["miou"], 4), "iou": ious}
            rows.append({**row, "seconds": round(time.perf_counter() - started, 1)})
            print(f"{spec} {mode}: mIoU {row['miou']:.4f} {ious} ({rows[-1]['seconds']} s)", flush=True)
    print(json.dumps({"images": len(val), "results": rows}))


if __name__ == "__main__":
    main()
