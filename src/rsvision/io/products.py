"""Product folders and archives: which files of a Sentinel-2 SAFE (L1C, L2A), a Landsat Collection 2 (Level-1,
Level-2) or a Sentinel-1 GRD SAFE product are its bands, and its rule to reflectance from its own metadata.

A product is a folder or its ``.zip`` / ``.tar``; archives are read in place through GDAL's ``/vsizip/`` and
``/vsitar/`` (nothing is unpacked). :func:`find_product` only lists and parses; ``open_scene`` stacks the bands.
"""

from __future__ import annotations

import json
import re
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rsvision.core.sensors import SENSORS, SENTINEL2_ORDER
from rsvision.errors import NoBandFilesError, UnreadableRasterError
from rsvision.io.scaling import Scaling

ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")
# What a folder holds at its top when it is a product (cheap to test before walking the tree)
_MARKERS = re.compile(r"^(MTD_MSIL(1C|2A)\.xml|manifest\.safe|L[COTEM]\d\d_\w+_MTL\.(txt|json))$", re.IGNORECASE)
# Sentinel-2 L2A scene classes that hide the ground: cloud shadow, cloud medium / high probability, thin cirrus
SCL_CLOUD_CLASSES = (3, 8, 9, 10)


@dataclass(frozen=True)
class Product:
    """A product's bands: GDAL paths and band names in stack order, its sensor and reflectance rule."""

    label: str
    files: list[str]
    names: list[str]
    sensor: str | None
    scaling: Scaling | None = None
    categorical: tuple[str, ...] = ()  # bands of classes: resampled by nearest neighbour, never blended


class _Tree:
    """A product's files, in a folder or an archive: their names (relative, ``/``-separated), text and GDAL path."""

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            self.vsi, self.names = None, sorted(f.relative_to(path).as_posix() for f in path.rglob("*") if f.is_file())
            return
        try:
            if path.name.lower().endswith(".zip"):
                with zipfile.ZipFile(path) as z:
                    self.vsi, self.names = "/vsizip/", sorted(n for n in z.namelist() if not n.endswith("/"))
            else:
                with tarfile.open(path) as t:
                    self.vsi, self.names = "/vsitar/", sorted(m.name for m in t.getmembers() if m.isfile())
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
            raise UnreadableRasterError(
                f"cannot read {path} as an archive ({err}); copy or download it again"
            ) from None

    def gdal_path(self, name: str) -> str:
        if self.vsi is None:
            return str(self.path / name)
        return f"{self.vsi}{{{self.path.resolve()}}}/{name}"  # braces: an archive path may hold any character

    def text(self, name: str) -> str:
        if self.vsi is None:
            return (self.path / name).read_text()
        if self.vsi == "/vsizip/":
            with zipfile.ZipFile(self.path) as z:
                return z.read(name).decode()
        with tarfile.open(self.path) as t:
            return t.extractfile(name).read().decode()  # type: ignore[union-attr]

    def match(self, pattern: re.Pattern) -> list[tuple[str, re.Match]]:
        return [(n, m) for n in self.names if (m := pattern.search(n))]


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVES)


def find_product(path: Path) -> Product | None:
    """The product a folder or archive holds; None for a folder that is no product (a plain folder of band
    files). An archive that holds no known product is an error: it has no other reading."""
    if path.is_dir():
        if not any(_MARKERS.match(f.name) for f in path.iterdir()):
            return None
    elif not is_archive(path):
        return None
    tree = _Tree(path)
    for recognise in (_sentinel2, _landsat, _sentinel1):
        if (product := recognise(tree)) is not None:
            return product
    if path.is_dir():
        return None
    raise NoBandFilesError(
        f"{path} holds no product rsvision knows (a Sentinel-2 .SAFE, a Landsat Collection 2 scene with its MTL"
        " file, a Sentinel-1 GRD .SAFE); unpack it and open its band files"
    )


# ----------------------------------------------------------------------------- Sentinel-2 SAFE


_S2_MTD = re.compile(r"(?:^|/)MTD_MSIL(1C|2A)\.xml$")
_S2_BAND = re.compile(r"(?:^|/)GRANULE/[^/]+/IMG_DATA/(?:R(\d\d)m/)?[^/]*_(B\d[\dA]|SCL)(?:_\d\dm)?\.jp2$", re.I)


def _sentinel2(tree: _Tree) -> Product | None:
    metadata = tree.match(_S2_MTD)
    if not metadata:
        return None
    finest: dict[str, tuple[int, str]] = {}  # band -> (resolution, file): L2A holds most bands at several
    for name, m in tree.match(_S2_BAND):
        band, res = m.group(2).upper(), int(m.group(1) or 0)
        if band not in finest or res < finest[band][0]:
            finest[band] = (res, name)
    order = [b for b in [*SENTINEL2_ORDER, "SCL"] if b in finest]
    if not order:
        raise NoBandFilesError(f"{tree.path} holds {metadata[0][0]} but no band files under GRANULE/*/IMG_DATA")
    level = metadata[0][1].group(1)
    scaling = sentinel2_scaling(tree.text(metadata[0][0]), level)
    files = [tree.gdal_path(finest[b][1]) for b in order]
    return Product(str(tree.path), files, order, "sentinel-2", scaling, ("SCL",))


