"""STAC items as scenes: find items in a STAC API (or a static catalogue on disk), save them as item files, and
open one item's band assets as one :class:`~rsvision.io.scene.Scene` on one grid, as ``open_scene`` stacks a
folder of band files.

Remote assets are read in place through GDAL: ``http(s)://`` as ``/vsicurl/``, ``s3://`` as ``/vsis3/``,
``gs://`` as ``/vsigs/`` (credentials, if any, come from GDAL's usual environment variables)."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path
from urllib.parse import unquote, urlparse

import pystac
import pystac_client
import requests
from pystac.errors import STACError, STACTypeError
from pystac_client.errors import ClientTypeError
from pystac_client.exceptions import APIError
from pystac_client.warnings import DoesNotConformTo
from rasterio.enums import Resampling
from shapely.geometry import MultiPolygon, box, shape

from rsvision.core.files import atomic_output
from rsvision.core.sensors import SENSORS, sensor_from_text
from rsvision.errors import BandNotFoundError, InputNotFoundError, RsvisionError, first_line
from rsvision.io.scaling import Scaling
from rsvision.io.scene import Grid, Scene, _open_stack, _resampling

# Assets that are pictures of the scene or its metadata, not bands, whatever their media type
_NOT_BANDS = {"thumbnail", "overview", "visual", "metadata"}
_TIMEOUT_S = 60  # a STAC API that does not answer in a minute is down: an error, not a hang
# What pystac, pystac-client and requests raise for an unreachable, non-STAC or failing endpoint (requests'
# errors are OSErrors, bad JSON a ValueError; DoesNotConformTo: a catalogue without item search)
_STAC_ERRORS = (APIError, ClientTypeError, DoesNotConformTo, STACError, STACTypeError, OSError, ValueError, KeyError)


# ----------------------------------------------------------------------------- search


def search_items(
    url: str | PathLike,
    collection: str | None,
    bbox: str | Sequence[float] | None,
    datetime: str | None = None,
    max_items: int | None = None,
) -> list[pystac.Item]:
    """The items of ``collection`` whose footprint meets ``bbox`` (``"W,S,E,N"`` in degrees, or four numbers) and
    whose time meets ``datetime`` (``"A/B"``, either side ``..`` for open; one date or time alone), at most
    ``max_items``. ``url``: a STAC API, searched through pystac-client, or a static catalogue on disk (its
    ``catalog.json``, or the folder holding it), walked and filtered here. No item found is an error."""
    box_values = _parse_bbox(bbox)
    interval = _parse_interval(datetime) if datetime else None
    if max_items is not None and max_items < 1:
        raise RsvisionError(f"--max-items {max_items}: give a positive number of items")
    local = _local_catalogue(str(url))
    if local is not None:
        items = _walk_catalogue(local, collection, box_values, interval, max_items)
    else:
        items = _search_api(str(url), collection, box_values, datetime, max_items)
    if not items:
        raise RsvisionError(
            f"no STAC items in {url} for collection {collection!r}, bbox {bbox}, datetime {datetime or 'any'}; widen"
            " the bbox or the dates, or check the collection id"
        )
    return items


def _parse_bbox(bbox: str | Sequence[float] | None) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    parts = bbox.split(",") if isinstance(bbox, str) else list(bbox)
    try:
        values = tuple(float(v) for v in parts)
    except (TypeError, ValueError):
        values = ()
    if len(values) == 4 and all(map(math.isfinite, values)):
        w, s, e, n = values
        if -180 <= w <= 180 and -180 <= e <= 180 and w != e and -90 <= s <= n <= 90:
            return w, s, e, n  # west > east: the box crosses the antimeridian (as the STAC API spec reads it)
    raise RsvisionError(
        f"bad bbox {bbox!r}: give W,S,E,N in degrees of longitude and latitude, south <= north, such as"
        " 12.4,41.8,12.6,42.0 (west > east crosses the antimeridian: 179.5,-17,-179.5,-16)"
    )


def _bbox_area(bbox: tuple[float, float, float, float]):
    """The box as a shape in lon/lat: two boxes when it crosses the antimeridian (west > east)."""
    w, s, e, n = bbox
    return box(w, s, e, n) if w < e else MultiPolygon([box(w, s, 180, n), box(-180, s, e, n)])


def _parse_interval(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``"A/B"`` as (start, end), None for an open side (``..``); a date alone covers its whole day, and one
    value without ``/`` is both ends. Times without a zone are UTC, as STAC's are."""
    sides = text.split("/")
    try:
        if len(sides) > 2 or (len(sides) == 1 and sides[0].strip() in ("..", "")):
            raise ValueError(text)
        start, end = _parse_time(sides[0], end=False), _parse_time(sides[-1], end=True)
        if start and end and start > end:
            raise ValueError(text)
    except ValueError:
        raise RsvisionError(
            f"bad datetime {text!r}: give START/END as ISO dates or times, either side '..' for open, such as"
            " 2024-06-01/2024-06-30 or 2024-06-01T00:00:00Z/.."
        ) from None
    return start, end


