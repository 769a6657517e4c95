"""Build tiny products in their real layouts, for tests of ``rsvision.io.products`` (run as a script: writes them
into the folder given, or beside this file).

- ``S2B_MSIL2A_..._N0400_....SAFE``: L2A, processing baseline 04.00 (BOA_ADD_OFFSET -1000); JP2 bands at 10, 20 and
  60 m under ``GRANULE/*/IMG_DATA/R10m|R20m|R60m`` (20/60 m copies of the 10 m bands hold 7: never to be read),
  ``SCL_20m`` / ``SCL_60m``, a TCI; and its ``.zip``.
- ``S2A_MSIL1C_..._N0209_....SAFE``: L1C, baseline 02.09 (no offset); JP2 bands directly in ``IMG_DATA``.
- ``LC08_L2SP_...``: Landsat 8 Collection 2 Level-2 (``_SR_B1..7``, ``_ST_B10``, QA files, ``_MTL.json`` holding
  both the Level-2 and the Level-1 rules) and its ``.tar`` (files at the archive's top, as USGS ships them).
- ``LC08_L1TP_...``: Level-1 (``_B2..5``, ``_B8`` at 15 m, ``_B10``, QA files, ``_MTL.txt``, sun elevation 30).
- ``S1A_IW_GRDH_....SAFE``: Sentinel-1 GRD measurement TIFFs (VV, VH) georeferenced by GCPs only.

Pixel values are ramps (``DN = BASE[band] + row * width + col``) with a no-data block (DN 0) at the top-left
corner, so expected values are computed from the same formula. JP2s are lossless (``REVERSIBLE=YES``).
"""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.control import GroundControlPoint

CRS = "EPSG:32633"
WEST, NORTH = 500000.0, 5000000.0
SIZE_10M = 60  # pixels at 10 m: 600 m square
NODATA_BLOCK = 6  # 10 m pixels at the top-left corner holding DN 0
S2_BANDS = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10, "B8A": 20}
S2_BANDS |= {"B09": 60, "B11": 20, "B12": 20}
S2_IDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
L2A = "S2B_MSIL2A_20220601T100559_N0400_R022_T33UUP_20220601T130000.SAFE"
L1C = "S2A_MSIL1C_20190601T100031_N0209_R122_T33UUP_20190601T120000.SAFE"
LANDSAT_L2 = "LC08_L2SP_190031_20200601_20200608_02_T1"
LANDSAT_L1 = "LC08_L1TP_190031_20200601_20200608_02_T1"
S1 = "S1A_IW_GRDH_1SDV_20200601T050000_20200601T050025_032000_03B000_ABCD.SAFE"
SCL_CLASSES = {(0, 5): 8, (5, 10): 9, (10, 15): 3, (15, 20): 10, (20, 25): 6}  # rows of the 20 m SCL -> class


def base(band: str) -> int:
    """The ramp's first DN of a band: distinct per band, so a swapped band shows."""
    return 1000 + 100 * (S2_IDS.index(band) if band in S2_IDS else int(band.lstrip("BSRT_")))


def ramp(band: str, size: int, res: float, nodata: bool = True) -> np.ndarray:
    """A band's DNs at ``res`` m: ``base + row * size + col``, 0 in the no-data block (scaled to this resolution)."""
    data = (base(band) + np.arange(size * size).reshape(size, size)).astype("uint16")
    if nodata:
        block = max(1, round(NODATA_BLOCK * 10 / res))
        data[:block, :block] = 0
    return data


def write(path: Path, data: np.ndarray, res: float, driver: str = "GTiff", **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = data if data.ndim == 3 else data[None]
    if driver == "JP2OpenJPEG":
        options = {"QUALITY": 100, "REVERSIBLE": "YES", **options}
    profile = dict(driver=driver, width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype=data.dtype)
    with rasterio.open(path, "w", **profile, crs=CRS, transform=Affine(res, 0, WEST, 0, -res, NORTH), **options) as d:
        d.write(data)
    return path


def s2_metadata(level: str, baseline: str, offset: int | None) -> str:
    """An MTD_MSIL1C.xml / MTD_MSIL2A.xml cut down to what a reader of its scaling needs, in its real structure."""
    ns = f"https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-{level[0]}{level[1]}.xsd"
    spectral = "".join(
        f'<Spectral_Information bandId="{i}" physicalBand="{_physical(b)}"/>' for i, b in enumerate(S2_IDS)
    )
    if level == "2A":
        quant = '<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>'
        quant += '<AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>'
        tag, group = "BOA_ADD_OFFSET", "BOA_ADD_OFFSET_VALUES_LIST"
    else:
        quant = '<QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>'
        tag, group = "RADIO_ADD_OFFSET", "Radiometric_Offset_List"
    offsets = ""
    if offset is not None:
        offsets = f"<{group}>" + "".join(f'<{tag} band_id="{i}">{offset}</{tag}>' for i in range(13)) + f"</{group}>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<n1:Level-{level}_User_Product xmlns:n1="{ns}">'
        f"<n1:General_Info><Product_Info><PROCESSING_LEVEL>Level-{level}</PROCESSING_LEVEL>"
        f"<PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE></Product_Info>"
        "<Product_Image_Characteristics>"
        "<Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>"
        "</Special_Values><Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>"
        f"<SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>{quant}{offsets}"
        f"<Reflectance_Conversion><U>1.0</U></Reflectance_Conversion>{spectral}"
        f"</Product_Image_Characteristics></n1:General_Info></n1:Level-{level}_User_Product>\n"
    )


