"""Corruptions of (C, H, W) images: identity at severity 0, growing with severity, seeded, any bands and dtype."""

import cv2
import numpy as np
import pytest

from rsvision.bench.corruptions import (
    CORRUPTIONS,
    DEAD_LINE_FRACTION,
    DEAD_PIXEL_FRACTION,
    band_shifts,
    corrupt,
    corruption_names,
    image_scale,
)
from rsvision.errors import BandCountError, RsvisionError

NAMES = [
    "gaussian_noise",
    "shot_noise",
    "motion_blur",
    "defocus_blur",
    "jpeg",
    "brightness",
    "contrast",
    "haze",
    "thin_clouds",
    "thick_clouds",
    "stripe_noise",
    "dead_pixels",
    "band_misregistration",
    "resolution_loss",
]
DETERMINISTIC = {"defocus_blur", "jpeg", "brightness", "contrast", "resolution_loss"}  # no random draw
RANDOM = set(NAMES) - DETERMINISTIC
SCALES = {np.uint8: 255, np.uint16: 10000, np.float32: 1.0}  # float32: reflectance
DTYPES = list(SCALES)


def textured(bands: int = 4, size: int = 64, dtype=np.float32, seed: int = 1) -> np.ndarray:
    """A diagonal gradient plus smooth texture (correlated over a few pixels) and fine noise, within the range."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    smooth = np.stack([cv2.GaussianBlur(n, (0, 0), 2) for n in rng.standard_normal((bands, size, size))])
    reflectance = np.clip(0.2 + 0.2 * (xx + yy) + 0.6 * smooth + 0.03 * rng.standard_normal(smooth.shape), 0.04, 0.96)
    values = reflectance * SCALES[dtype]
    return (np.rint(values) if np.dtype(dtype).kind == "u" else values).astype(dtype)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def test_names_and_registry():
    assert corruption_names() == NAMES
    assert set(CORRUPTIONS) == set(NAMES)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_severity_zero_is_an_identical_copy(name, dtype):
    image = textured(dtype=dtype)
    out = corrupt(image, name, 0, seed=3)
    assert out is not image and out.dtype == image.dtype
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_difference_grows_with_severity(name, dtype):
    image = textured(dtype=dtype)
    differences = [mad(corrupt(image, name, s), image) / SCALES[dtype] for s in range(6)]
    assert differences[0] == 0
    assert all(np.diff(differences) > 0), differences


@pytest.mark.parametrize("name", NAMES)
def test_seeded_and_deterministic(name):
    image = textured(dtype=np.uint16)
    first = corrupt(image, name, 3, seed=7)
    assert first.tobytes() == corrupt(image, name, 3, seed=7).tobytes()
    other = corrupt(image, name, 3, seed=8)
    assert (not np.array_equal(first, other)) == (name in RANDOM)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bands", [1, 3, 4, 13])
@pytest.mark.parametrize("name", NAMES)
def test_any_band_count_and_dtype(name, bands, dtype):
    image = textured(bands, size=32, dtype=dtype)
    out = corrupt(image, name, 5, seed=2)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.isfinite(out).all()
    if np.dtype(dtype).kind == "f":  # floats stay within [min(0, image min), max(scale, image max)]
        assert out.min() >= min(0, image.min()) and out.max() <= max(1.0, image.max())
    assert mad(out, image) > 0


@pytest.mark.parametrize("name", ["nope", "Gaussian_Noise", ""])
def test_unknown_name_lists_the_valid_ones(name):
    with pytest.raises(RsvisionError, match=f"unknown corruption '{name}': choose one of gaussian_noise, shot_noise"):
        corrupt(textured(), name, 1)


@pytest.mark.parametrize("severity", [-1, 6, 2.5, True, "3", None])
def test_severity_outside_0_to_5_is_an_error(severity):
    with pytest.raises(RsvisionError, match="severity must be an integer from 0 to 5"):
        corrupt(textured(), "haze", severity)


def test_bad_image_and_wavelengths_are_errors():
    with pytest.raises(RsvisionError, match=r"takes a \(C, H, W\) numeric array, got shape \(64, 64\)"):
        corrupt(textured()[0], "haze", 1)
    with pytest.raises(BandCountError, match="3 wavelengths given for an image of 4 bands"):
        corrupt(textured(), "haze", 1, wavelengths=[490, 560, 665])
    with pytest.raises(RsvisionError, match="wavelengths are in nanometres"):
        corrupt(textured(), "haze", 1, wavelengths=[0.49, 0.56, 0.665, 0.842])


def test_scale_per_dtype():
    assert image_scale(textured(dtype=np.uint8)) == 255
    assert image_scale(textured(dtype=np.uint16)) == 10000
    assert image_scale(textured(dtype=np.float32)) == 1.0  # reflectance
    dn = textured(dtype=np.float32) * 3000
    assert image_scale(dn) == pytest.approx(np.percentile(dn, 99.9))


@pytest.mark.parametrize("name", NAMES)
def test_nodata_is_left_untouched(name):
    image = textured(dtype=np.float32)
    image[:, :5, :5] = np.nan
    mask = np.zeros(image.shape[1:], bool)
    mask[-8:, :] = True
    out = corrupt(image, name, 5, mask=mask)
    assert np.isnan(out[:, :5, :5]).all() and np.isfinite(out[:, 5:, 5:]).all()
    np.testing.assert_array_equal(out[:, mask], image[:, mask])


# ---- the defining property of each remote-sensing corruption ----


def test_haze_brightens_short_wavelengths_most_and_lowers_contrast():
    image = textured(3, dtype=np.float32)
    image[:] = image[0]  # identical bands, so only the wavelengths tell them apart
    hazy = corrupt(image, "haze", 3, wavelengths=[490, 842, 2190])
    change = [mad(h, i) for h, i in zip(hazy, image)]
    assert change[0] > 1.5 * change[1] > 1.5 * change[2] > 0
    assert (hazy.std(axis=(1, 2)) < image.std(axis=(1, 2))).all()
    uniform = corrupt(image, "haze", 3)
    np.testing.assert_array_equal(uniform[0], uniform[2])  # no wavelengths: every band alike


def test_thick_clouds_are_bright_and_white_and_cast_darker_shadows():
    image = textured(4, 96, np.uint16)
    out = corrupt(image, "thick_clouds", 4, seed=5).astype(np.float64)
    white = np.ptp(out, axis=0) <= 1  # one value in every band, rounding aside
    cloud = white & (out[0] >= 0.8 * 10000)
    assert 0.15 < cloud.mean() <= 0.3  # severity 4 covers 30%, a few soft-edged pixels not opaque
    shadow = (out < 0.8 * image).all(axis=0)
    assert shadow.mean() > 0.05
    assert (out[:, shadow] >= 0.4 * image[:, shadow] - 1).all()  # darkened at most to 40%


def test_thin_clouds_brighten_but_keep_the_ground_visible():
    image = textured(4, 96, np.float32)
    out = corrupt(image, "thin_clouds", 3, seed=5)
    brighter = (out > image + 0.02).all(axis=0)
    assert brighter.mean() > 0.3
    assert not (np.ptp(out, axis=0) < 1e-3).any()  # nowhere opaque white
    for band, base in zip(out, image):
        assert np.corrcoef(band[brighter], base[brighter])[0, 1] > 0.5


def test_stripe_noise_is_constant_along_each_column():
    image = np.full((3, 48, 64), 4000, np.uint16)
    error = corrupt(image, "stripe_noise", 4, seed=1).astype(np.float64) - image
    np.testing.assert_array_equal(error, np.broadcast_to(error[:, :1], error.shape))
    assert (error[:, 0].std(axis=1) > 50).all()  # columns differ, in every band
    assert not np.array_equal(error[0], error[1])  # each band has its own detectors


def test_dead_pixels_set_about_the_expected_fraction():
    image = textured(4, 96, np.uint16)
    out = corrupt(image, "dead_pixels", 5, seed=2)
    lost_rows = (out == 0).all(axis=2)
    expected_rows = DEAD_LINE_FRACTION[4] * lost_rows.size
    assert 0.3 * expected_rows < lost_rows.sum() < 2 * expected_rows
    rest = out[~np.broadcast_to(lost_rows[:, :, None], out.shape)]
    dead, saturated = (rest == 0).mean(), (rest == 65535).mean()
    assert dead + saturated == pytest.approx(DEAD_PIXEL_FRACTION[4], abs=0.006)
    assert dead == pytest.approx(saturated, abs=0.01)
    unchanged = out == image
    assert (unchanged | (out == 0) | (out == 65535)).all()


def test_band_misregistration_shifts_all_bands_but_the_first():
    rows, cols = np.mgrid[0:48, 0:48]
    image = np.stack([0.1 + 0.004 * k + 0.005 * cols + 0.003 * rows for k in range(4)]).astype(np.float32)
    out = corrupt(image, "band_misregistration", 5, seed=9)
    np.testing.assert_array_equal(out[0], image[0])
    shifts = band_shifts(4, 5, np.random.default_rng(9))  # the kernel's first draws
    for k in (1, 2, 3):
        (dy, dx), inner = shifts[k], (slice(4, -4), slice(4, -4))
        assert np.hypot(dy, dx) >= 0.75  # half the severity's 1.5 px at least
        np.testing.assert_allclose(out[k][inner] - image[k][inner], -(0.005 * dx + 0.003 * dy), atol=2e-4)


def test_single_band_misregistration_moves_the_band():
    image = textured(1, dtype=np.float32)
    assert mad(corrupt(image, "band_misregistration", 3), image) > 0


def test_resolution_loss_removes_detail_finer_than_the_new_pixel():
    parity = np.indices((64, 64)).sum(axis=0) % 2
    checkerboard = np.stack([parity, parity]).astype(np.uint8) * 200 + 20
    out = corrupt(checkerboard, "resolution_loss", 2)  # half the side: 2x2 pixels averaged
    assert np.ptp(out) <= 1 and abs(int(out[0, 0, 0]) - 120) <= 1
