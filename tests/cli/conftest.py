"""The command line, run in-process: exit code, stdout and stderr of one `rsvision` call."""

import pytest

from rsvision.cli import main


@pytest.fixture
def run_cli():
    def run(capsys, *argv):
        with pytest.raises(SystemExit) as done:
            main([str(a) for a in argv])
        out = capsys.readouterr()
        return done.value.code, out.out, out.err

    return run
