"""Rasters georeferenced by ground control points only (Sentinel-1 GRD measurement files): the grid they cover, and
a GDAL warped VRT that reads them onto any grid through their GCPs.

rasterio's ``WarpedVRT`` warps from a dataset's geotransform, which such files lack; GDAL's own warped VRT takes a
GCP transformer, so one is written as XML and opened like a file (nothing is written to disk)."""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

from affine import Affine
from rasterio.crs import CRS
from rasterio.dtypes import _gdal_typename
from rasterio.enums import Resampling
from rasterio.warp import calculate_default_transform, transform

# GDAL's names of the resampling methods whose rasterio names do not simply capitalise
_GDAL_RESAMPLING = {"nearest": "NearestNeighbour", "cubic_spline": "CubicSpline", "rms": "RMS", "q1": "Q1", "q3": "Q3"}


def has_gcps_only(ds) -> bool:
    """True for an open dataset with GCPs and no geotransform."""
    return ds.crs is None and bool(ds.gcps[0]) and ds.gcps[1] is not None


def gcp_grid(ds) -> tuple[CRS, Affine, int, int]:
    """(crs, transform, width, height) of a UTM grid covering a GCP-georeferenced dataset, at about its pixel size."""
    gcps, gcp_crs = ds.gcps
    xs, ys = transform(gcp_crs, "EPSG:4326", [g.x for g in gcps], [g.y for g in gcps])
    lon, lat = sum(xs) / len(xs), sum(ys) / len(ys)
    utm = CRS.from_epsg((32600 if lat >= 0 else 32700) + math.floor((lon + 180) / 6) % 60 + 1)
    affine, width, height = calculate_default_transform(gcp_crs, utm, ds.width, ds.height, gcps=gcps)
    return utm, affine, width, height


def gcp_warped_vrt(path: str, ds, crs: CRS, affine: Affine, width: int, height: int, resampling: Resampling) -> str:
    """A GDAL VRTWarpedDataset (XML) reading every band of ``ds`` (opened from ``path``) onto the grid through its
    GCPs; DN 0, which such products store outside their swath, is nodata."""
    gcps, gcp_crs = ds.gcps
    points = "".join(
        f'<GCP Id="{escape(str(g.id))}" Pixel="{g.col!r}" Line="{g.row!r}" X="{g.x!r}" Y="{g.y!r}" Z="{g.z or 0.0!r}"/>'
        for g in gcps
    )
    dtype = _gdal_typename(ds.dtypes[0])
    bands = "".join(
        f'<VRTRasterBand dataType="{dtype}" band="{i}" subClass="VRTWarpedRasterBand"><NoDataValue>0</NoDataValue>'
        "</VRTRasterBand>"
        for i in range(1, ds.count + 1)
    )
    nodata = "<SrcNoDataReal>0</SrcNoDataReal><DstNoDataReal>0</DstNoDataReal>"
    mapping = "".join(f'<BandMapping src="{i}" dst="{i}">{nodata}</BandMapping>' for i in range(1, ds.count + 1))
    method = _GDAL_RESAMPLING.get(resampling.name, resampling.name.capitalize())
    forward, inverse = (",".join(repr(v) for v in a.to_gdal()) for a in (affine, ~affine))
    return (
        f'<VRTDataset subClass="VRTWarpedDataset" rasterXSize="{width}" rasterYSize="{height}">'
        f"<SRS>{escape(crs.to_wkt())}</SRS><GeoTransform>{forward}</GeoTransform>{bands}"
        "<BlockXSize>512</BlockXSize><BlockYSize>512</BlockYSize><GDALWarpOptions>"
        f"<WarpMemoryLimit>6.71089e+07</WarpMemoryLimit><ResampleAlg>{method}</ResampleAlg>"
        f'<WorkingDataType>{dtype}</WorkingDataType><Option name="INIT_DEST">0</Option>'
        f'<SourceDataset relativeToVRT="0">{escape(path)}</SourceDataset>'
        "<Transformer><ApproxTransformer><MaxError>0.125</MaxError><BaseTransformer><GenImgProjTransformer>"
        f"<SrcGCPTransformer><GCPTransformer><Order>0</Order><Reversed>0</Reversed><GCPList>{points}</GCPList>"
        "</GCPTransformer></SrcGCPTransformer>"
        "<ReprojectTransformer><ReprojectionTransformer>"
        f"<SourceSRS>{escape(gcp_crs.to_wkt())}</SourceSRS><TargetSRS>{escape(crs.to_wkt())}</TargetSRS>"
        "</ReprojectionTransformer></ReprojectTransformer>"
        f"<DstGeoTransform>{forward}</DstGeoTransform><DstInvGeoTransform>{inverse}</DstInvGeoTransform>"
        "</GenImgProjTransformer></BaseTransformer></ApproxTransformer></Transformer>"
        f"<BandList>{mapping}</BandList></GDALWarpOptions></VRTDataset>"
    )
