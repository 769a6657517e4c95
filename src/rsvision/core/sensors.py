"""Sensor catalogue: band names, centre wavelengths and nominal ground sample distance; which band a file name
declares and which sensor a product name or header text names; which band a common name (red, nir ...) means, and
which band of one sensor matches a band of another by centre wavelength."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from rsvision.errors import RsvisionError

# Where a band's identity (name, wavelength) came from, as Band.origin says: read from the file (its metadata, band
# descriptions or file name), the sensor catalogue's names taken by band count, or given by the caller.
ORIGINS = ("file", "catalogue", "user")


@dataclass(frozen=True)
class Band:
    """One band of a scene: its name, centre wavelength (nm) and ground sample distance (m). ``origin``: where the
    name came from (one of :data:`ORIGINS`; None: nothing is known, a placeholder such as ``band1``); it takes no
    part in equality."""

    name: str
    wavelength_nm: float | None = None
    gsd_m: float | None = None
    sensor: str | None = None
    origin: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Sensor:
    """A sensor's bands in their canonical order; ``extras``: further layers of its products that are no spectral
    band (Sentinel-2 L2A's SCL, AOT, WVP), found by :meth:`band` but not part of the band order."""

    name: str
    bands: tuple[Band, ...]
    extras: tuple[Band, ...] = ()

    @property
    def band_names(self) -> list[str]:
        return [b.name for b in self.bands]

    def band(self, name: str) -> Band:
        for b in self.bands + self.extras:
            if b.name == name:
                return b
        raise KeyError(name)


Spec = list[tuple[str, float | None, float | None]]


def _sensor(name: str, spec: Spec, extras: Spec | None = None) -> Sensor:
    def bands(rows: Spec) -> tuple[Band, ...]:
        return tuple(Band(n, w, g, name) for n, w, g in rows)

    return Sensor(name, bands(spec), bands(extras or []))


# Centre wavelengths: Sentinel-2A MSI spectral response (ESA), Landsat 8/9 OLI/TIRS (USGS). Landsat 4-5 TM and
# Landsat 7 ETM+: the middle of each band's range in USGS's "What are the band designations for the Landsat
# satellites?" (TM B4 0.76-0.90 um, ETM+ B4 0.77-0.90 um, B6 10.40-12.50 um ...), GSD as there (TM B6 120 m, ETM+ B6
# 60 m, ETM+ B8 15 m; USGS delivers the thermal bands resampled to 30 m). PlanetScope: the middle of each band's range
# in Planet's PSScene documentation for the SuperDove (PSB.SD) instrument, 8 bands (coastal_blue 431-452 nm ... nir
# 845-885 nm) and the 4-band products made from them (blue 465-515, green 547-583, red 650-680, nir 845-885); the
# older Dove Classic (PS2) bands are wider (blue 455-515, green 500-590, red 590-670, nir 780-860), within the
# tolerance of match_bands. Order: sensors added later come last, so a band name found in several sensors
# (B1, red) resolves to the earlier one in rsvision.models.stem as before.
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
            # Sentinel-2 L2A's layers beside the bands: scene classification, aerosol optical thickness, water vapour
            [("SCL", None, 20), ("AOT", None, 10), ("WVP", None, 10)],
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
        _sensor(
            "landsat-4-5",
            [
                ("B1", 485, 30),
                ("B2", 560, 30),
                ("B3", 660, 30),
                ("B4", 830, 30),
                ("B5", 1650, 30),
                ("B6", 11450, 120),
                ("B7", 2215, 30),
            ],
        ),
        _sensor(
            "landsat-7",
            [
                ("B1", 485, 30),
                ("B2", 560, 30),
                ("B3", 660, 30),
                ("B4", 835, 30),
                ("B5", 1650, 30),
                ("B6", 11450, 60),
                ("B7", 2220, 30),
                ("B8", 710, 15),
            ],
        ),
        _sensor("planetscope-4", [("blue", 490, 3), ("green", 565, 3), ("red", 665, 3), ("nir", 865, 3)]),
        _sensor(
            "planetscope-8",
            [
                ("coastal_blue", 441.5, 3),
                ("blue", 490, 3),
                ("green_i", 531, 3),
                ("green", 565, 3),
                ("yellow", 610, 3),
                ("red", 665, 3),
                ("rededge", 705, 3),
                ("nir", 865, 3),
            ],
        ),
    ]
}
SENTINEL2_ORDER = SENSORS["sentinel-2"].band_names

