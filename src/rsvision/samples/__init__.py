"""Paths of the small samples bundled with the package (see data/NOTICE.md)."""

from pathlib import Path

DATA = Path(__file__).parent / "data"

#: OSCD Bercy, older date: a folder of 13 Sentinel-2 band files.
oscd_bercy_before = DATA / "oscd_bercy" / "imgs_1"
#: OSCD Bercy, newer date.
oscd_bercy_after = DATA / "oscd_bercy" / "imgs_2"
#: High-resolution aerial RGB JPEG of Dubai, no georeference.
dubai_aerial = DATA / "dubai" / "image_part_001.jpg"

__all__ = ["DATA", "dubai_aerial", "oscd_bercy_after", "oscd_bercy_before"]
