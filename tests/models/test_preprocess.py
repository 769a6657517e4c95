"""The card's preprocessing: raw values to a standardised tensor by the card's numbers, bands reordered by name,
and the normalisation mistakes refused before a model sees them."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rsvision.core.sensors import reflectance_to_8bit
from rsvision.errors import BandCountError, NormalisationError
from rsvision.models.preprocess import (
    STANDARD_LEVEL,
    STANDARD_SPREAD,
    Preprocessing,
    band_moments,
    standardise_bands,
)

PREP = Preprocessing(
    bands=["red", "green", "blue"],
    scale=255.0,
    value_range=(0, 255),
    mean=[0.4, 0.5, 0.3],
    std=[0.2, 0.25, 0.1],
    input_size=8,
)


def _image(shape=(3, 8, 8), seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def test_standardises_with_the_card_numbers():
    image = _image()
    out = PREP(image)
    expected = (image / 255.0 - np.array(PREP.mean)[:, None, None]) / np.array(PREP.std)[:, None, None]
    assert out.shape == (1, 3, 8, 8) and out.dtype == torch.float32
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_resizes_the_whole_image_antialiased():
    image = _image((3, 20, 12))
    out = PREP(image)
    resized = F.interpolate(
        torch.from_numpy(image[None].astype(np.float32)),
        size=(8, 8),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    np.testing.assert_allclose(out.numpy(), PREP.normalise(resized).numpy(), rtol=1e-6)
    assert PREP(_image((2, 3, 5, 5))).shape == (2, 3, 8, 8)  # batches too


def test_bands_are_taken_by_name_not_position():
    image = _image()
    bgr = image[::-1].copy()
    np.testing.assert_array_equal(PREP(bgr, ["blue", "green", "red"]).numpy(), PREP(image).numpy())
    nir = np.concatenate([image, _image((1, 8, 8), seed=1)])  # an extra band is left out by name
    np.testing.assert_array_equal(PREP(nir, ["red", "green", "blue", "nir"]).numpy(), PREP(image).numpy())
    with pytest.raises(BandCountError, match="needs bands blue; given red, green, nir"):
        PREP(image, ["red", "green", "nir"])
    with pytest.raises(BandCountError, match="4 bands given without names"):
        PREP(_image((4, 8, 8)))


def test_masked_pixels_become_zero():
    image = np.ma.masked_array(_image(), mask=np.zeros((3, 8, 8), bool))
    image.mask[:, 0, 0] = True
    filled = np.asarray(image).copy()
    filled[:, 0, 0] = 0
    np.testing.assert_array_equal(PREP(image).numpy(), PREP(filled).numpy())


@pytest.mark.parametrize(
    "values, message",
    [
        (_image().astype(np.float32) / 255, "look already scaled"),  # scaled twice
        (np.full((3, 8, 8), -0.5, np.float32), "outside the model's raw range"),  # standardised already
        (np.full((3, 8, 8), 3000, np.uint16), "outside the model's raw range"),  # 16-bit reflectance for an 8-bit model
    ],
)
def test_values_that_cannot_be_raw_are_refused(values, message):
    with pytest.raises(NormalisationError, match=message):
        PREP(values)


def test_another_normalisation_is_refused():
    PREP.check_normalisation(mean=PREP.mean, std=PREP.std, scale=255)  # the card's own numbers pass
    with pytest.raises(NormalisationError, match=r"mean .* differs"):
        PREP.check_normalisation(mean=[0.485, 0.456, 0.406])
    with pytest.raises(NormalisationError, match="scale 1/1 differs"):
        PREP.check_normalisation(scale=1.0)


def test_card_checks_its_own_numbers():
    with pytest.raises(ValueError, match="one value per band"):
        Preprocessing(bands=["red"], scale=1, value_range=(0, 1), mean=[0, 0], std=[1], input_size=4)
    with pytest.raises(ValueError, match="std values must be positive"):
        Preprocessing(bands=["red"], scale=1, value_range=(0, 1), mean=[0], std=[0], input_size=4)


def test_reflectance_to_8bit():
    dn = np.array([0, 1000, 4000, 9000], dtype=np.uint16)  # reflectance 0, 0.1, 0.4, 0.9
    np.testing.assert_array_equal(reflectance_to_8bit(dn), [0, 64, 255, 255])


def test_scene_standardisation_takes_out_each_bands_gain_and_offset():
    rng = np.random.default_rng(0)
    image = rng.normal(1000, 200, (3, 16, 16)).astype(np.float32)
    valid = np.ones((16, 16), bool)
    valid[:4] = False  # a strip whose values must not count
    image[:, :4] = 60000
    shifted = image * np.array([0.5, 2.0, 1.3])[:, None, None] + np.array([100, -300, 7])[:, None, None]
    one, two = (standardise_bands(x, *band_moments(x, valid)) for x in (image, shifted))
    np.testing.assert_allclose(one[:, 4:], two[:, 4:], rtol=1e-4)
    np.testing.assert_allclose(one[:, 4:].mean((1, 2)), STANDARD_LEVEL, rtol=1e-4)
    np.testing.assert_allclose(one[:, 4:].std((1, 2)), STANDARD_SPREAD, rtol=1e-3)
    assert one.dtype == np.float32 and one.max() <= 65535 and one.min() >= 0


def test_scene_standardisation_needs_valid_pixels():
    with pytest.raises(ValueError, match="no valid pixels"):
        band_moments(np.ones((2, 4, 4)), np.zeros((4, 4), bool))


def test_same_as_forgives_float_noise_in_band_statistics_only():
    noise = PREP.model_copy(update={"std": [s * (1 + 1e-9) for s in PREP.std]})
    assert PREP.same_as(noise) and noise.same_as(PREP)
    assert not PREP.same_as(PREP.model_copy(update={"std": [s * 1.001 for s in PREP.std]}))
    assert not PREP.same_as(PREP.model_copy(update={"input_size": PREP.input_size + 1}))