# Band names as they end a file name: T31UDQ_20170829T105019_B8A.tif, ..._SCL_20m.jp2 (Sentinel-2 L2A),
# LC08_..._B10.TIF, LE07_..._B1.TIF, LT05_L2SP_..._SR_B4.TIF, LC08_L2SP_..._ST_B10.TIF (Landsat Collection 2;
# ..._QA_PIXEL is no band), ..._VV.tif
_S2_FILE = re.compile(r"(?:^|[_\-.])(B(?:0[1-9]|1[0-2]|8A)|SCL|AOT|WVP)(?:_\d+m)?$", re.IGNORECASE)
_LANDSAT_FILE = re.compile(r"^L[COTE]0([45789])_.*_(B(?:[1-9]|1[01]))$", re.IGNORECASE)
_S1_FILE = re.compile(r"(?:^|[_\-.])(VV|VH)$", re.IGNORECASE)
_LANDSAT_MISSIONS = {"4": "landsat-4-5", "5": "landsat-4-5", "7": "landsat-7", "8": "landsat-8-9", "9": "landsat-8-9"}


def band_from_filename(stem: str) -> tuple[str, str] | None:
    """(sensor, band name) that a band file's name declares, or None."""
    if m := _LANDSAT_FILE.search(stem):
        sensor, name = _LANDSAT_MISSIONS[m.group(1)], m.group(2).upper()
        return (sensor, name) if name in SENSORS[sensor].band_names else None  # LT05_..._B8: TM has no band 8
    if m := _S2_FILE.search(stem):
        return "sentinel-2", m.group(1).upper()
    if m := _S1_FILE.search(stem):
        return "sentinel-1", m.group(1).upper()
    return None


# Product names in a file name: Landsat Collection 1/2 (LE07_L1TP_119038_20021017_...), pre-collection scene ids
# (LE71190382002290EDC00) and older L71119038_03820021017 names; Sentinel-2 products (S2A_MSIL2A_...) and granule
# files (T31UDQ_20170829T105019_...); PlanetScope ..._3B_AnalyticMS_SR_8b.tif (8 bands) or _AnalyticMS.tif (4).
_PRODUCTS = [
    (re.compile(r"(?<![a-z0-9])l[cote]0([45789])_l[0-9a-z]{3}_\d{6}_\d{8}"), "landsat"),
    (re.compile(r"(?<![a-z0-9])l[cote]([45789])\d{13}[a-z]{3}\d{2}"), "landsat"),
    (re.compile(r"(?<![a-z0-9])l([457])\d{7}_\d{11}"), "landsat"),
    (re.compile(r"(?<![a-z0-9])s2[abc]_msil(?:1c|2a)_"), "sentinel-2"),
    (re.compile(r"(?<![a-z0-9])t\d{2}[a-z]{3}_\d{8}t\d{6}(?![0-9a-z])"), "sentinel-2"),
    (re.compile(r"_analyticms"), "planetscope"),
]
# Sensor names in header text: ENVI's `sensor type` (Landsat TM, Landsat ETM, Sentinel-2 ...), GDAL's IMAGERY
# SATELLITEID (LANDSAT_7), TIFF tags. Landsat 7 first: "Enhanced Thematic Mapper" holds "Thematic Mapper".
_TEXT = [
    (re.compile(r"\betm\b|landsat[\s_-]*7|enhanced thematic mapper"), "landsat-7"),
    (re.compile(r"landsat[\s_-]*[45]\b|landsat[\s_-]*tm\b|thematic mapper"), "landsat-4-5"),
    (re.compile(r"landsat[\s_-]*(?:[89]\b|oli)"), "landsat-8-9"),
    (re.compile(r"sentinel[\s_-]*2|\bs2[abc]\b"), "sentinel-2"),
    (re.compile(r"sentinel[\s_-]*1|\bs1[abc]\b"), "sentinel-1"),
    (re.compile(r"planetscope|superdove|\bdove\b"), "planetscope"),
    (re.compile(r"\bnaip\b"), "naip"),
]


