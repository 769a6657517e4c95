import json
import subprocess
import sys

from rsvision import samples

KEYS = {
    "path",
    "sensor",
    "crs",
    "width",
    "height",
    "transform",
    "bounds",
    "bounds_lonlat",
    "dtype",
    "nodata",
    "overviews",
    "reflectance",
    "bands",
}


def test_info_json_keys(capsys, run_cli):
    code, out, _ = run_cli(capsys, "info", str(samples.oscd_bercy_before), "--json")
    assert code == 0
    meta = json.loads(out)
    assert set(meta) == KEYS
    assert meta["crs"] == "EPSG:4326" and meta["sensor"] == "sentinel-2"
    assert (meta["width"], meta["height"]) == (360, 395)
    assert [b["name"] for b in meta["bands"]][8] == "B8A"
    assert meta["bands"][1] == {"name": "B02", "wavelength_nm": 492.4, "gsd_m": 10, "origin": "file"}
    west, south, east, north = meta["bounds_lonlat"]
    assert 2.3 < west < east < 2.45 and 48.8 < south < north < 48.9  # Paris


def test_info_text(capsys, run_cli):
    code, out, err = run_cli(capsys, "info", str(samples.dubai_aerial))
    assert code == 0
    assert "none (pixel coordinates)" in out and "1817 x 2061" in out and "3 bands" in out
    assert err == ""  # the crs line says there is no georeference; no warning inside or around the table


def test_bad_inputs_one_line_exit_2(tmp_path, capsys, run_cli):
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"\x00" * 10)
    empty = tmp_path / "empty"
    empty.mkdir()
    for arg, message in [
        (tmp_path / "none.tif", "no such file or folder"),
        (junk, "cannot read"),
        (empty, "holds no raster band files"),
    ]:
        code, _out, err = run_cli(capsys, "info", str(arg))
        assert code == 2
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_console_script_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "rsvision", "info", str(tmp_path / "x.tif")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "no such file or folder" in proc.stderr


def test_folder_of_images_is_not_a_scene(tmp_path, capsys, run_cli):
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / f"photo_{i}.jpg")
    code, _, err = run_cli(capsys, "info", tmp_path)
    assert code == 2 and "is a folder of 3 images, not band files of one scene" in err
    assert "rsvision classify" in err and len(err.strip().splitlines()) == 1


def test_oscd_city_folder_points_to_its_dates(capsys, run_cli):
    code, _, err = run_cli(capsys, "info", samples.oscd_bercy_before.parent)
    assert code == 2 and "imgs_1" in err and "imgs_2" in err


def test_empty_file(tmp_path, capsys, run_cli):
    (tmp_path / "empty.tif").write_bytes(b"")
    code, _, err = run_cli(capsys, "info", tmp_path / "empty.tif")
    assert code == 2 and "the file is empty (0 bytes)" in err


ETM_HEADER = [
    "sensor type = Landsat ETM",
    "wavelength units = Micrometers",
    "band names = {"
    + ", ".join(f"Resize (ETM+ Meta (Band {n}):L71119038_03820021017_MTL.txt)" for n in "123457")
    + "}",
    "wavelength = {0.482500, 0.565000, 0.660000, 0.825000, 1.650000, 2.220000}",
]


def test_info_envi_landsat_etm_bands_from_the_file(make_envi, capsys, run_cli):
    path = make_envi("etm.dat", 6, ETM_HEADER)
    code, out, err = run_cli(capsys, "info", str(path), "--json")
    assert code == 0 and err == ""
    meta = json.loads(out)
    assert meta["sensor"] == "landsat-7" and meta["crs"] == "EPSG:32651"
    assert [b["name"] for b in meta["bands"]] == ["B1", "B2", "B3", "B4", "B5", "B7"]
    assert meta["bands"][0] == {"name": "B1", "wavelength_nm": 482.5, "gsd_m": 30, "origin": "file"}
    code, out, _ = run_cli(capsys, "info", str(path))
    assert code == 0 and "landsat-7" in out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("band"))
    assert header.split() == ["band", "wavelength", "(nm)", "GSD", "(m)", "from"]
    assert any(line.split() == ["B7", "2220", "30", "file"] for line in out.splitlines())


def test_info_text_says_where_band_names_came_from(make_raster, capsys, run_cli):
    import numpy as np

    guessed = make_raster("four.tif", np.ones((4, 5, 5), "uint8"), photometric="MINISBLACK")
    code, out, _ = run_cli(capsys, "info", str(guessed))
    assert code == 0 and any(line.split() == ["nir", "845", "0.6", "catalogue"] for line in out.splitlines())
    unknown = make_raster("two.tif", np.ones((2, 5, 5), "uint16"))
    code, out, _ = run_cli(capsys, "info", str(unknown), "--json")
    assert [(b["name"], b["origin"]) for b in json.loads(out)["bands"]] == [("band1", None), ("band2", None)]
    code, out, _ = run_cli(capsys, "info", str(unknown))
    assert any(line.split() == ["band1", "-", "10", "-"] for line in out.splitlines())


def test_info_envi_header_given(make_envi, capsys, run_cli):
    path = make_envi("etm.dat", 6, ETM_HEADER)
    code, _, err = run_cli(capsys, "info", str(path.with_suffix(".hdr")))
    assert code == 2 and "is an ENVI header; open the data file beside it" in err
    assert len(err.strip().splitlines()) == 1


def test_info_says_the_products_rule_to_reflectance(capsys, run_cli, products):
    code, out, _ = run_cli(capsys, "info", products["l2a_zip"], "--json")
    assert code == 0 and json.loads(out)["reflectance"].startswith("sentinel-2 boa, baseline 04.00, offset -1000")
    code, out, _ = run_cli(capsys, "info", str(samples.oscd_bercy_before))
    assert "no rule in the metadata" in out
