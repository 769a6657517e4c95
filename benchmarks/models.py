"""Training and inference throughput of candidate classifiers on the CPU (how the AID models were picked), and
the two built-in AID classifiers side by side: rsicd-test OA and images/s of the from-scratch ResNet and the
ImageNet-pretrained EfficientNet-Lite0.

Each candidate trains on random 150 px uint8 images through the real pipeline (D4, random resized crop to
128 px, colour jitter, AdamW step), batch 64, at ``--threads`` threads, float32 and bfloat16 autocast with
channels-last memory; the median of the timed steps after warm-up gives images/s. Inference: float32, eval
mode, batch 64. Figures depend on what else runs on the machine: run it on an idle one.

    .venv/bin/python benchmarks/models.py                 # resnet18 w0.5, resnet18, resnet34 w0.5, lite0/1/2
    .venv/bin/python benchmarks/models.py --steps 4       # quick
    .venv/bin/python benchmarks/models.py --aid ../shared/data/AID   # the built-in classifiers on rsicd-test
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from rsvision.bench.model_eval import evaluate_model
from rsvision.models import Preprocessing, build_model
from rsvision.models.inference import images_per_second
from rsvision.models.registry import build_from_weights
from rsvision.models.weights import builtin_weights
from rsvision.train.loop import TrainConfig, _forward, augment_batch, make_optimizer

CANDIDATES = [
    ("resnet18", {"width": 0.5}),
    ("resnet18", {}),
    ("resnet34", {"width": 0.5}),
    ("timm:efficientnet_lite0", {}),
    ("timm:efficientnet_lite1", {}),
    ("timm:efficientnet_lite2", {}),
]
BUILTIN = {"scratch": "aid_resnet18w05", "pretrained": "aid_efficientnet_lite0"}


def train_rate(arch: str, kwargs: dict, bf16: bool, steps: int, size: int = 128, batch: int = 64) -> float:
    torch.manual_seed(0)
    model = build_model(arch, 30, **kwargs)
    config = TrainConfig(bf16=bf16, channels_last=bf16)
    if bf16:
        model.to(memory_format=torch.channels_last)
    prep = Preprocessing(
        bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=[0.4] * 3, std=[0.2] * 3, input_size=size
    )
    opt = make_optimizer(model, config)
    gen = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (batch, 3, 150, 150), dtype=torch.uint8)
    y = torch.randint(0, 30, (batch,))
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        loss = F.cross_entropy(_forward(model, augment_batch(raw, prep, config, gen), config), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def builtin_on_aid(data: str, threads: int) -> dict:
    """rsicd-test OA (by the evaluator of ``rsvision eval``) and inference images/s (at each card's input size) of
    the from-scratch and the pretrained built-in AID classifiers, and the speed of the second over the first."""
    cards = builtin_weights()
    figures = {}
    for kind, name in BUILTIN.items():
        if name not in cards:
            print(f"{name}: not installed")
            continue
        card = cards[name]
        oa = evaluate_model("classification", data, name, split="rsicd-test")["overall_accuracy"]
        speed = images_per_second(build_from_weights(card), 3, card.input_size, threads=threads, seconds=10)
        print(f"{name:<26} rsicd-test OA {oa:.4f}   {speed:6.0f} images/s at {card.input_size} px")
        figures.update({f"aid_oa_{kind}": round(oa, 4), f"images_per_s_{kind}": round(speed, 1)})
    if "images_per_s_scratch" in figures and "images_per_s_pretrained" in figures:
        figures["speed_ratio"] = round(figures["images_per_s_pretrained"] / figures["images_per_s_scratch"], 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--aid", metavar="DATA", help="compare the built-in AID classifiers on DATA's rsicd-test")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    figures = {"bench": "models", "threads": args.threads}
    if args.aid:
        figures.update(builtin_on_aid(args.aid, args.threads))
        print(json.dumps(figures))
        return
    print(
        f"{'model':<22}{'train fp32':>12}{'train bf16+CL':>15}{'infer fp32':>12}   images/s at {args.threads} threads"
    )
    for arch, kwargs in CANDIDATES:
        name = arch.removeprefix("timm:") + (f"_w{kwargs['width']}" if "width" in kwargs else "")
        fp32 = train_rate(arch, kwargs, False, args.steps)
        bf16 = train_rate(arch, kwargs, True, args.steps)
        infer = images_per_second(build_model(arch, 30, **kwargs), 3, 128, threads=args.threads, seconds=5)
        print(f"{name:<22}{fp32:>12.0f}{bf16:>15.0f}{infer:>12.0f}")
        figures.update(
            {
                f"{name}_train_fp32": round(fp32, 1),
                f"{name}_train_bf16": round(bf16, 1),
                f"{name}_infer_fp32": round(infer, 1),
            }
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
