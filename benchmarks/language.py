"""Vision-language II: captioning on RSICD test, VQA by both answerers on the generated held-out questions,
grounding on the generated referring expressions, and the two-stage answerer's time per question on CPU.

- ``cider``, ``bleu4``, ``meteor``: `rsvision eval captioning --data AID`'s figures of the built-in captioner on
  rsicd-test (1,027 images present of 1,093, 5 references each).
- ``vqa_two_stage`` / ``vqa_learned``: accuracy per question type (and ``accuracy``, ``average_accuracy``) on the
  ``test`` split of a set made by ``python -m rsvision.datasets.questions`` (Dubai tile 7, NEON's right strips, OSCD's
  abudhabi and beihai): the two-stage answerer (`rsvision eval vqa`) and the learned baseline
  (`rsvision eval vqa -m vqa_baseline`). ``--vqa-images N`` keeps the first N images' questions for both (quick).
- ``grounding_acc_at_0.5``, ``grounding_miou``: `rsvision eval grounding` on a set made by
  ``python -m rsvision.datasets.referring`` (dota8 val whole images, NEON test-strip crops), with per-source figures.
- ``seconds_per_question``: the two-stage answerer's wall time over its questions (facts are measured once per image
  and shared by its questions, as `eval vqa` does).

    python -m rsvision.datasets.questions --dubai ../shared/data/dubai_segmentation \\
        --neon ../shared/data/neon_trees --oscd ../shared/data/oscd --out runs/vqa_sets
    python -m rsvision.datasets.referring --dota ../shared/data/dota/dota8 --neon ../shared/data/neon_trees \\
        --out runs/grounding_set
    nice -n 19 .venv/bin/python benchmarks/language.py --data ../shared/data/AID --vqa runs/vqa_sets \\
        --grounding runs/grounding_set
"""

from __future__ import annotations

import argparse
import json
import time

from rsvision.bench.model_eval import evaluate_captioner, evaluate_vqa_model
from rsvision.core.settings import torch_threads
from rsvision.datasets.captions import RsicdDataset
from rsvision.datasets.grounding import RsvgDataset
from rsvision.datasets.vqa import RsvqaDataset
from rsvision.tasks.captioning import load_captioner
from rsvision.tasks.vqa import load_vqa
from rsvision.workflows.ask import evaluate_two_stage
from rsvision.workflows.ground import evaluate_grounder


def captioning(data: str) -> dict:
    scores = evaluate_captioner(load_captioner(None), RsicdDataset(data, split="rsicd-test"))
    print("captioning", json.dumps(scores), flush=True)
    return {k: round(scores[k], 4) for k in ("cider", "bleu4", "meteor")}


def first_images(dataset, n: int | None):
    """The questions of the dataset's first ``n`` images (all when None)."""
    if n is None:
        return dataset
    keep, seen = [], []
    for i, s in enumerate(dataset):
        key = s.meta.get("img_id")
        if key not in seen:
            seen.append(key)
        if len(seen) <= n:
            keep.append(i)
    return dataset.subset(keep)


def vqa(folder: str, images: int | None) -> dict:
    test = first_images(RsvqaDataset(folder, split="test"), images)
    t0 = time.perf_counter()
    two_stage = evaluate_two_stage(test)
    seconds = time.perf_counter() - t0
    learned = evaluate_vqa_model(load_vqa("vqa_baseline"), test)
    print("two-stage", json.dumps(two_stage), "\nlearned", json.dumps(learned), flush=True)
    keys = lambda r: {k.removeprefix("accuracy_"): round(v, 4) for k, v in r.items() if "accuracy" in k}
    return {
        "vqa_two_stage": keys(two_stage),
        "vqa_learned": keys(learned),
        "vqa_questions": two_stage["n_questions"],
        "cannot_answer": round(two_stage["cannot_answer"], 4),
        "seconds_per_question": round(seconds / max(1, two_stage["n_questions"]), 4),
    }


def grounding(folder: str) -> dict:
    dataset = RsvgDataset(folder)
    out, parts = {}, []
    for source in ("dota", "neon"):
        part = dataset.subset([i for i, s in enumerate(dataset) if s.id.startswith(source)])
        if len(part):
            scores = evaluate_grounder(part)
            print("grounding", source, json.dumps(scores), flush=True)
            out[f"grounding_acc_at_0.5_{source}"] = round(scores["acc_at_0.5"], 4)
            out[f"grounding_n_{source}"] = len(part)
            parts.append((len(part), scores))
    n = sum(k for k, _ in parts)
    overall = {key: sum(k * s[key] for k, s in parts) / n for key in ("acc_at_0.5", "miou")}  # by expression
    return out | {"grounding_acc_at_0.5": round(overall["acc_at_0.5"], 4), "grounding_miou": round(overall["miou"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/AID", help="AID with captions/rsicd_precomp beside it")
    parser.add_argument("--vqa", default="runs/vqa_sets", help="a generated VQA set (RSVQA layout)")
    parser.add_argument("--vqa-images", type=int, help="only the first N test images' questions")
    parser.add_argument("--grounding", default="runs/grounding_set", help="a generated RSVG-layout set")
    parser.add_argument("--skip-captioning", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    figures: dict = {}
    with torch_threads(args.threads):
        if not args.skip_captioning:
            figures |= captioning(args.data)
        figures |= vqa(args.vqa, args.vqa_images)
        figures |= grounding(args.grounding)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
