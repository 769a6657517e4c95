"""Corruptions of ``(C, H, W)`` images of any band count at five severities, for robustness benchmarks.

``corrupt(image, "haze", 3, seed=0)`` -> the image hazed at severity 3 (same shape and dtype);
``corruption_names()`` lists them; ``CORRUPTIONS`` maps each name to its kernel.

Generic corruptions follow ImageNet-C (Hendrycks & Dietterich 2019) and keep its severity constants where it has
them: ``gaussian_noise``, ``shot_noise``, ``motion_blur``, ``defocus_blur``, ``jpeg``, ``brightness``, ``contrast``
and ``resolution_loss`` (its ``pixelate`` factors). Remote-sensing corruptions: ``haze``, ``thin_clouds`` and
``thick_clouds`` (procedural fractal clouds with their shadows), ``stripe_noise`` (pushbroom detector striping),
``dead_pixels`` and ``band_misregistration``.

Every corruption is written here with numpy and OpenCV, none comes from a library: ``imagecorruptions`` takes only
3-band uint8 images (and needs the GUI build of OpenCV), and albumentations takes only uint8 or float32 in 0..1,
draws its parameters from ranges rather than fixed severities, and would need the data rescaled around each call,
while these kernels are a few lines each.

Units: a corruption works on the image divided by a ``scale`` (its value of "full brightness"): 255 for uint8,
10000 for uint16 (Sentinel-2 and Landsat surface reflectance DN), and for any other dtype 1.0 when the 99.9th
percentile of the valid values is at most 1 (reflectance), else that percentile (DN in floats). Pass ``scale=`` to
override. The result is rounded (integers) and clipped to the dtype's range for integers; floats are clipped to
``[min(0, image min), max(scale, image max)]``. Saturated pixels (``dead_pixels``) take the top of that range
(65535 in uint16, Sentinel-2's saturation code).

Nodata: pixels where ``mask`` is True (a ``(H, W)`` or ``(C, H, W)`` boolean array), and non-finite values of a
float image, are returned untouched; they are read as 0 by the corruptions that mix neighbours (blurs, JPEG,
resampling).

Determinism: every random draw comes from ``np.random.default_rng(seed)``, and draws are made the same way at every
severity, so one seed gives byte-identical output and a higher severity scales the same draws (same cloud field, same
noise, same stripes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from rsvision.errors import BandCountError, RsvisionError

Kernel = Callable[[np.ndarray, int, np.random.Generator, np.ndarray | None], np.ndarray]

SEVERITIES = range(6)  # 0 is the identity

# ImageNet-C constants, index = severity - 1. Intensities are in units of the scale (0..1).
GAUSSIAN_SIGMA = (0.08, 0.12, 0.18, 0.26, 0.38)
SHOT_PHOTONS = (60, 25, 12, 5, 3)  # photons at full brightness: fewer is noisier
MOTION_RADIUS_SIGMA = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # pixels
DEFOCUS_RADIUS_ALIAS = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))  # pixels
JPEG_QUALITY = (25, 18, 15, 10, 7)
BRIGHTNESS_SHIFT = (0.1, 0.2, 0.3, 0.4, 0.5)
CONTRAST_FACTOR = (0.4, 0.3, 0.2, 0.1, 0.05)
RESOLUTION_FACTOR = (0.6, 0.5, 0.4, 0.3, 0.25)  # ImageNet-C pixelate: side kept, as a fraction

# Remote-sensing corruptions (no ImageNet-C counterpart).
HAZE_OPTICAL_DEPTH = (0.15, 0.3, 0.5, 0.75, 1.1)  # at 550 nm; transmission exp(-depth)
HAZE_AIRLIGHT = 0.8  # path radiance of an opaque haze
HAZE_ANGSTROM = 2.0  # depth ~ wavelength^-2: between aerosols (~1.3) and Rayleigh scattering (4)
THIN_CLOUD_COVER = (0.3, 0.45, 0.6, 0.75, 0.9)  # fraction of pixels under some cloud
THIN_CLOUD_OPACITY = (0.25, 0.35, 0.45, 0.55, 0.65)  # densest part
THICK_CLOUD_COVER = (0.05, 0.1, 0.2, 0.3, 0.4)
CLOUD_BRIGHTNESS = (0.8, 0.95)  # spectrally flat (white), brighter where denser
SHADOW_DARKENING = 0.6  # an opaque cloud's shadow keeps 40% (diffuse light)
SHADOW_OFFSET = (0.1, 0.2)  # of the image side, in a random direction (cloud height and sun angle)
STRIPE_STD = (0.01, 0.02, 0.04, 0.07, 0.1)  # std of each column's gain - 1 and offset
DEAD_PIXEL_FRACTION = (0.002, 0.005, 0.01, 0.02, 0.05)  # per band, half dead (0), half saturated
DEAD_LINE_FRACTION = (0.0, 0.005, 0.01, 0.02, 0.03)  # per band, whole rows lost (0)
MISREGISTRATION_PIXELS = (0.2, 0.4, 0.7, 1.0, 1.5)  # largest shift of a band


# ---- generic (ImageNet-C) ----


def gaussian_noise(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    return x + GAUSSIAN_SIGMA[severity - 1] * rng.standard_normal(x.shape)


def shot_noise(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    photons = SHOT_PHOTONS[severity - 1]
    return rng.poisson(np.clip(x, 0, None) * photons) / photons


def _filter_bands(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np.stack([cv2.filter2D(band, -1, kernel, borderType=cv2.BORDER_REFLECT) for band in x])


def _motion_kernel(radius: int, sigma: float, angle: float) -> np.ndarray:
    # One-sided Gaussian smear along a line, as ImageNet-C's (ImageMagick) motion blur.
    kernel = np.zeros((2 * radius + 1,) * 2)
    steps = np.arange(radius + 1)
    rows = np.rint(radius + steps * np.sin(angle)).astype(int)
    cols = np.rint(radius + steps * np.cos(angle)).astype(int)
    np.add.at(kernel, (rows, cols), np.exp(-(steps**2) / (2 * sigma**2)))
    return kernel / kernel.sum()


def motion_blur(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    radius, sigma = MOTION_RADIUS_SIGMA[severity - 1]
    angle = np.deg2rad(rng.uniform(-45, 45))
    return _filter_bands(x, _motion_kernel(radius, sigma, angle))


def _disk_kernel(radius: int, alias_blur: float) -> np.ndarray:
    # ImageNet-C's disk: an aliased disk softened by a small Gaussian.
    half = max(8, radius)
    ys, xs = np.mgrid[-half : half + 1, -half : half + 1]
    disk = (xs**2 + ys**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    ksize = (3, 3) if radius <= 8 else (5, 5)
    return cv2.GaussianBlur(disk, ksize, alias_blur)


def defocus_blur(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    return _filter_bands(x, _disk_kernel(*DEFOCUS_RADIUS_ALIAS[severity - 1]))


def _jpeg_roundtrip(bands: np.ndarray, quality: int) -> np.ndarray:
    # Three bands make one colour JPEG (read as RGB, so OpenCV gets them reversed), fewer are grey JPEGs.
    pixels = bands[::-1].transpose(1, 2, 0) if len(bands) == 3 else bands[0]
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(pixels), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RsvisionError("OpenCV could not encode a JPEG")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return decoded.transpose(2, 0, 1)[::-1] if len(bands) == 3 else decoded[None]


def jpeg(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    """Bands are compressed three at a time as colour JPEGs (chroma subsampling included, as ImageNet-C on RGB);
    the one or two bands left over are compressed one by one as grey JPEGs. JPEG is 8-bit: the span
    ``[min(0, x), max(1, x)]`` is mapped onto 0..255, which is exact for uint8 and requantises deeper data."""
    lo, hi = min(0.0, float(x.min())), max(1.0, float(x.max()))
    codes = np.rint((x - lo) / (hi - lo) * 255).astype(np.uint8)
    groups = [codes[i : i + 3] for i in range(0, len(x) - len(x) % 3, 3)]
    groups += [codes[i : i + 1] for i in range(len(x) - len(x) % 3, len(x))]
    decoded = np.concatenate([_jpeg_roundtrip(g, JPEG_QUALITY[severity - 1]) for g in groups])
    return decoded / 255 * (hi - lo) + lo


def brightness(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    # ImageNet-C adds to HSV value; with any bands, the same shift is added to every band.
    return x + BRIGHTNESS_SHIFT[severity - 1]


def contrast(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    mean = x.mean(axis=(1, 2), keepdims=True)
    return (x - mean) * CONTRAST_FACTOR[severity - 1] + mean


def resolution_loss(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    height, width = x.shape[1:]
    factor = RESOLUTION_FACTOR[severity - 1]
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    down = [cv2.resize(band, small, interpolation=cv2.INTER_AREA) for band in x]  # area: a coarser sensor's pixel
    return np.stack([cv2.resize(band, (width, height), interpolation=cv2.INTER_LINEAR) for band in down])


# ---- remote sensing ----


def _fractal_field(shape: tuple[int, int], rng: np.random.Generator, octaves: int = 5) -> np.ndarray:
    """Smooth random field in 0..1: white noise blurred at halving scales, each octave half as strong (1/f-like)."""
    field = np.zeros(shape)
    sigma = max(shape) / 8
    for octave in range(octaves):
        layer = cv2.GaussianBlur(rng.standard_normal(shape), (0, 0), sigma / 2**octave, borderType=cv2.BORDER_REFLECT)
        field += 0.5**octave * layer / (layer.std() + 1e-12)
    return (field - field.min()) / (np.ptp(field) + 1e-12)


def haze(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths: np.ndarray | None = None) -> np.ndarray:
    """Scattering model ``x t + A (1 - t)``: path radiance added and contrast lost, with transmission
    ``t = exp(-depth)``. The depth varies smoothly over the image (0.75..1.25 of the severity's) and, given band
    wavelengths (nm), scales as ``(550 / wavelength) ** 2``, so blue hazes more than near infrared."""
    depth = HAZE_OPTICAL_DEPTH[severity - 1] * (0.75 + 0.5 * _fractal_field(x.shape[1:], rng))
    weights = np.ones(len(x)) if wavelengths is None else (550.0 / wavelengths) ** HAZE_ANGSTROM
    transmission = np.exp(-weights[:, None, None] * depth)
    return x * transmission + HAZE_AIRLIGHT * (1 - transmission)


def _shift(plane: np.ndarray, dy: float, dx: float, border: int = cv2.BORDER_REFLECT) -> np.ndarray:
    # Bilinear (spline order 1) sub-pixel translation.
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    return cv2.warpAffine(plane, matrix, plane.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=border)


def _clouds(x: np.ndarray, rng: np.random.Generator, cover: float, opacity: float, softness: float) -> np.ndarray:
    """Blend a fractal cloud field over the image, and darken the ground under its shadow (the field shifted)."""
    field = _fractal_field(x.shape[1:], rng)
    threshold = np.quantile(field, 1 - cover)  # exactly `cover` of the pixels are under some cloud
    alpha = opacity * np.clip((field - threshold) / softness, 0, 1)
    angle, offset = rng.uniform(0, 2 * np.pi), rng.uniform(*SHADOW_OFFSET) * min(x.shape[1:])
    shadow = _shift(alpha, offset * np.sin(angle), offset * np.cos(angle), cv2.BORDER_CONSTANT)
    ground = x * (1 - SHADOW_DARKENING * shadow)
    low, high = CLOUD_BRIGHTNESS
    cloud = low + (high - low) * field  # same in every band: clouds are white
    return ground * (1 - alpha) + cloud * alpha


def thin_clouds(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    # Semi-transparent with wide soft edges: the ground stays visible through them.
    return _clouds(x, rng, THIN_CLOUD_COVER[severity - 1], THIN_CLOUD_OPACITY[severity - 1], softness=0.3)


def thick_clouds(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    # Opaque beyond a narrow edge.
    return _clouds(x, rng, THICK_CLOUD_COVER[severity - 1], 1.0, softness=0.05)


def stripe_noise(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    """Pushbroom striping: each column is one detector of a band's array, with its own gain and offset error."""
    std = STRIPE_STD[severity - 1]
    gain = 1 + std * rng.standard_normal((len(x), 1, x.shape[2]))
    offset = std * rng.standard_normal((len(x), 1, x.shape[2]))
    return x * gain + offset


def dead_pixels(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    """In each band, a fraction of pixels dead (0) or saturated (top of the range), and whole rows lost (0)."""
    pixel_draw, saturated = rng.random(x.shape), rng.random(x.shape) < 0.5
    row_draw = rng.random((len(x), x.shape[1], 1))
    dead = pixel_draw < DEAD_PIXEL_FRACTION[severity - 1]
    out = np.where(dead, np.where(saturated, np.inf, 0.0), x)  # inf is clipped to the top of the range
    return np.where(row_draw < DEAD_LINE_FRACTION[severity - 1], 0.0, out)


def band_shifts(n_bands: int, severity: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_bands, 2)`` shifts (dy, dx) in pixels: band 0 is the reference and stays put (a single band is
    shifted, against its labels); the others move 0.5..1 of the severity's largest shift, in random directions."""
    size = MISREGISTRATION_PIXELS[severity - 1] * rng.uniform(0.5, 1, n_bands)
    angle = rng.uniform(0, 2 * np.pi, n_bands)
    shifts = np.stack([size * np.sin(angle), size * np.cos(angle)], axis=1)
    if n_bands > 1:
        shifts[0] = 0
    return shifts


def band_misregistration(x: np.ndarray, severity: int, rng: np.random.Generator, wavelengths=None) -> np.ndarray:
    shifts = band_shifts(len(x), severity, rng)
    return np.stack([band if not dy and not dx else _shift(band, dy, dx) for band, (dy, dx) in zip(x, shifts)])


CORRUPTIONS: dict[str, Kernel] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "motion_blur": motion_blur,
    "defocus_blur": defocus_blur,
    "jpeg": jpeg,
    "brightness": brightness,
    "contrast": contrast,
    "haze": haze,
    "thin_clouds": thin_clouds,
    "thick_clouds": thick_clouds,
    "stripe_noise": stripe_noise,
    "dead_pixels": dead_pixels,
    "band_misregistration": band_misregistration,
    "resolution_loss": resolution_loss,
}
"""Name -> kernel ``(x, severity, rng, wavelengths) -> corrupted x``: ``x`` a float64 ``(C, H, W)`` array in
units of the scale, ``severity`` 1..5. Call :func:`corrupt`, which scales, clips, casts and keeps nodata."""


def corruption_names() -> list[str]:
    return list(CORRUPTIONS)


# ---- entry point ----


def _kernel(name: str) -> Kernel:
    if name not in CORRUPTIONS:
        raise RsvisionError(f"unknown corruption {name!r}: choose one of {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name]


def _check_severity(severity: int) -> int:
    if isinstance(severity, bool) or not isinstance(severity, int | np.integer) or severity not in SEVERITIES:
        raise RsvisionError(f"corruption severity must be an integer from 0 to 5, got {severity!r}")
    return int(severity)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.dtype.kind not in "uif":
        raise RsvisionError(f"a corruption takes a (C, H, W) numeric array, got shape {image.shape} {image.dtype}")
    return image


def _check_wavelengths(wavelengths: Sequence[float] | None, n_bands: int) -> np.ndarray | None:
    if wavelengths is None:
        return None
    values = np.asarray(wavelengths, dtype=np.float64)
    if values.shape != (n_bands,):
        raise BandCountError(f"{values.size} wavelengths given for an image of {n_bands} bands")
    if not np.all(values >= 100):
        raise RsvisionError(f"wavelengths are in nanometres, got {values.tolist()} (micrometres?)")
    return values


def _nodata(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    nodata = np.zeros(image.shape, bool) if mask is None else np.broadcast_to(np.asarray(mask, bool), image.shape)
    return nodata | ~np.isfinite(image) if image.dtype.kind == "f" else nodata.copy()


def image_scale(image: np.ndarray, nodata: np.ndarray | None = None) -> float:
    """Value of full brightness: 255 (uint8), 10000 (uint16), else 1.0 for data within 0..1 or the 99.9th
    percentile of the valid values."""
    if image.dtype == np.uint8:
        return 255.0
    if image.dtype == np.uint16:
        return 10000.0
    valid = image[~nodata] if nodata is not None else image[np.isfinite(image)]
    top = float(np.percentile(valid, 99.9)) if valid.size else 1.0
    return 1.0 if top <= 1 else top


def _value_range(image: np.ndarray, nodata: np.ndarray, scale: float) -> tuple[float, float]:
    if image.dtype.kind in "ui":
        info = np.iinfo(image.dtype)
        return float(info.min), float(info.max)
    valid = image[~nodata]
    low, high = (float(valid.min()), float(valid.max())) if valid.size else (0.0, scale)
    return min(0.0, low), max(scale, high)


def corrupt(
    image: np.ndarray,
    name: str,
    severity: int,
    seed: int = 0,
    wavelengths: Sequence[float] | None = None,
    *,
    mask: np.ndarray | None = None,
    scale: float | None = None,
) -> np.ndarray:
    """``image`` (C, H, W) corrupted by ``name`` at ``severity`` 0..5 (0: an identical copy), same shape and dtype.

    ``wavelengths``: band centres in nm (used by ``haze``); ``mask``: True where there is no data (left as is);
    ``scale``: the value of full brightness (see the module docstring for the default)."""
    kernel = _kernel(name)
    severity = _check_severity(severity)
    image = _check_image(image)
    bands = _check_wavelengths(wavelengths, len(image))
    if severity == 0:
        return image.copy()
    nodata = _nodata(image, mask)
    unit = image_scale(image, nodata) if scale is None else float(scale)
    if not unit > 0:
        raise RsvisionError(f"corruption scale must be positive, got {scale!r}")
    x = np.where(nodata, 0.0, image.astype(np.float64) / unit)
    y = kernel(x, severity, np.random.default_rng(seed), bands) * unit
    y = np.clip(y, *_value_range(image, nodata, unit))
    out = (np.rint(y) if image.dtype.kind in "ui" else y).astype(image.dtype)
    out[nodata] = image[nodata]
    return out
