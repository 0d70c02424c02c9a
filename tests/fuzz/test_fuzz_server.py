"""CI's short run of each libFuzzer harness on the firmware's protocol server (fuzz.py):
ASan + UBSan + the well-formed-reply oracle, from the checked-in seeds, for a bounded time
(VADTOOL_FUZZ_SECONDS, default 20 s per harness: the tests of issue 14 have 3 minutes in all). `make fuzz` runs the long campaign."""

from __future__ import annotations

import os

import pytest

from . import fuzz

SECONDS = int(os.environ.get("VADTOOL_FUZZ_SECONDS", "20"))


@pytest.fixture(scope="module")
def harnesses(tmp_path_factory):
    if fuzz.clang() is None:
        pytest.skip("clang not installed (apt-get install clang)")
    out = tmp_path_factory.mktemp("fuzz")
    return out, fuzz.build(out)


@pytest.mark.parametrize("name", sorted(fuzz.HARNESSES))
def test_harness_finds_nothing(harnesses, name):
    out, built = harnesses
    c = fuzz.run(name, built[name], out, seconds=SECONDS)
    assert not c.findings, f"{name} found {c.findings}:\n{c.log_tail}"
    assert c.executions >= 1000 and c.coverage > 0, c.log_tail  # it ran, on the server's code
