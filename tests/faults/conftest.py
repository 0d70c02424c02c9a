"""One tiny classifier run (32 px, MobileNet v1 0.25), trained and quantized through the CLI
once per session; tests work on copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .harness import vadtool


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    from vadtool.synth import make_dataset
    return make_dataset(tmp_path_factory.mktemp("faults") / "data", seed=1, size=32, n_train=12)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_data, weights) -> Path:
    """Trained, not quantized."""
    out = tmp_path_factory.mktemp("faults") / "trained"
    proc = vadtool("train", "classifier", tiny_data, "--out", out, "--size", "32", "--alpha", "0.25",
                   "--arch", "mobilenet_v1")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def quantized_run(tmp_path_factory, trained_run) -> Path:
    out = tmp_path_factory.mktemp("faults") / "quantized"
    shutil.copytree(trained_run, out)
    proc = vadtool("quantize", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def run_copy(tmp_path):
    """copy(run) -> a private copy of a session run in this test's folder."""
    def copy(run: Path, name: str = "run") -> Path:
        dest = tmp_path / name
        shutil.copytree(run, dest)
        return dest
    return copy
