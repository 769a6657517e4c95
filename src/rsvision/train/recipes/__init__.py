"""Recipes that rebuild each shipped weight with one command: ``python -m rsvision.train.recipes NAME``."""

from rsvision.train.recipes.aid import aid_classifier, aid_lite0

RECIPES = {"aid_classifier": aid_classifier, "aid_lite0": aid_lite0}

__all__ = ["RECIPES", "aid_classifier", "aid_lite0"]
