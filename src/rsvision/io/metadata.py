"""What a raster file says about its bands and sensor beyond its pixels, and the names its bands get from that.

What GDAL 3.10 exposes, checked on ENVI files whose ``.hdr`` was written as ENVI writes it:

- ``wavelength = {0.482500, ...}`` with ``wavelength units = Micrometers``: each band's default-domain items
  ``wavelength`` (the header's text, ``"0.482500"``) and ``wavelength_units`` (also a dataset item); since GDAL 3.10
  also the band's IMAGERY domain ``CENTRAL_WAVELENGTH_UM`` (rounded to three decimals: ``"0.482"``) and, from
  ``fwhm``, ``FWHM_UM``. GeoTIFFs keep IMAGERY items a writer set (in GDAL's metadata tag).
- ``sensor type = Landsat ETM``: the dataset's ENVI domain only, as ``sensor_type`` (every header field is there,
  spaces turned to ``_``); not in the default domain.
- ``band names``: the band descriptions, with GDAL's `` (0.482500 Micrometers)`` appended when a wavelength is given.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rsvision.core.progress import plural
from rsvision.core.sensors import Band, Sensor, band_from_filename, match_bands, sensor_from_text
from rsvision.errors import BandCountError, UnreadableRasterError

# Nanometres per unit of ENVI's `wavelength units` (and the spellings other writers use)
_UNITS = {
    "nanometers": 1.0,
    "nanometres": 1.0,
    "nm": 1.0,
    "micrometers": 1e3,
    "micrometres": 1e3,
    "microns": 1e3,
    "um": 1e3,
    "µm": 1e3,
    "millimeters": 1e6,
    "mm": 1e6,
    "meters": 1e9,
    "m": 1e9,
}
_NO_WAVELENGTH_UNITS = {"index", "unknown", ""}  # ENVI's "Index": the values number the bands
_SENSOR_KEYS = ("SENSOR", "SENSOR_TYPE", "SATELLITE", "SATELLITEID", "SPACECRAFT_ID", "PLATFORM", "MISSION")
_GDAL_WAVELENGTH_SUFFIX = re.compile(r"\s*\(\s*[-+.\deE]+(?:\s+[^()]*)?\)$")
# A band name inside a longer description: "B04", "SR_B4 reflectance", "(Band 4)", "band_8A"
_BAND_TOKEN = re.compile(r"(?<![a-z0-9])(?:b|band[\s_]*)(0?[1-9]|1[0-2]|8a)(?![0-9a-z])", re.IGNORECASE)


@dataclass(frozen=True)
class FileBands:
    """What a file declares: its sensor (a catalogue key), each band's centre wavelength (nm) and description
    (GDAL's appended wavelength removed), and for a single-band file the (sensor, band) its name declares."""

    sensor: str | None
    wavelengths: tuple[float | None, ...]
    descriptions: tuple[str | None, ...]
    filename_band: tuple[str, str] | None = None


@dataclass(frozen=True)
class Naming:
    """The bands' names, their ``origin`` (see :data:`rsvision.core.sensors.ORIGINS`), the file's wavelengths and
    the scene's sensor."""

    names: list[str]
    origin: str | None
    wavelengths: list[float | None]
    sensor: str | None


def envi_header_error(path: str) -> UnreadableRasterError:
    """The error for an ENVI ``.hdr`` given instead of its data file, naming the data file when it is beside it."""
    hdr = Path(path)
    data = sorted(  # x.hdr beside x.dat, x.img or x; x.dat.hdr beside x.dat
        p
        for p in hdr.parent.iterdir()
        if hdr.stem in (p.name, p.stem) and p.suffix.lower() not in (".hdr", ".xml") and p.is_file()
    )
    beside = f" ({data[0]})" if data else ""
    return UnreadableRasterError(f"{path} is an ENVI header; open the data file beside it{beside} instead")


def read_file_bands(ds, indexes: Sequence[int], path: str) -> FileBands:
    """What the open dataset ``ds`` and its file name declare about bands ``indexes`` (1-based)."""
    problems: list[str] = []
    wavelengths = tuple(_wavelength_nm(ds, i, problems) for i in indexes)
    if problems:
        warnings.warn(f"{path}: {problems[0]}; wavelengths read from the file are ignored", UserWarning, stacklevel=4)
        wavelengths = tuple(None for _ in indexes)
    descriptions = tuple(
        _GDAL_WAVELENGTH_SUFFIX.sub("", d) if d and ds.driver == "ENVI" and ds.tags(i).get("wavelength") else d
        for d, i in zip((ds.descriptions[i - 1] for i in indexes), indexes)
    )
    filename_band = band_from_filename(Path(path).stem) if len(indexes) == 1 else None
    sensor = _declared_sensor(ds, path, len(indexes), filename_band)
    if sensor is None and all(descriptions):  # ENVI band names often name their source: "(Band 1):L71119038_..."
        named = {sensor_from_text(d, len(indexes)) for d in descriptions}  # type: ignore[arg-type]
        sensor = named.pop() if len(named) == 1 else None
    return FileBands(sensor, wavelengths, descriptions, filename_band)


def _wavelength_nm(ds, index: int, problems: list[str]) -> float | None:
    """Band ``index``'s centre wavelength in nm from its ENVI-style ``wavelength`` + ``wavelength_units`` items,
    else its IMAGERY ``CENTRAL_WAVELENGTH_UM``; a value that is no number or in unknown units goes to
    ``problems``."""
    tags = {k.lower(): v for k, v in ds.tags(index).items()}
    value = tags.get("wavelength")
    if value is not None and value.strip():
        # GDAL leaves ENVI's "Index" and "Unknown" units out of the band's items; its ENVI domain keeps them
        declared = tags.get("wavelength_units") or ds.tags().get("wavelength_units")
        units = (declared or ds.tags(ns="ENVI").get("wavelength_units") or "").strip().lower()
        number = _number(value)
        if number is None:
            problems.append(f"band {index}'s wavelength {value.strip()!r} is not a positive number")
            return None
        if units in _NO_WAVELENGTH_UNITS:
            if units == "index":
                return None
            return number * (1e3 if number < 100 else 1.0)  # no units: micrometres below 100, else nanometres
        if units not in _UNITS:
            problems.append(f"band {index}'s wavelength units {units!r} are not a length (nanometers, micrometers)")
            return None
        return number * _UNITS[units]
    central = ds.tags(index, ns="IMAGERY").get("CENTRAL_WAVELENGTH_UM")
    if central is None:
        return None
    number = _number(central)
    if number is None:
        problems.append(f"band {index}'s CENTRAL_WAVELENGTH_UM {central!r} is not a positive number")
        return None
    return number * 1e3


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value > 0 and value == value else None


def _declared_sensor(ds, path: str, count: int, filename_band: tuple[str, str] | None) -> str | None:
    """The sensor the file's header names (ENVI ``sensor type``, IMAGERY ``SATELLITEID``, TIFF tags such as
    ``SENSOR``), else its product file name (``LE07_L1TP_...``), else a single band file's name (``..._B04.tif``),
    else its TIFF image description; None when nothing names one of the catalogue."""
    default = {k.upper(): v for k, v in ds.tags().items()}
    values = [ds.tags(ns="ENVI").get("sensor_type"), ds.tags(ns="IMAGERY").get("SATELLITEID")]
    values += [default.get(key) for key in _SENSOR_KEYS]
    for value in values:
        if value and (sensor := sensor_from_text(value, count)):
            return sensor
    if sensor := sensor_from_text(Path(path).name, count):
        return sensor
    if filename_band:
        return filename_band[0]
    text = default.get("TIFFTAG_IMAGEDESCRIPTION")
    return sensor_from_text(text, count) if text else None


def name_bands(
    path: str,
    found: FileBands,
    sensor: Sensor | None,
    sensor_from: str,
    band_names: Sequence[str] | None,
    guess: Sensor | None = None,
) -> Naming:
    """Names for a file's bands, first that applies: ``band_names`` (origin "user"); a single band file's name
    (``..._B04.tif``); the sensor's catalogue bands nearest the file's wavelengths; band names inside the
    descriptions (``Band 4``, ``SR_B4``) that the sensor has; the descriptions; the sensor's bands by count (origin
    "catalogue"), or the ``guess``'s when the sensor the file names has other bands (an RGB quicklook named
    ``S2A_MSIL2A_...``); ``band1..N`` (origin None). ``sensor_from``: "user", "file" or "guess"; a guessed sensor
    that the file's wavelengths contradict is dropped, a sensor the user gave must fit the band count."""
    wavelengths = list(found.wavelengths)
    count = len(wavelengths)
    if band_names is not None:
        if len(band_names) != count:
            raise BandCountError(f"{path} has {plural(count, 'band')} but {len(band_names)} band names were given")
        return Naming(list(band_names), "user", wavelengths, sensor.name if sensor else None)
    if found.filename_band and (sensor is None or sensor.name == found.filename_band[0]):
        return Naming([found.filename_band[1]], "file", wavelengths, found.filename_band[0])
    if sensor is not None and all(w is not None for w in wavelengths):
        matched = match_bands([Band("", w) for w in wavelengths], list(sensor.bands))
        names = [m.name for m in matched if m is not None]
        if len(set(names)) == count:
            return Naming(names, "file", wavelengths, sensor.name)
        if sensor_from == "guess":
            sensor = None
    descriptions = found.descriptions
    if sensor is not None and all(descriptions):
        tokens = [_band_token(d, sensor) for d in descriptions]  # type: ignore[arg-type]
        if all(tokens) and len(set(tokens)) == count:
            return Naming(tokens, "file", wavelengths, sensor.name)  # type: ignore[arg-type]
    sensor_name = sensor.name if sensor else None
    if all(descriptions) and len(set(descriptions)) == count:
        return Naming(list(descriptions), "file", wavelengths, sensor_name)  # type: ignore[arg-type]
    if sensor is not None and len(sensor.bands) == count:
        return Naming(sensor.band_names, "catalogue", wavelengths, sensor_name)
    if sensor_from == "file" and guess is not None and len(guess.bands) == count:
        return Naming(guess.band_names, "catalogue", wavelengths, guess.name)
    if sensor is not None and sensor_from == "user":
        raise BandCountError(
            f"{path} has {plural(count, 'band')} but sensor {sensor.name!r} has {len(sensor.bands)}; pass band_names"
        )
    return Naming([f"band{i}" for i in range(1, count + 1)], None, wavelengths, sensor_name)


def _band_token(description: str, sensor: Sensor) -> str | None:
    """The sensor's band that a description names inside a longer string (``Band 4`` -> Landsat ``B4``,
    Sentinel-2 ``B04``), or None when it names none, or several."""
    numbers = {m.group(1).upper().lstrip("0") for m in _BAND_TOKEN.finditer(description)}
    if len(numbers) != 1:
        return None
    n = numbers.pop()
    return next((name for name in (f"B{n}", f"B{n:0>2}") if name in sensor.band_names), None)