def _physical(band: str) -> str:
    return band if band == "B8A" else f"B{int(band[1:])}"


def make_l2a(root: Path) -> Path:
    safe = root / L2A
    img = safe / "GRANULE" / "L2A_T33UUP_A027000_20220601T100559" / "IMG_DATA"
    stem = "T33UUP_20220601T100559"
    for band, res in S2_BANDS.items():
        n = SIZE_10M * 10 // res
        write(img / f"R{res}m" / f"{stem}_{band}_{res}m.jp2", ramp(band, n, res), res, "JP2OpenJPEG")
        for coarser in (r for r in (20, 60) if r > res):  # copies at coarser resolutions, as L2A ships them
            m = SIZE_10M * 10 // coarser
            write(
                img / f"R{coarser}m" / f"{stem}_{band}_{coarser}m.jp2",
                np.full((m, m), 7, "uint16"),
                coarser,
                "JP2OpenJPEG",
            )
    scl = np.full((30, 30), 4, "uint8")  # vegetation
    for (r0, r1), value in SCL_CLASSES.items():
        scl[r0:r1, 10:20] = value
    scl[:3, :3] = 0  # no data
    write(img / "R20m" / f"{stem}_SCL_20m.jp2", scl, 20, "JP2OpenJPEG")
    write(img / "R60m" / f"{stem}_SCL_60m.jp2", np.full((10, 10), 9, "uint8"), 60, "JP2OpenJPEG")
    write(img / "R10m" / f"{stem}_TCI_10m.jp2", np.zeros((3, 60, 60), "uint8"), 10, "JP2OpenJPEG")
    (safe / "MTD_MSIL2A.xml").write_text(s2_metadata("2A", "04.00", -1000))
    (safe / "manifest.safe").write_text("<xfdu/>")
    return safe


def make_l1c(root: Path) -> Path:
    safe = root / L1C
    img = safe / "GRANULE" / "L1C_T33UUP_A020000_20190601T100031" / "IMG_DATA"
    for band, res in (S2_BANDS | {"B10": 60}).items():  # L1C has all 13 bands (and s2cloudless needs B10)
        n = SIZE_10M * 10 // res
        write(img / f"T33UUP_20190601T100031_{band}.jp2", ramp(band, n, res), res, "JP2OpenJPEG")
    write(img / "T33UUP_20190601T100031_TCI.jp2", np.zeros((3, 60, 60), "uint8"), 10, "JP2OpenJPEG")
    (safe / "MTD_MSIL1C.xml").write_text(s2_metadata("1C", "02.09", None))
    return safe


LANDSAT_L2_SR = {f"B{n}": (2.75e-05, -0.2) for n in range(1, 8)}
LANDSAT_L2_ST = (0.00341802, 149.0)
LANDSAT_L1_TOA = {f"B{n}": (2.0e-05, -0.1) for n in (2, 3, 4, 5, 8)}
LANDSAT_L1_B10 = (3.342e-04, 0.1)
SUN_ELEVATION = 30.0


