"""Shared fixtures. Real recordings live in ../shared/data relative to the repo root.

Where that folder is absent (a user's own clone) tests that need it skip with a reason; under
CI (CI=true) its absence is a failure, never a silent skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skip (or fail under CI) when it is missing."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    message = f"real recordings not found at {SHARED_DATA}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the data must be present)")
    pytest.skip(message)
