"""Fixtures of the catalogue: a tiny dataset, and one good quantized run trained from it
through the real CLI (once per session: about 15 s); each case corrupts its own copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from catalogue.harness import vadtool

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """12 normal training images of 64x64 and 36 test images (MVTec layout, with masks)."""
    from vadtool.synth import make_dataset
    return make_dataset(tmp_path_factory.mktemp("catalogue") / "parts", seed=4, size=64, n_train=12)


@pytest.fixture(scope="session")
def good_run(tmp_path_factory, tiny_data, weights) -> Path:
    """fomo-ad-tiny at 64 px on tiny_data, trained and quantized by the CLI."""
    run = tmp_path_factory.mktemp("catalogue_runs") / "good"
    trained = vadtool("-q", "train", "fomo-ad", tiny_data, "--recipe", REPO / "models" / "fomo-ad-tiny.json",
                      "--size", 64, "--out", run, timeout=900)
    assert trained.returncode == 0, trained.stderr
    quantized = vadtool("-q", "quantize", run, timeout=900)
    assert quantized.returncode == 0, quantized.stderr
    return run


@pytest.fixture
def data_copy(tmp_path, tiny_data) -> Path:
    """A copy of tiny_data to break."""
    return Path(shutil.copytree(tiny_data, tmp_path / "data"))


@pytest.fixture
def run_copy(tmp_path, good_run) -> Path:
    """A copy of good_run to break."""
    return Path(shutil.copytree(good_run, tmp_path / "run"))