def _parse_time(text: str, end: bool) -> dt.datetime | None:
    text = text.strip()
    if text in ("..", ""):
        return None
    if len(text) == 10:  # a date: from the start of its day, or to the end of it
        moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time.max if end else dt.time.min)
    else:
        moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _local_catalogue(url: str) -> Path | None:
    """The catalogue file ``url`` names on disk, None for a remote URL."""
    if url.startswith("file://"):
        url = unquote(urlparse(url).path)
    elif "://" in url:
        return None
    path = Path(url)
    if path.is_dir():
        for name in ("catalog.json", "collection.json"):
            if (path / name).is_file():
                return path / name
        raise InputNotFoundError(f"{path} holds no catalog.json or collection.json; point at a STAC catalogue")
    if not path.exists():
        raise InputNotFoundError(f"no such STAC catalogue: {path} (an API is given as http(s)://...)")
    return path


def _walk_catalogue(
    path: Path,
    collection: str | None,
    bbox: tuple[float, float, float, float] | None,
    interval: tuple[dt.datetime | None, dt.datetime | None] | None,
    max_items: int | None,
) -> list[pystac.Item]:
    """What an API's item search would give, for a static catalogue: its items filtered one by one."""
    area = _bbox_area(bbox) if bbox else None
    found: list[pystac.Item] = []
    try:
        root = pystac.read_file(str(path))
        items = [root] if isinstance(root, pystac.Item) else root.get_items(recursive=True)
        for item in items:
            if collection and item.collection_id != collection:
                continue
            if area is not None and not _footprint_meets(item, area):
                continue
            if interval is not None and not _time_meets(item, *interval):
                continue
            found.append(item)
            if max_items is not None and len(found) == max_items:
                break
    except _STAC_ERRORS as err:
        raise RsvisionError(f"cannot read {path} as a STAC catalogue ({first_line(err, 200)})") from None
    return found


def _footprint_meets(item: pystac.Item, area) -> bool:
    if item.geometry:
        return shape(item.geometry).intersects(area)
    return bool(item.bbox) and box(*item.bbox[:2], *item.bbox[-2:]).intersects(area)  # 3-D bboxes: 6 numbers


