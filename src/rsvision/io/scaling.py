"""How a scene's stored values become physical ones: reflectance from a product's metadata (a linear rule per band),
or backscatter in decibels. Applied by :meth:`rsvision.io.Scene.read` with ``scale="reflectance"`` or ``"db"``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rsvision.errors import ScalingError

SCALES = ("raw", "reflectance", "db")


@dataclass(frozen=True)
class Scaling:
    """A product's rule per band: physical value = DN * mult + add, with ``fill`` the DN of no data (masked).

    ``label`` says where the rule comes from (``"sentinel-2 boa, baseline 04.00, offset -1000"``); outputs record it.
    """

    label: str
    factors: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    fill: float | None = 0


def check_scale(scale: str | None) -> str:
    """The scale mode, validated: ``raw`` (None), ``reflectance`` or ``db``."""
    mode = "raw" if scale is None else str(scale).lower()
    if mode not in SCALES:
        raise ScalingError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    return mode


def factors_for(scaling: Scaling | None, names: Sequence[str], where: str) -> list[tuple[float, float]]:
    """Each band's (mult, add); an error naming the scene when it carries no rule for one of them."""
    if scaling is None:
        raise ScalingError(
            f"{where} carries no reflectance metadata (a Sentinel-2 MTD_MSIL1C/MTD_MSIL2A.xml or a Landsat MTL"
            " file beside its bands); read raw values or give a scale factor (--scale)"
        )
    missing = [n for n in names if n not in scaling.factors]
    if missing:
        raise ScalingError(
            f"{where}: the metadata ({scaling.label}) holds no reflectance rule for {', '.join(missing)}"
        )
    return [scaling.factors[n] for n in names]


def to_reflectance(
    data: np.ndarray, mask: np.ndarray, factors: Sequence[tuple[float, float]], fill: float | None
) -> np.ma.MaskedArray:
    """Apply each band's rule in place to float ``data`` (C, H, W); the product's fill value joins the mask,
    and masked pixels hold NaN, so arithmetic on them stays no data."""
    if fill is not None:
        mask |= data == np.float32(fill)  # products mark no data by a DN, not by a GeoTIFF/JP2 nodata tag
    for band, (mult, add) in zip(data, factors):
        band *= np.float32(mult)
        band += np.float32(add)
    data[mask] = np.nan
    return np.ma.MaskedArray(data, mask=mask, copy=False)


def to_db(data: np.ndarray, mask: np.ndarray) -> np.ma.MaskedArray:
    """10 * log10 of float ``data`` in place; zero and negative values (no backscatter measured) are masked NaN."""
    mask |= ~(data > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.log10(data, out=data)
    data *= np.float32(10)
    data[mask] = np.nan
    return np.ma.MaskedArray(data, mask=mask, copy=False)
