"""Recipes that rebuild each shipped weight with one command: ``python -m rsvision.train.recipes NAME``."""

from rsvision.train.recipes.aid import aid_classifier, aid_lite0
from rsvision.train.recipes.captioning import rsicd_captioner, rsicd_captioner_256, rsicd_captioner_scst
from rsvision.train.recipes.dota import dota_obb
from rsvision.train.recipes.dubai import (
    dubai_landcover,
    dubai_landcover_colour,
    dubai_landcover_colour_seed2,
    dubai_landcover_context,
    dubai_landcover_resnet18,
    dubai_landcover_scale,
    dubai_landcover_scratch,
    dubai_landcover_seed1,
    dubai_landcover_xval,
    dubai_landcover_xval_colour,
    dubai_landcover_xval_dice,
)
from rsvision.train.recipes.neon import (
    neon_trees,
    neon_trees_ensemble,
    neon_trees_refit,
    neon_trees_seed1,
    neon_trees_strips,
)
from rsvision.train.recipes.oscd import (
    oscd_change,
    oscd_change_ensemble,
    oscd_change_ensemble_rows,
    oscd_change_mumbai,
    oscd_change_mumbai6,
    oscd_change_pisa,
    oscd_change_pisa6,
    oscd_change_rgb,
    oscd_change_scratch,
    oscd_change_seed1,
    oscd_change_seed2,
    oscd_change_xval,
    oscd_change_xval_10bands,
    oscd_change_xval_band_jitter,
    oscd_change_xval_seed1,
    oscd_change_xval_standardised,
    oscd_change_xval_standardised_seed1,
)
from rsvision.train.recipes.rsicd import rsicd_dual_encoder_minilm, rsicd_dual_encoder_scratch
from rsvision.train.recipes.vqa import vqa_baseline

RECIPES = {
    "aid_classifier": aid_classifier,
    "aid_lite0": aid_lite0,
    "dota_obb": dota_obb,
    "dubai_landcover": dubai_landcover,
    "dubai_landcover_scratch": dubai_landcover_scratch,
    "dubai_landcover_context": dubai_landcover_context,
    "dubai_landcover_resnet18": dubai_landcover_resnet18,
    "dubai_landcover_scale": dubai_landcover_scale,
    "dubai_landcover_seed1": dubai_landcover_seed1,
    "dubai_landcover_colour": dubai_landcover_colour,
    "dubai_landcover_colour_seed2": dubai_landcover_colour_seed2,
    "dubai_landcover_xval": dubai_landcover_xval,
    "dubai_landcover_xval_colour": dubai_landcover_xval_colour,
    "dubai_landcover_xval_dice": dubai_landcover_xval_dice,
    "neon_trees": neon_trees,
    "neon_trees_ensemble": neon_trees_ensemble,
    "neon_trees_refit": neon_trees_refit,
    "neon_trees_seed1": neon_trees_seed1,
    "neon_trees_strips": neon_trees_strips,
    "oscd_change": oscd_change,
    "oscd_change_ensemble": oscd_change_ensemble,
    "oscd_change_ensemble_rows": oscd_change_ensemble_rows,
    "oscd_change_scratch": oscd_change_scratch,
    "oscd_change_rgb": oscd_change_rgb,
    "oscd_change_seed1": oscd_change_seed1,
    "oscd_change_seed2": oscd_change_seed2,
    "oscd_change_xval": oscd_change_xval,
    "oscd_change_xval_10bands": oscd_change_xval_10bands,
    "oscd_change_xval_band_jitter": oscd_change_xval_band_jitter,
    "oscd_change_xval_seed1": oscd_change_xval_seed1,
    "oscd_change_xval_standardised": oscd_change_xval_standardised,
    "oscd_change_xval_standardised_seed1": oscd_change_xval_standardised_seed1,
    "oscd_change_mumbai6": oscd_change_mumbai6,
    "oscd_change_mumbai": oscd_change_mumbai,
    "oscd_change_pisa6": oscd_change_pisa6,
    "oscd_change_pisa": oscd_change_pisa,
    "rsicd_dual_encoder_minilm": rsicd_dual_encoder_minilm,
    "rsicd_dual_encoder_scratch": rsicd_dual_encoder_scratch,
    "rsicd_captioner": rsicd_captioner,
    "rsicd_captioner_256": rsicd_captioner_256,
    "rsicd_captioner_scst": rsicd_captioner_scst,
    "vqa_baseline": vqa_baseline,
}

__all__ = ["RECIPES", *RECIPES]
