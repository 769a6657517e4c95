"""Shared fixtures. Real datasets live in ../shared/data; tests needing them skip when absent."""

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("RSVISION_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)


@pytest.fixture
def shared():
    """``shared("oscd", "images")`` -> Path under ../shared/data, or skip the test saying what is missing."""

    def resolve(*parts: str) -> Path:
        path = SHARED_DATA.joinpath(*parts)
        if not path.exists():
            pytest.skip(f"real data not available: {path}")
        return path

    return resolve
