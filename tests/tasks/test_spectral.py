"""Spectral expressions: parsed into a tree (never evaluated as Python), evaluated with NaN for zero denominators;
catalogue indices mapped onto scene bands by wavelength; the predictor's values equal hand-computed ones."""

import numpy as np
import pytest
from rasterio.windows import Window

from rsvision.core.sensors import SENSORS, Band
from rsvision.errors import BandNotFoundError
from rsvision.tasks import TileBatch
from rsvision.tasks.spectral import (
    ExpressionError,
    SpectralPredictor,
    evaluate,
    index_names,
    parse_expression,
    resolve_formula,
    spectral_index,
    symbol_band,
)

S2 = list(SENSORS["sentinel-2"].bands)
RGB = list(SENSORS["rgb"].bands)


def test_expressions_evaluate_with_nan_for_zero_denominators():
    e = parse_expression("(B08 - B04) / (B08 + B04)")
    assert e.names == ("B08", "B04")
    nir, red = np.array([3, 0, 2, -1], np.float32), np.array([1, 0, -2, 1], np.float32)
    out = evaluate(e, {"B08": nir, "B04": red})
    np.testing.assert_array_equal(out[:1], [0.5])
    assert np.isnan(out[1:]).all()  # 0/0 and x/0: NaN, never inf
    powers = evaluate(parse_expression("-B08 ** 2 + sqrt(abs(B04)) * 2.5e-1"), {"B08": nir, "B04": red})
    np.testing.assert_allclose(powers, -(nir**2) + np.sqrt(np.abs(red)) * 0.25)
    assert np.isnan(evaluate(parse_expression("log(B04)"), {"B04": np.array([-1.0], np.float32)})).all()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(B08-B04)/(B08+B04", "never closed at column"),
        ('B08 + __import__("os")', "column 7: only the functions"),
        ("B08.real", "column 1: attribute is not allowed"),
        ("B08 if B04 else 1", "ifexp is not allowed"),
        ("'a' * B08", "'a' is not a number"),
        ("sqrt(B08, 2)", "sqrt takes one argument"),
        ("B08[0]", "subscript is not allowed"),
        ("lambda: 1", "lambda is not allowed"),
        ("True + B08", "True is not a number"),
    ],
)
def test_bad_expressions_point_at_what_is_wrong(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text)


def test_the_catalogue_parses_and_maps_symbols_by_wavelength():
    names = index_names()
    assert len(names) > 200 and "NDVI" in names
    parsed = [spectral_index(name).expression for name in names]  # every formula is within the grammar
    assert all(e.names for e in parsed)
    assert spectral_index("ndvi").formula == "(N - R)/(N + R)"
    assert symbol_band("N", S2).name == "B08" and symbol_band("R", S2).name == "B04"
    assert symbol_band("S1", S2).name == "B11" and symbol_band("N", RGB) is None
    evi = spectral_index("EVI")
    reads = resolve_formula("EVI", evi.expression, S2).reads
    assert reads["N"] == "B08" and reads["B"] == "B02" and reads["L"] is None  # L: a constant
    with pytest.raises(ExpressionError, match="did you mean NDVI"):
        spectral_index("NDVX")


def test_a_band_the_scene_lacks_is_named():
    with pytest.raises(BandNotFoundError, match=r"NDVI needs N \(Near-Infrared \(NIR\), 760-900 nm\).*red, green"):
        resolve_formula("NDVI", spectral_index("NDVI").expression, RGB)
    with pytest.raises(BandNotFoundError, match="needs B13"):
        resolve_formula("x", parse_expression("B13 / B04"), S2)


def test_predictor_equals_hand_computed_values_with_nodata():
    bands = [Band("B04", 664.6), Band("B08", 832.8), Band("B02", 492.4)]
    formulas = [
        resolve_formula("NDVI", spectral_index("NDVI").expression, bands),
        resolve_formula("EVI", spectral_index("EVI").expression, bands),
        resolve_formula("ratio", parse_expression("B08 / B04"), bands),
    ]
    predictor = SpectralPredictor(formulas, scale=1e-4, nodata=0)
    assert predictor.bands == ["B02", "B04", "B08"] and predictor.class_names == ["NDVI", "EVI", "ratio"]
    rng = np.random.default_rng(0)
    images = rng.integers(1, 10000, (2, 3, 8, 8)).astype(np.float32)  # B02, B04, B08 in the predictor's order
    images[0, 1, 0, 0] = 0  # B04 nodata in one pixel: every output NaN there
    masks = np.zeros((2, 8, 8), bool)
    masks[1, 7, 7] = True
    b, r, n = (images[:, i].astype(np.float64) * 1e-4 for i in range(3))
    out = predictor.predict(TileBatch(images.copy(), masks, [Window(0, 0, 8, 8)] * 2))
    ndvi, evi = (n - r) / (n + r), 2.5 * (n - r) / (n + 6 * r - 7.5 * b + 1)
    for k, expected in enumerate([ndvi, evi, n / np.where(r == 0, np.nan, r)]):
        expected[0, 0, 0] = expected[1, 7, 7] = np.nan
        np.testing.assert_allclose(out[:, k], expected, rtol=1e-5)
    assert np.isnan(out[0, :, 0, 0]).all() and np.isnan(out[1, :, 7, 7]).all()
