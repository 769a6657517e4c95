"""Boxes, rotated boxes, polygons and masks: converters, IoU, NMS, pixel <-> map coordinates.

Conventions (docs/architecture.md): pixel x = column, y = row, origin top-left, y down; boxes ``xyxy``;
rotated boxes ``(cx, cy, w, h, angle)`` in le90 (w >= h, angle radians in [-pi/2, pi/2),
positive clockwise on the image); 8-corner polygons at the file boundary.
"""

from rsvision.geometry.boxes import (
    box_area,
    normalize_rbox,
    poly_area,
    poly_to_rbox,
    poly_to_xyxy,
    rbox_area,
    rbox_to_poly,
    rbox_to_xyxy,
    xywh_to_xyxy,
    xyxy_to_poly,
    xyxy_to_rbox,
    xyxy_to_xywh,
)
from rsvision.geometry.detections import Detections
from rsvision.geometry.iou import box_iou, overlapping_pairs, paired_rotated_iou, rotated_iou
from rsvision.geometry.masks import mask_to_polygons, rasterize_polygons
from rsvision.geometry.nms import nms, rotated_nms
from rsvision.geometry.transform import (
    boxes_to_polygons,
    map_to_pixel,
    pixel_to_map,
    polygons_to_pixel,
    polygons_to_rboxes,
    polygons_to_xyxy,
)

__all__ = [
    "Detections",
    "box_area",
    "box_iou",
    "boxes_to_polygons",
    "map_to_pixel",
    "mask_to_polygons",
    "nms",
    "normalize_rbox",
    "overlapping_pairs",
    "paired_rotated_iou",
    "pixel_to_map",
    "poly_area",
    "poly_to_rbox",
    "poly_to_xyxy",
    "polygons_to_pixel",
    "polygons_to_rboxes",
    "polygons_to_xyxy",
    "rasterize_polygons",
    "rbox_area",
    "rbox_to_poly",
    "rbox_to_xyxy",
    "rotated_iou",
    "rotated_nms",
    "xywh_to_xyxy",
    "xyxy_to_poly",
    "xyxy_to_rbox",
    "xyxy_to_xywh",
]
