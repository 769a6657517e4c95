"""The command as a whole: --version, -q on every command, and startup without torch for listing models and for
argument and input errors."""

import subprocess
import sys

import pytest

from rsvision import __version__


def test_version(capsys, run_cli):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"rsvision {__version__}"


@pytest.mark.parametrize("command", ["info", "classify", "eval", "train", "models"])
def test_every_command_takes_quiet(capsys, run_cli, command):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0 and "--quiet" in out and "-q" in out


STARTUP = """
import sys
from rsvision.cli import main
for argv in {argvs!r}:
    try:
        main(argv)
    except SystemExit:
        pass
print("torch imported:", "torch" in sys.modules)
"""


def test_models_and_argument_errors_do_not_import_torch(tmp_path):
    argvs = [
        ["models"],
        ["models", "--json"],
        ["classify", str(tmp_path / "missing"), "-o", "x.csv"],
        ["classify", str(tmp_path), "-o", str(tmp_path / "x.tif")],
        ["train", "classification", "--data", str(tmp_path / "missing"), "-o", "x.safetensors"],
        ["eval", "segmentaton", "--data", str(tmp_path), "--predictions", str(tmp_path)],
    ]
    done = subprocess.run(
        [sys.executable, "-c", STARTUP.format(argvs=argvs)], capture_output=True, text=True, timeout=120
    )
    assert "torch imported: False" in done.stdout, done.stdout + done.stderr
    assert done.stderr.count("error: ") == 4
