import numpy as np
import rasterio


def test_batch_command_and_its_bad_input(run_cli, capsys, tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(2):
        with rasterio.open(
            tmp_path / "in" / f"s{i}.tif", "w", driver="GTiff", width=64, height=64, count=4, dtype="uint16"
        ) as ds:
            ds.write(np.full((4, 64, 64), 1000 + i, np.uint16))
            for b, name in enumerate(["B02", "B03", "B04", "B08"], start=1):
                ds.set_band_description(b, name)
    (tmp_path / "out").mkdir()
    code, _, err = run_cli(capsys, "batch", "spectral", tmp_path / "in", "-o", tmp_path / "out", "--workers", 1)
    assert code == 0 and "2 scenes done" in err and "Dask dashboard" in err
    assert (tmp_path / "out" / "s1_spectral.tif").is_file() and (tmp_path / "out" / "catalogue.parquet").is_file()
    code, _, err = run_cli(capsys, "batch", "cook", tmp_path / "in", "-o", tmp_path / "out")
    assert code == 2 and "batch runs" in err
    code, _, err = run_cli(capsys, "batch", "spectral", tmp_path / "in", "-o", tmp_path / "nowhere")
    assert code == 2 and "does not exist" in err
