"""Whole small images (dataset chips, photos, label masks) as (C, H, W) arrays: PIL for JPEG, PNG and the like
(palette images expanded to RGB, as label masks need), rasterio for TIFF and JPEG 2000. Scenes of any size are
read window by window through :func:`rsvision.io.open_scene` instead."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image, UnidentifiedImageError
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from rsvision.errors import InputNotFoundError, UnreadableRasterError


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as a (C, H, W) array: PIL for common formats, rasterio for TIFF and JPEG 2000.

    Palette images are expanded to RGB(A); the native dtype is kept.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"no such image: {path}")
    if path.suffix.lower() in (".tif", ".tiff", ".jp2"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(path) as ds:
                    return ds.read()
        except RasterioError as err:
            raise UnreadableRasterError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    try:
        with Image.open(path) as im:
            if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB")
            elif im.mode == "1":
                im = im.convert("L")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise UnreadableRasterError(f"cannot read {path}: {err}") from None
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image from its header, without decoding pixels."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"no such image: {path}")
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError):
        pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                return ds.width, ds.height
    except RasterioError as err:
        raise UnreadableRasterError(f"cannot read the size of {path}: {str(err).splitlines()[0]}") from None
