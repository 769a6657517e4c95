"""Sensor catalogue: band names, centre wavelengths and nominal ground sample distance; which band a file name
declares; which band a common name (red, nir ...) means."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rsvision.errors import RsvisionError


@dataclass(frozen=True)
class Band:
    """One band of a scene: its name, centre wavelength (nm) and ground sample distance (m)."""

    name: str
    wavelength_nm: float | None = None
    gsd_m: float | None = None
    sensor: str | None = None


@dataclass(frozen=True)
class Sensor:
    name: str
    bands: tuple[Band, ...]

    @property
    def band_names(self) -> list[str]:
        return [b.name for b in self.bands]

    def band(self, name: str) -> Band:
        for b in self.bands:
            if b.name == name:
                return b
        raise KeyError(name)


def _sensor(name: str, spec: list[tuple[str, float | None, float | None]]) -> Sensor:
    return Sensor(name, tuple(Band(n, w, g, name) for n, w, g in spec))


# Centre wavelengths: Sentinel-2A MSI spectral response (ESA), Landsat 8/9 OLI/TIRS (USGS).
SENSORS: dict[str, Sensor] = {
    s.name: s
    for s in [
        _sensor(
            "sentinel-2",
            [
                ("B01", 442.7, 60),
                ("B02", 492.4, 10),
                ("B03", 559.8, 10),
                ("B04", 664.6, 10),
                ("B05", 704.1, 20),
                ("B06", 740.5, 20),
                ("B07", 782.8, 20),
                ("B08", 832.8, 10),
                ("B8A", 864.7, 20),
                ("B09", 945.1, 60),
                ("B10", 1373.5, 60),
                ("B11", 1613.7, 20),
                ("B12", 2202.4, 20),
            ],
        ),
        _sensor(
            "landsat-8-9",
            [
                ("B1", 443, 30),
                ("B2", 482, 30),
                ("B3", 561.5, 30),
                ("B4", 654.5, 30),
                ("B5", 865, 30),
                ("B6", 1608.5, 30),
                ("B7", 2200.5, 30),
                ("B8", 589.5, 15),
                ("B9", 1373.5, 30),
                ("B10", 10895, 100),
                ("B11", 12005, 100),
            ],
        ),
        _sensor("naip", [("red", 635, 0.6), ("green", 555, 0.6), ("blue", 465, 0.6), ("nir", 845, 0.6)]),
        _sensor("rgb", [("red", 640, None), ("green", 550, None), ("blue", 465, None)]),
        _sensor("sentinel-1", [("VV", None, 10), ("VH", None, 10)]),
    ]
}
SENTINEL2_ORDER = SENSORS["sentinel-2"].band_names

# Band names as they end a file name: T31UDQ_20170829T105019_B8A.tif, LC08_..._B10.TIF, ..._VV.tif
_S2_FILE = re.compile(r"(?:^|[_\-.])(B(?:0[1-9]|1[0-2]|8A))(?:_\d+m)?$", re.IGNORECASE)
_LANDSAT_FILE = re.compile(r"^L[COTE]0[89]_.*_(B(?:[1-9]|1[01]))$", re.IGNORECASE)
_S1_FILE = re.compile(r"(?:^|[_\-.])(VV|VH)$", re.IGNORECASE)


def band_from_filename(stem: str) -> tuple[str, str] | None:
    """(sensor, band name) that a band file's name declares, or None."""
    if m := _LANDSAT_FILE.search(stem):
        return "landsat-8-9", m.group(1).upper()
    if m := _S2_FILE.search(stem):
        return "sentinel-2", m.group(1).upper()
    if m := _S1_FILE.search(stem):
        return "sentinel-1", m.group(1).upper()
    return None


def get_sensor(name: str) -> Sensor:
    key = name.lower().replace("_", "-")
    aliases = {
        "s2": "sentinel-2",
        "sentinel2": "sentinel-2",
        "landsat": "landsat-8-9",
        "landsat-8": "landsat-8-9",
        "landsat-9": "landsat-8-9",
        "s1": "sentinel-1",
        "sentinel1": "sentinel-1",
    }
    key = aliases.get(key, key)
    if key not in SENSORS:
        raise RsvisionError(f"unknown sensor {name!r}; known: {', '.join(SENSORS)}")
    return SENSORS[key]


def guess_sensor(
    count: int, dtype: str, name: str = "", descriptions: tuple[str | None, ...] = (), colours: tuple[str, ...] = ()
) -> Sensor | None:
    """Best guess of a single file's sensor from its band count, dtype, file name, band descriptions and
    colour interpretation (``colours``: rasterio ColorInterp names, alpha bands already removed)."""
    lowered = name.lower()
    descs = [d.upper() for d in descriptions if d]
    if descs and all(d in SENTINEL2_ORDER for d in descs):
        return SENSORS["sentinel-2"]
    if "naip" in lowered and count == 4:
        return SENSORS["naip"]
    if count == 13 and dtype in ("uint16", "int16", "float32"):
        return SENSORS["sentinel-2"]
    if (lowered.startswith(("s1a", "s1b", "s1c")) or "sentinel1" in lowered or "sentinel-1" in lowered) and count == 2:
        return SENSORS["sentinel-1"]
    if count == 3 and (dtype == "uint8" or colours == ("red", "green", "blue")):
        return SENSORS["rgb"]
    if count == 4 and dtype == "uint8":
        return SENSORS["naip"]
    return None


# Common band names and the centre wavelengths (nm) they cover: Landsat 8's and Sentinel-2's visible and NIR bands
# fall inside, their coastal aerosol bands (443 nm) and red edges (705-783 nm) outside.
COMMON_BANDS: dict[str, tuple[float, float]] = {
    "blue": (450, 520),
    "green": (520, 600),
    "red": (620, 690),
    "nir": (780, 900),
}


def band_for_common_name(name: str, bands: list[Band]) -> Band | None:
    """The band among ``bands`` that a common name (``red``, ``nir`` ...) means: its centre wavelength in the
    name's range, the nearest to the range's middle, the finest among equals. None when no band fits."""
    span = COMMON_BANDS.get(name.lower())
    return band_in_range(bands, *span) if span else None


def band_in_range(bands: list[Band], lo: float, hi: float) -> Band | None:
    """The band whose centre wavelength lies in ``[lo, hi]`` nm, the nearest to the range's middle, the finest
    among equals; None when none does."""
    fits = [b for b in bands if b.wavelength_nm is not None and lo <= b.wavelength_nm <= hi]
    if not fits:
        return None
    return min(fits, key=lambda b: (abs(b.wavelength_nm - (lo + hi) / 2), b.gsd_m or 0.0))  # type: ignore[operator]
