"""``rsvision caption``: a caption for a photo or a chip (any raster ``open_scene`` reads, its red, green and blue
bands found by name or wavelength, Sentinel-2 reflectance made true colour), and for a large scene a
caption per region plus one for the whole scene built from them.

A scene larger than 1.5 regions on a side is read region by region (GDAL decimates each window to the model's input
size, so memory stays bounded); each region gets its own caption and footprint, and the scene's caption is the
region caption that agrees most with the others (the n-gram consensus the retrieval captioner's ranker starts from), so
it describes what most of the scene shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from rsvision.core.progress import progress_bar
from rsvision.io import open_scene
from rsvision.io.rgb import read_rgb8
from rsvision.io.tiles import TilePlan
from rsvision.tasks.captioning import NgramConsensus
from rsvision.workflows.search import footprints

DEFAULT_REGION = 512


@dataclass(frozen=True)
class RegionCaption:
    window: tuple[int, int, int, int]  # col, row, width, height (pixels)
    caption: str
    footprint: str  # WKT in the scene's CRS, or pixels without a georeference
    crs: str | None

    def as_json(self) -> dict:
        return {"window": list(self.window), "caption": self.caption, "footprint": self.footprint, "crs": self.crs}


@dataclass
class CaptionResult:
    source: str
    caption: str
    model: str
    regions: list[RegionCaption] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "source": self.source,
            "caption": self.caption,
            "model": self.model,
            "regions": [r.as_json() for r in self.regions],
        }


def caption_input(
    path: str | os.PathLike, captioner, region: int = DEFAULT_REGION, progress: bool = False, batch_size: int = 32
) -> CaptionResult:
    """Caption ``path`` (a photo, a chip or a scene of any size) with ``captioner``
    (:func:`rsvision.tasks.captioning.load_captioner`)."""
    name = captioner.name
    scene = open_scene(path)
    prep = captioner.preprocessing
    if max(scene.width, scene.height) <= 1.5 * region:
        whole = read_rgb8(scene, prep.input_size)
        return CaptionResult(str(path), captioner.caption_images(whole[None])[0].text, name)
    windows = list(TilePlan.for_shape(scene.height, scene.width, region, 0).windows())
    regions: list[RegionCaption] = []
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"captioning {len(windows)} regions", total=len(windows))
        for start in range(0, len(windows), batch_size):
            part = windows[start : start + batch_size]
            tiles = np.stack([read_rgb8(scene, prep.input_size, w) for w in part])
            for window, caption in zip(part, captioner.caption_images(tiles)):
                crs, footprint, _ = footprints(scene, window)
                box = (int(window.col_off), int(window.row_off), int(window.width), int(window.height))
                regions.append(RegionCaption(box, caption.text, footprint, crs))
            bar.advance(task, len(part))
    return CaptionResult(str(path), scene_caption([r.caption for r in regions]), name, regions)


def scene_caption(region_captions: list[str]) -> str:
    """The region caption that agrees most with the others (the first on ties; the only one when there is one)."""
    if len(region_captions) < 3:
        return region_captions[0]
    pool = NgramConsensus(region_captions)
    return region_captions[pool.pick(list(range(len(region_captions))), np.ones(len(region_captions), np.float32))]