def _time_meets(item: pystac.Item, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    """Whether the item's time (its datetime, or its start_datetime..end_datetime) meets [start, end]."""
    meta = item.common_metadata
    first, last = meta.start_datetime or item.datetime, meta.end_datetime or item.datetime
    if first is None or last is None:
        return False
    first, last = (t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in (first, last))
    return (end is None or first <= end) and (start is None or last >= start)


def _search_api(
    url: str,
    collection: str | None,
    bbox: tuple[float, float, float, float] | None,
    datetime: str | None,
    max_items: int | None,
) -> list[pystac.Item]:
    try:
        client = pystac_client.Client.open(url, timeout=_TIMEOUT_S)
        search = client.search(
            collections=[collection] if collection else None, bbox=bbox, datetime=datetime, max_items=max_items
        )
        return list(search.items())
    except _STAC_ERRORS as err:
        offline = (requests.ConnectionError, requests.Timeout)  # pystac-client re-raises them as APIError
        if isinstance(err, offline) or isinstance(err.__cause__ or err.__context__, offline):
            raise RsvisionError(f"cannot reach the STAC API at {url}; check the URL and the network") from None
        status = getattr(err, "status_code", None)
        reason = f"HTTP {status}" if status else first_line(err, 200)
        raise RsvisionError(f"cannot search the STAC API at {url} ({reason}); check the URL") from None


# ----------------------------------------------------------------------------- save


def save_items(items: Sequence[pystac.Item], folder: str | PathLike) -> list[Path]:
    """Write each item as ``FOLDER/<item id>.json``, self-contained (asset hrefs absolute, no links into the
    catalogue it came from), so ``open_scene`` opens it later by path. Each file is written under a temporary
    name and renamed when complete; ``folder`` must exist."""
    paths = []
    for item in items:
        path = Path(folder) / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', item.id)}.json"
        text = json.dumps(_self_contained(item), indent=1)
        with atomic_output(path) as tmp:
            tmp.write_text(text)
        paths.append(path)
    return paths


def _self_contained(item: pystac.Item) -> dict:
    clone = item.clone()
    for asset in clone.assets.values():
        asset.href = asset.get_absolute_href() or asset.href  # relative hrefs were relative to the catalogue
    data = clone.to_dict(include_self_link=False, transform_hrefs=False)
    # Links back into a catalogue on disk would break once the file moves; links with URLs keep their meaning.
    data["links"] = [link for link in data.get("links", []) if "://" in link.get("href", "")]
    return data


# ----------------------------------------------------------------------------- open


def is_stac_item(path: str | PathLike) -> bool:
    """Whether ``path`` is a ``.json`` file holding one STAC item (a GeoJSON Feature with ``stac_version``)."""
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("type") == "Feature" and "stac_version" in data


def open_stac_item(
    item_or_path: pystac.Item | str | PathLike,
    assets: str | Sequence[str] | None = None,
    sensor: str | None = None,
    *,
    grid: str | Grid | None = None,
    resampling: str | Resampling = "bilinear",
) -> Scene:
    """An item's band assets as one scene on one grid (the finest asset's, a band's given by ``grid``, or a Grid).

    ``assets``: asset keys (``B04,B03,B02,B08``), their eo band names, or eo common names (``red,nir``), in the
    order to stack them; by default every GeoTIFF / COG / JP2 asset with the ``data`` role or eo bands (no
    thumbnails, overviews or visual composites), in the sensor's band order. A band is named by its asset's eo band
    name, else by the asset key. ``sensor``: a key of :data:`~rsvision.core.sensors.SENSORS`; by default guessed
    from the item's ``platform`` or ``constellation``."""
    item, label = _load_item(item_or_path)
    sensor = sensor or item_sensor(item)
    chosen = _chosen_assets(item, assets, sensor)
    files = [_asset_file(item, key, asset) for _, key, asset in chosen]
    names = [name for name, _, _ in chosen]
    scene = _open_stack(label, files, sensor, grid, _resampling(resampling), names)
    _add_asset_metadata(scene, item, chosen, files)
    scene.scaling = raster_scaling(item, chosen)
    return scene


def raster_scaling(item: pystac.Item, chosen: list[tuple[str, str, pystac.Asset]]) -> Scaling | None:
    """The raster extension's rule to physical values (``scale``, ``offset`` and ``nodata`` of ``raster:bands`` in
    STAC 1.0, or ``raster:scale`` / ``raster:offset`` on the asset or its ``bands`` in 1.1) as the scene's
    :class:`~rsvision.io.scaling.Scaling`, for the bands whose assets carry one (``--reflectance`` then names any
    without); None when none does. Earth Search's Sentinel-2 L2A items give 0.0001 and -0.1, for example."""
    factors, fills = {}, set()
    for name, _, asset in chosen:
        rule = _raster_rule(asset)
        if rule is not None:
            factors[name] = (rule[0], rule[1])
            fills.add(rule[2])
    if not factors:
        return None
    fill = fills.pop() if len(fills) == 1 else None
    return Scaling(f"STAC raster extension of item {item.id}", factors, fill)


def _raster_rule(asset: pystac.Asset) -> tuple[float, float, float | None] | None:
    """``(scale, offset, nodata)`` of a one-band asset, or None when it states neither scale nor offset."""
    fields = asset.extra_fields
    records = fields.get("raster:bands") or fields.get("bands") or [{}]
    record = records[0] if len(records) == 1 and isinstance(records[0], dict) else {}
    scale = record.get("scale", record.get("raster:scale", fields.get("raster:scale")))
    offset = record.get("offset", record.get("raster:offset", fields.get("raster:offset")))
    if scale is None and offset is None:
        return None
    nodata = record.get("nodata", fields.get("nodata"))
    return float(1.0 if scale is None else scale), float(offset or 0.0), None if nodata is None else float(nodata)


def item_sensor(item: pystac.Item) -> str | None:
    """The catalogue sensor an item's ``platform`` (sentinel-2a, landsat-8) or ``constellation`` names."""
    for key in ("platform", "constellation"):
        value = item.properties.get(key)
        if isinstance(value, str) and (name := sensor_from_text(value)) in SENSORS:
            return name
    return None


def gdal_path(href: str) -> str:
    """The path GDAL reads an asset href by: local paths as they are, ``http(s)://`` through ``/vsicurl/``,
    ``s3://bucket/key`` as ``/vsis3/bucket/key``, ``gs://`` as ``/vsigs/``."""
    scheme, sep, rest = href.partition("://")
    if not sep or href.startswith("/vsi"):
        return href
    scheme = scheme.lower()
    if scheme == "file":
        return unquote(urlparse(href).path)
    if scheme in ("http", "https"):
        return f"/vsicurl/{href}"
    if scheme in ("s3", "gs"):
        return f"/vsi{scheme}/{rest}"
    raise RsvisionError(f"cannot read asset {href}: rsvision reads local paths, http(s)://, s3:// and gs:// hrefs")


def _load_item(item_or_path: pystac.Item | str | PathLike) -> tuple[pystac.Item, str]:
    """The item and the scene's label (the path given, else the item's own href or id)."""
    if isinstance(item_or_path, pystac.Item):
        return item_or_path, item_or_path.get_self_href() or item_or_path.id
    text = str(item_or_path)
    if "://" not in text:
        if not Path(text).exists():
            raise InputNotFoundError(f"no such STAC item file: {text}")
        if not is_stac_item(text):
            raise RsvisionError(f"{text} is not a STAC item (a JSON Feature with stac_version)")
    try:
        return pystac.Item.from_file(text), text
    except _STAC_ERRORS as err:
        raise RsvisionError(f"cannot read {text} as a STAC item ({first_line(err, 200)})") from None


def _eo_bands(item: pystac.Item, asset: pystac.Asset) -> list[dict]:
    """The asset's band records: eo 1.x ``eo:bands`` or STAC 1.1 ``bands`` (whose fields carry an ``eo:``
    prefix); STAC 0.9 assets list positions into the item's own ``eo:bands``."""
    bands = asset.extra_fields.get("eo:bands") or asset.extra_fields.get("bands") or []
    listed = item.properties.get("eo:bands") or []
    out = []
    for b in bands:
        if isinstance(b, int) and 0 <= b < len(listed):
            b = listed[b]
        if isinstance(b, dict):
            out.append({k.removeprefix("eo:"): v for k, v in b.items()})
    return out


def _is_raster(asset: pystac.Asset) -> bool:
    media = (asset.media_type or "").lower()
    if media:
        return "image/tiff" in media or "geotiff" in media or "image/jp2" in media
    return Path(urlparse(asset.href).path).suffix.lower() in (".tif", ".tiff", ".jp2")


def _is_jp2(asset: pystac.Asset) -> bool:
    return "jp2" in (asset.media_type or "").lower() or asset.href.lower().endswith(".jp2")


def _band_name(item: pystac.Item, key: str, asset: pystac.Asset) -> str:
    bands = _eo_bands(item, asset)
    return bands[0]["name"] if len(bands) == 1 and bands[0].get("name") else key


def _chosen_assets(
    item: pystac.Item, assets: str | Sequence[str] | None, sensor: str | None
) -> list[tuple[str, str, pystac.Asset]]:
    """(band name, asset key, asset) to stack, in stack order."""
    rasters = [(_band_name(item, k, a), k, a) for k, a in item.assets.items() if _is_raster(a)]
    # A band offered twice (Earth Search's COG and JP2 of each band) is read once, from the COG.
    preferred = sorted(rasters, key=lambda row: _is_jp2(row[2]))
    if assets is None:
        best: dict[str, tuple[str, str, pystac.Asset]] = {}
        for row in preferred:
            roles = set(row[2].roles or [])
            if not roles & _NOT_BANDS and ("data" in roles or _eo_bands(item, row[2])):
                best.setdefault(row[0], row)
        rank = {n: i for i, n in enumerate(SENSORS[sensor].band_names)} if sensor in SENSORS else {}
        chosen = sorted((r for r in rasters if best.get(r[0]) is r), key=lambda r: rank.get(r[0], len(rank)))
        if not chosen:
            raise BandNotFoundError(
                f"STAC item {item.id} has no GeoTIFF, COG or JP2 data assets; its assets: {_listing(item)}"
            )
        return chosen
    keys = [k.strip() for k in assets.split(",")] if isinstance(assets, str) else list(assets)
    if len(set(keys)) < len(keys):
        raise RsvisionError(f"assets {', '.join(keys)}: an asset is named twice")
    return [_find_asset(item, key, preferred) for key in keys]


def _find_asset(
    item: pystac.Item, key: str, preferred: list[tuple[str, str, pystac.Asset]]
) -> tuple[str, str, pystac.Asset]:
    """The asset ``key`` names: an asset key, else a single-band asset's eo band name, else its common name."""
    if key in item.assets:
        return _band_name(item, key, item.assets[key]), key, item.assets[key]
    single = [(row, _eo_bands(item, row[2])[0]) for row in preferred if len(_eo_bands(item, row[2])) == 1]
    for field in ("name", "common_name"):
        for row, band in single:
            if str(band.get(field, "")).lower() == key.lower():
                return row
    raise BandNotFoundError(f"STAC item {item.id} has no asset or band {key!r}; its assets: {_listing(item)}")


def _listing(item: pystac.Item) -> str:
    """Asset keys with their common names, for error messages: ``B04 (red), B08 (nir), thumbnail``."""
    out = []
    for key, asset in item.assets.items():
        common = [b["common_name"] for b in _eo_bands(item, asset) if b.get("common_name")]
        out.append(f"{key} ({', '.join(common)})" if common else key)
    return ", ".join(out)


def _asset_file(item: pystac.Item, key: str, asset: pystac.Asset) -> str:
    """GDAL's path of an asset; relative hrefs resolve against the item's own href."""
    path = gdal_path(asset.get_absolute_href() or asset.href)
    if not path.startswith("/vsi") and not Path(path).exists():
        raise InputNotFoundError(f"asset {key!r} of STAC item {item.id}: no such file {path}")
    return path


def _add_asset_metadata(
    scene: Scene, item: pystac.Item, chosen: list[tuple[str, str, pystac.Asset]], files: list[str]
) -> None:
    """What the stack cannot read from the files: band names and wavelengths come from the item (origin "file":
    the product's own metadata), and class layers (SCL, QA bitfields) reach the grid by nearest neighbour."""
    by_file = {f: asset for f, (_, _, asset) in zip(files, chosen)}
    bands, sources = [], []
    for band, source in zip(scene.bands, scene._sources):
        asset = by_file[source.path]
        eo = _eo_bands(item, asset)
        wavelength = eo[0].get("center_wavelength") if len(eo) == 1 else None
        if band.wavelength_nm is None and isinstance(wavelength, (int, float)):
            band = replace(band, wavelength_nm=float(wavelength) * 1000)  # STAC gives micrometres
        bands.append(replace(band, origin="file"))
        fields = asset.extra_fields
        if "classification:classes" in fields or "classification:bitfields" in fields or band.name.upper() == "SCL":
            source = replace(source, resampling=Resampling.nearest)
        sources.append(source)
    scene.bands, scene._sources = bands, sources