_L1C_TAGS = ("QUANTIFICATION_VALUE", "RADIO_ADD_OFFSET")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class _S2Metadata:
    """What an MTD_MSIL1C.xml / MTD_MSIL2A.xml says of its values."""

    quantification: float | None = None
    baseline: str | None = None
    offsets: dict[int, float] = field(default_factory=dict)  # band id -> offset
    ids: dict[int, str] = field(default_factory=dict)  # band id -> band name
    fill: float = 0.0


def _s2_metadata(xml: str, level: str) -> _S2Metadata:
    # each level's own tags: an L2A file may repeat its L1C's
    quant_tag, offset_tag = ("BOA_QUANTIFICATION_VALUE", "BOA_ADD_OFFSET") if level == "2A" else _L1C_TAGS
    meta = _S2Metadata()
    for el in ET.fromstring(xml).iter():
        tag, text = _local(el.tag), (el.text or "").strip()
        if tag == quant_tag:
            meta.quantification = float(text)
        elif tag == offset_tag:
            meta.offsets[int(el.get("band_id", -1))] = float(text)
        elif tag == "PROCESSING_BASELINE":
            meta.baseline = text
        elif tag == "Spectral_Information" and el.get("physicalBand"):
            meta.ids[int(el.get("bandId", -1))] = _s2_band_name(el.get("physicalBand", ""))
        elif tag == "Special_Values" and _child_text(el, "SPECIAL_VALUE_TEXT") == "NODATA":
            meta.fill = float(_child_text(el, "SPECIAL_VALUE_INDEX") or 0)
    return meta


def sentinel2_scaling(xml: str, level: str = "1C") -> Scaling | None:
    """The rule of an MTD_MSIL1C.xml / MTD_MSIL2A.xml: reflectance = (DN + offset) / quantification, the offset
    (``RADIO_ADD_OFFSET`` / ``BOA_ADD_OFFSET`` per band id, -1000 from processing baseline 04.00 on) 0 before.
    None when the file holds no quantification value."""
    meta = _s2_metadata(xml, level)
    q = meta.quantification
    if not q:
        return None
    ids = meta.ids or dict(enumerate(SENTINEL2_ORDER))
    factors = {name: (1 / q, meta.offsets.get(i, 0.0) / q) for i, name in ids.items()}
    factors["SCL"] = (1.0, 0.0)  # classes, kept as they are
    label = f"sentinel-2 {'boa' if level == '2A' else 'toa'}, baseline {meta.baseline or 'unknown'}"
    distinct = set(meta.offsets.values())
    if len(distinct) == 1:
        label += f", offset {distinct.pop():g}"
    elif distinct:
        label += ", offsets per band"
    return Scaling(f"{label}, quantification {q:g}", factors, meta.fill)


def _s2_band_name(physical: str) -> str:
    """``B1`` -> ``B01``, ``B8A`` -> ``B8A``: MTD files name bands without the catalogue's zero."""
    digits = physical[1:]
    return f"B{digits.zfill(2)}" if digits.isdigit() else physical


def _child_text(el: ET.Element, tag: str) -> str | None:
    for child in el:
        if _local(child.tag) == tag:
            return (child.text or "").strip()
    return None


def scl_cloud_mask(scene, window=None) -> np.ndarray:
    """True where a Sentinel-2 L2A scene's ``SCL`` classes it as cloud shadow (3), cloud of medium (8) or high
    (9) probability or thin cirrus (10), in ``window`` (the whole scene by default); False elsewhere and where
    SCL has no data. The SCL band is read by nearest neighbour, so classes are never blended."""
    if "SCL" not in scene.band_names:
        raise NoBandFilesError(f"{scene.path} has no SCL band (a Sentinel-2 L2A product has one)")
    classes = scene.read(window, ["SCL"], scale="raw")
    return np.isin(np.ma.getdata(classes[0]), SCL_CLOUD_CLASSES) & ~np.ma.getmaskarray(classes[0])


# ----------------------------------------------------------------------------- Landsat Collection 2


_MTL = re.compile(r"(?:^|/)(L[COTEM]\d\d)_\w+_MTL\.(txt|json)$", re.I)
_LS_BAND = re.compile(r"(?:^|/)(L[COTEM]\d\d)_[^/]*?_(SR_|ST_)?B(\d{1,2})\.TIF$", re.I)
_LS_SENSORS = {
    "LC08": "landsat-8-9",
    "LC09": "landsat-8-9",
    "LE07": "landsat-7",
    "LT05": "landsat-4-5",
    "LT04": "landsat-4-5",
}