def sensor_from_text(text: str, count: int | None = None) -> str | None:
    """The catalogue sensor that a product name (``LE07_L1TP_...``, ``S2B_MSIL2A_...``, ``..._AnalyticMS_SR_8b``)
    or a header value (``Landsat ETM``, ``LANDSAT_7``, ``Sentinel-2A``) names, or None. ``count``: the file's band
    count, which tells PlanetScope's 4-band products from its 8-band ones."""
    lowered = text.lower()
    for pattern, family in _PRODUCTS:
        if m := pattern.search(lowered):
            return _family_member(family, m, lowered, count)
    for pattern, key in _TEXT:
        if pattern.search(lowered):
            return _family_member(key, None, lowered, count)
    return None


def _family_member(family: str, match: re.Match | None, text: str, count: int | None) -> str | None:
    if family == "landsat" and match is not None:
        return _LANDSAT_MISSIONS[match.group(1)]
    if family == "planetscope":
        if count == 8 or (count is None and "_8b" in text):
            return "planetscope-8"
        return "planetscope-4" if count in (4, None) else None
    return family


_ALIASES = {
    "s2": "sentinel-2",
    "sentinel2": "sentinel-2",
    "landsat": "landsat-8-9",
    "landsat-8": "landsat-8-9",
    "landsat-9": "landsat-8-9",
    "landsat8": "landsat-8-9",
    "landsat9": "landsat-8-9",
    "oli": "landsat-8-9",
    "landsat-7": "landsat-7",
    "landsat7": "landsat-7",
    "etm": "landsat-7",
    "etm+": "landsat-7",
    "landsat-4": "landsat-4-5",
    "landsat-5": "landsat-4-5",
    "landsat4": "landsat-4-5",
    "landsat5": "landsat-4-5",
    "tm": "landsat-4-5",
    "planetscope": "planetscope-4",
    "superdove": "planetscope-8",
    "s1": "sentinel-1",
    "sentinel1": "sentinel-1",
}


def get_sensor(name: str) -> Sensor:
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key, key)
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


def match_bands(source: list[Band], target: list[Band], tolerance: float = 0.05) -> list[Band | None]:
    """For each band of ``source``, the band of ``target`` whose centre wavelength is nearest to its own, if within
    ``tolerance`` (a fraction of the source band's wavelength: 0.05 is 24 nm at 485 nm, 111 nm at 2220 nm), the finest
    among equals; None for a band without a wavelength or with no target band near enough. Landsat 7 B1-B4 match
    Sentinel-2 B02, B03, B04, B08. Centres only: a broad band (ETM+ B8, panchromatic 520-900 nm) matches whatever
    band lies nearest its centre."""
    out: list[Band | None] = []
    for band in source:
        near = [
            t
            for t in target
            if band.wavelength_nm is not None
            and t.wavelength_nm is not None
            and abs(t.wavelength_nm - band.wavelength_nm) <= tolerance * band.wavelength_nm
        ]
        best = min(near, key=lambda t: (abs(t.wavelength_nm - band.wavelength_nm), t.gsd_m or 0.0), default=None)  # type: ignore[operator]
        out.append(best)
    return out


# Reflectance stored as integers (Sentinel-2 L1C/L2A: DN / 10000) to 8-bit true colour, as the usual true-colour
# rendering does it: reflectance 0 .. 0.4 onto 0 .. 255 (a gain of 2.5), brighter pixels saturate.
REFLECTANCE_SCALE = 10000.0
TRUE_COLOUR_GAIN = 2.5


def reflectance_to_8bit(
    values: np.ndarray, scale: float = REFLECTANCE_SCALE, gain: float = TRUE_COLOUR_GAIN
) -> np.ndarray:
    """``min(255, round(DN / scale * gain * 255))`` as uint8: integer reflectance to 8-bit true colour, for
    models trained on 8-bit RGB imagery."""
    out = np.asarray(values, dtype=np.float32) * np.float32(gain * 255.0 / scale)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