def make_landsat_l2(root: Path) -> Path:
    folder = root / LANDSAT_L2
    for n in range(1, 8):
        write(folder / f"{LANDSAT_L2}_SR_B{n}.TIF", ramp(f"B{n}", 20, 30), 30)
    write(folder / f"{LANDSAT_L2}_ST_B10.TIF", ramp("B10", 20, 30), 30)
    for qa in ("QA_PIXEL", "QA_RADSAT", "SR_QA_AEROSOL", "ST_QA", "ST_TRAD"):
        write(folder / f"{LANDSAT_L2}_{qa}.TIF", np.ones((20, 20), "uint16"), 30)
    groups = {
        "PRODUCT_CONTENTS": {"LANDSAT_PRODUCT_ID": LANDSAT_L2, "PROCESSING_LEVEL": "L2SP"},
        "IMAGE_ATTRIBUTES": {"SPACECRAFT_ID": "LANDSAT_8", "SUN_ELEVATION": "55.0"},
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": {
            **{f"REFLECTANCE_MULT_BAND_{b[1:]}": f"{m:.4E}" for b, (m, _) in LANDSAT_L2_SR.items()},
            **{f"REFLECTANCE_ADD_BAND_{b[1:]}": f"{a:.6f}" for b, (_, a) in LANDSAT_L2_SR.items()},
        },
        "LEVEL2_SURFACE_TEMPERATURE_PARAMETERS": {
            "TEMPERATURE_MULT_BAND_ST_B10": f"{LANDSAT_L2_ST[0]:.8f}",
            "TEMPERATURE_ADD_BAND_ST_B10": f"{LANDSAT_L2_ST[1]:.6f}",
        },
        # Level-2 MTL files repeat the Level-1 rule: a reader must not take it for the surface reflectance one
        "LEVEL1_RADIOMETRIC_RESCALING": {
            "REFLECTANCE_MULT_BAND_4": "2.0000E-05",
            "REFLECTANCE_ADD_BAND_4": "-0.100000",
        },
    }
    (folder / f"{LANDSAT_L2}_MTL.json").write_text(json.dumps({"LANDSAT_METADATA_FILE": groups}, indent=2))
    (folder / f"{LANDSAT_L2}_ANG.txt").write_text("GROUP = FILE_HEADER\nEND_GROUP = FILE_HEADER\nEND\n")
    return folder


def make_landsat_l1(root: Path) -> Path:
    folder = root / LANDSAT_L1
    for band in ("B2", "B3", "B4", "B5", "B10"):
        write(folder / f"{LANDSAT_L1}_{band}.TIF", ramp(band, 20, 30), 30)
    write(folder / f"{LANDSAT_L1}_B8.TIF", ramp("B8", 40, 15), 15)
    for qa in ("QA_PIXEL", "QA_RADSAT"):
        write(folder / f"{LANDSAT_L1}_{qa}.TIF", np.ones((20, 20), "uint16"), 30)
    lines = ["GROUP = LANDSAT_METADATA_FILE", "  GROUP = IMAGE_ATTRIBUTES", f"    SUN_ELEVATION = {SUN_ELEVATION}"]
    lines += ["  END_GROUP = IMAGE_ATTRIBUTES", "  GROUP = LEVEL1_RADIOMETRIC_RESCALING"]
    lines += [
        f"    RADIANCE_MULT_BAND_10 = {LANDSAT_L1_B10[0]:.4E}",
        f"    RADIANCE_ADD_BAND_10 = {LANDSAT_L1_B10[1]:.5f}",
    ]
    for band, (mult, add) in LANDSAT_L1_TOA.items():
        lines += [
            f"    REFLECTANCE_MULT_BAND_{band[1:]} = {mult:.4E}",
            f"    REFLECTANCE_ADD_BAND_{band[1:]} = {add:.6f}",
        ]
    lines += ["  END_GROUP = LEVEL1_RADIOMETRIC_RESCALING", "END_GROUP = LANDSAT_METADATA_FILE", "END"]
    (folder / f"{LANDSAT_L1}_MTL.txt").write_text("\n".join(lines) + "\n")
    return folder


def make_s1(root: Path) -> Path:
    """Measurement TIFFs as ESA ships them: uint16 amplitude, no geotransform, GCPs in EPSG:4326."""
    safe = root / S1
    gcps = [
        GroundControlPoint(row, col, 15.0 + 0.01 * col / 40, 45.0 - 0.01 * row / 40, 0.0)
        for row in (0, 40)
        for col in (0, 40)
    ]
    for i, pol in enumerate(("vv", "vh"), start=1):
        path = safe / "measurement" / f"s1a-iw-grd-{pol}-20200601t050000-20200601t050025-032000-03b000-00{i}.tiff"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = ramp("B1" if pol == "vv" else "B2", 40, 10)
        profile = dict(driver="GTiff", width=40, height=40, count=1, dtype="uint16")
        with rasterio.open(path, "w", **profile, gcps=gcps, crs="EPSG:4326") as dst:
            dst.write(data[None])
    (safe / "manifest.safe").write_text("<xfdu/>")
    return safe


def make_all(root: Path) -> dict[str, Path]:
    """Every product, its archives too: name -> path."""
    root.mkdir(parents=True, exist_ok=True)
    out = {
        "l2a": make_l2a(root),
        "l1c": make_l1c(root),
        "landsat_l2": make_landsat_l2(root),
        "landsat_l1": make_landsat_l1(root),
        "s1": make_s1(root),
    }
    out["l2a_zip"] = Path(shutil.make_archive(str(root / L2A.replace(".SAFE", "")), "zip", root, L2A))
    tar = root / f"{LANDSAT_L2}.tar"
    with tarfile.open(tar, "w") as t:
        for f in sorted(out["landsat_l2"].iterdir()):
            t.add(f, arcname=f.name)
    out["landsat_l2_tar"] = tar
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    for name, path in make_all(target).items():
        print(name, path)
