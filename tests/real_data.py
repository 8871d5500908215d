"""The real data sets, for the few tests that are about them (reading the real SNLI, SICK or Wikipedia files).

They live in ../shared/data beside the checkout, which a fresh clone does not have: there these tests skip,
and say why. Every other test brings its own fixtures. On the project's machine, where ../shared exists,
.ci/run sets AGREE_REQUIRE_REAL_DATA=1, which turns a skip into a failure, so that these tests never stop
running unnoticed (a moved file, a renamed folder)."""
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REQUIRE_VARIABLE = "AGREE_REQUIRE_REAL_DATA"


def real_data(relative_path):
    """The path of a file or folder under ../shared/data; skips the calling test when it is missing (fails
    when AGREE_REQUIRE_REAL_DATA=1)."""
    path = SHARED_DATA / relative_path
    if not path.exists():
        reason = f"{path} is not here: this test reads the real data set, from ../shared/data beside the checkout"
        if os.environ.get(REQUIRE_VARIABLE) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_VARIABLE}=1 says it must run")
        pytest.skip(reason)
    return path
