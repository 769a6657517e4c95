"""``python -m rsvision.train.recipes NAME --out O [--data D] [--work W] [--threads N]``."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

from rsvision.errors import RsvisionError
from rsvision.train.recipes import RECIPES


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rsvision.train.recipes", description=__doc__)
    parser.add_argument("recipe", choices=sorted(RECIPES))
    parser.add_argument("--data", help="dataset folder")
    parser.add_argument(
        "--out",
        required=True,
        help="folder for NAME.safetensors and NAME.json (src/rsvision/models/weights replaces the shipped ones)",
    )
    parser.add_argument("--work", help="folder for caches, checkpoints and the training log")
    parser.add_argument("--threads", type=int, help="torch threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (background runs)")
    parser.add_argument(
        "--no-test", action="store_true", help="segmentation recipes: validation only, the test tile left unread"
    )
    args = parser.parse_args(argv)
    fn = RECIPES[args.recipe]
    kwargs = {k: v for k, v in vars(args).items() if k in inspect.signature(fn).parameters and v is not None}
    if args.no_test:
        kwargs["test"] = False
    if not Path(args.out).is_dir():  # output folders are never made for the user: a typo would scatter files
        parser.exit(2, f"error: output folder {args.out} does not exist (make it first)\n")
    try:
        fn(progress=not args.no_progress, **kwargs)
    except RsvisionError as error:  # a mistake in the command: one line, as the rsvision command says it
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    main()
