"""Benchmark datasets: readers per format family, writers, and a registry of named datasets.

Readers return a :class:`Dataset` of :class:`Sample` records (image paths, targets in the package
contracts, metadata) with the class list; pixels are read on demand with ``load_image`` /
``load_mask``. Recoverable annotation problems are repaired or skipped with one counted warning per
kind (``Dataset.issues``); malformed input raises :class:`rsvision.errors.AnnotationError` naming the
file (and line or object).
"""

from rsvision.datasets.base import Dataset, Sample, stratified_split
from rsvision.datasets.captions import (
    CaptionJsonDataset,
    RsicdDataset,
    read_rsicd_precomp,
)
from rsvision.datasets.change import OscdDataset, SecondDataset, TripletDataset
from rsvision.datasets.coco import (
    CocoDataset,
    read_coco_results,
    write_coco,
    write_coco_results,
)
from rsvision.datasets.dota import (
    DOTA_V1_CLASSES,
    DotaDataset,
    read_task1,
    write_labeltxt,
    write_task1,
)
from rsvision.datasets.folder import FolderDataset
from rsvision.datasets.gpkg import write_boxes
from rsvision.datasets.grounding import RsvgDataset
from rsvision.datasets.masks import DUBAI_COLORS, ColorMaskDataset, IndexMaskDataset
from rsvision.datasets.registry import (
    FORMATS,
    REGISTRY,
    DatasetInfo,
    data_root,
    dataset_path,
    guess_format,
    open_dataset,
)
from rsvision.datasets.voc import DiorRDataset, HrscDataset, VocDataset
from rsvision.datasets.vqa import RsvqaDataset
from rsvision.datasets.yolo import YoloDataset
from rsvision.geometry.detections import Detections

__all__ = [
    "DOTA_V1_CLASSES",
    "DUBAI_COLORS",
    "FORMATS",
    "REGISTRY",
    "CaptionJsonDataset",
    "CocoDataset",
    "ColorMaskDataset",
    "Dataset",
    "DatasetInfo",
    "Detections",
    "DiorRDataset",
    "DotaDataset",
    "FolderDataset",
    "HrscDataset",
    "IndexMaskDataset",
    "OscdDataset",
    "RsicdDataset",
    "RsvgDataset",
    "RsvqaDataset",
    "Sample",
    "SecondDataset",
    "TripletDataset",
    "VocDataset",
    "YoloDataset",
    "data_root",
    "dataset_path",
    "guess_format",
    "open_dataset",
    "read_coco_results",
    "read_rsicd_precomp",
    "read_task1",
    "stratified_split",
    "write_boxes",
    "write_coco",
    "write_coco_results",
    "write_labeltxt",
    "write_task1",
]
