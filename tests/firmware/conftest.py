"""Fixture models for the native-runtime tests: built once per session (and cached on
disk, keyed by the builder's source, so reruns skip the ~15 s conversions)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fixture_models  # noqa: E402


def _cache_dir(tmp_path_factory) -> Path:
    key = hashlib.sha256((HERE / "fixture_models.py").read_bytes()).hexdigest()[:12]
    base = os.environ.get("VADTOOL_TEST_MODEL_CACHE")
    if base:
        d = Path(base) / key
    else:
        d = Path(os.path.expanduser("~/.cache/vadtool/test_models")) / key
    try:
        d.mkdir(parents=True, exist_ok=True)
        return d
    except OSError:
        return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return _cache_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def build_model(model_dir):
    built: dict[tuple[str, int], Path] = {}

    def get(kind: str, size: int = 96) -> Path:
        key = (kind, size)
        if key not in built:
            path = model_dir / f"{kind}_{size}.tflite"
            if not path.exists():
                fixture_models.build(kind, size, str(path))
            built[key] = path
        return built[key]

    return get


@pytest.fixture(scope="session")
def backbone035(build_model) -> Path:
    return build_model("backbone035", 96)


@pytest.fixture(scope="session")
def classifier(build_model) -> Path:
    return build_model("classifier", 96)


def tflm_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    """Golden outputs: vadtool's TFLM runner (the TFLite Micro interpreter), roomy arena."""
    from vadtool.runners import TFLMRunner

    return TFLMRunner(path, arena_size=16 * 1024 * 1024).run_int8(x)


def input_batch(size: int, n_random: int = 12, n_real: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """Named int8 input sets (q = pixel - 128)."""
    rng = np.random.default_rng(seed)
    sets = {"random": rng.integers(-128, 128, (n_random, size, size, 3), dtype=np.int8)}
    real = fixture_models.real_images(size, n_real, seed=seed + 7)
    if len(real):
        sets["real"] = (real.astype(np.int16) - 128).astype(np.int8)
    alt = np.full((size, size, 3), -128, np.int8)
    alt[::2, ::2] = 127
    alt[1::2, 1::2] = 127
    stripes = np.full((size, size, 3), -128, np.int8)
    stripes[:, ::2, 0] = 127
    stripes[::3, :, 1] = 127
    sets["extremes"] = np.stack(
        [np.full((size, size, 3), -128, np.int8), np.full((size, size, 3), 127, np.int8), alt, stripes]
    )
    return sets
