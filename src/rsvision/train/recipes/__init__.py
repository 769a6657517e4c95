"""Recipes that rebuild each shipped weight with one command: ``python -m rsvision.train.recipes NAME``."""

from rsvision.train.recipes.aid import aid_classifier

RECIPES = {"aid_classifier": aid_classifier}

__all__ = ["RECIPES", "aid_classifier"]