def _landsat(tree: _Tree) -> Product | None:
    mtl = tree.match(_MTL)
    if not mtl:
        return None
    bands = {f"B{int(m.group(3))}": (name, m.group(2)) for name, m in tree.match(_LS_BAND)}  # QA files: no B<n>
    if not bands:
        raise NoBandFilesError(f"{tree.path} holds {mtl[0][0]} but no band files (..._B4.TIF, ..._SR_B4.TIF)")
    sensor = _LS_SENSORS.get(mtl[0][1].group(1).upper())
    sensor = sensor if sensor in SENSORS else None
    order = SENSORS[sensor].band_names if sensor else []
    names = sorted(bands, key=lambda b: (order.index(b) if b in order else len(order), int(b[1:])))
    mtl_name = min((n for n, _ in mtl), key=lambda n: not n.lower().endswith(".json"))  # JSON first: typed
    metadata = _mtl_values(tree.text(mtl_name), mtl_name.lower().endswith(".json"))
    scaling = landsat_scaling(metadata, {b: bool(prefix) for b, (_, prefix) in bands.items()})
    return Product(str(tree.path), [tree.gdal_path(bands[b][0]) for b in names], names, sensor, scaling)


def _mtl_values(text: str, is_json: bool) -> dict[str, str]:
    """An MTL file's values keyed ``GROUP/KEY`` by their innermost group (Level-2 files repeat Level-1 keys)."""
    out: dict[str, str] = {}
    if is_json:

        def walk(node: dict, group: str) -> None:
            for key, value in node.items():
                if isinstance(value, dict):
                    walk(value, key)
                else:
                    out[f"{group}/{key}"] = str(value)

        walk(json.loads(text), "")
        return out
    groups = [""]
    for line in text.splitlines():
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep:
            continue
        if key == "GROUP":
            groups.append(value)
        elif key == "END_GROUP":
            groups.pop()
        else:
            out[f"{groups[-1]}/{key}"] = value.strip('"')
    return out


def landsat_scaling(mtl: dict[str, str], level2: dict[str, bool]) -> Scaling | None:
    """Each band's rule from MTL values: Level-2 surface reflectance DN * mult + add (2.75e-05, -0.2) and surface
    temperature in kelvin; Level-1 top-of-atmosphere reflectance (DN * mult + add) / sin(sun elevation), as USGS
    defines it, and radiance for thermal bands. None when the MTL holds no rule."""
    sun = float(mtl.get("IMAGE_ATTRIBUTES/SUN_ELEVATION", "90"))
    toa = 1 / np.sin(np.radians(sun))
    factors: dict[str, tuple[float, float]] = {}
    for band, is_l2 in level2.items():
        n = band[1:]
        if is_l2:
            rules = [("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", f"REFLECTANCE_{{}}_BAND_{n}", 1.0)]
            rules.append(("LEVEL2_SURFACE_TEMPERATURE_PARAMETERS", f"TEMPERATURE_{{}}_BAND_ST_B{n}", 1.0))
        else:
            rules = [("LEVEL1_RADIOMETRIC_RESCALING", f"REFLECTANCE_{{}}_BAND_{n}", toa)]
            rules.append(("LEVEL1_RADIOMETRIC_RESCALING", f"RADIANCE_{{}}_BAND_{n}", 1.0))
        for group, key, k in rules:
            mult, add = mtl.get(f"{group}/{key.format('MULT')}"), mtl.get(f"{group}/{key.format('ADD')}")
            if mult is not None and add is not None:
                factors[band] = (float(mult) * k, float(add) * k)
                break
    if not factors:
        return None
    if any(level2.values()):
        return Scaling("landsat c2 l2 surface reflectance (thermal: kelvin)", factors, 0)
    return Scaling(f"landsat c2 l1 toa reflectance, sun elevation {sun:g} (thermal: radiance)", factors, 0)


# ----------------------------------------------------------------------------- Sentinel-1 GRD SAFE


_S1_MEASUREMENT = re.compile(r"(?:^|/)measurement/s1[a-d]-[^/]*-(vv|vh|hh|hv)-[^/]*\.tiff?$", re.I)
_S1_ORDER = ("VV", "VH", "HH", "HV")


def _sentinel1(tree: _Tree) -> Product | None:
    found = {m.group(1).upper(): name for name, m in tree.match(_S1_MEASUREMENT)}
    if not found:
        return None
    names = [p for p in _S1_ORDER if p in found]
    return Product(str(tree.path), [tree.gdal_path(found[p]) for p in names], names, "sentinel-1")
