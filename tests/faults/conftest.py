"""One tiny classifier run (32 px, MobileNet v1 0.25), trained and quantized through the CLI
once per session; tests work on copies of it. The two commands run in this process (Click's
CliRunner): a subprocess would only add a TensorFlow start-up each; the faults themselves are
injected into real subprocesses (harness.py), train's and quantize's among them
(test_signals.py, test_disk_full.py, test_atomic_stage.py, test_concurrency.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def vadtool(*args):
    """`vadtool -q ARGS` in this process; the result, with its output on failure."""
    from click.testing import CliRunner

    from vadtool.cli import cli
    result = CliRunner().invoke(cli, ["-q", *map(str, args)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    from vadtool.synth import make_dataset
    return make_dataset(tmp_path_factory.mktemp("faults") / "data", seed=1, size=32, n_train=12)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_data, weights) -> Path:
    """Trained, not quantized."""
    out = tmp_path_factory.mktemp("faults") / "trained"
    vadtool("train", "classifier", tiny_data, "--out", out, "--size", "32", "--alpha", "0.25",
            "--arch", "mobilenet_v1")
    return out


@pytest.fixture(scope="session")
def quantized_run(tmp_path_factory, trained_run) -> Path:
    out = tmp_path_factory.mktemp("faults") / "quantized"
    shutil.copytree(trained_run, out)
    vadtool("quantize", out)
    return out


@pytest.fixture
def run_copy(tmp_path):
    """copy(run) -> a private copy of a session run in this test's folder."""
    def copy(run: Path, name: str = "run") -> Path:
        dest = tmp_path / name
        shutil.copytree(run, dest)
        return dest
    return copy
