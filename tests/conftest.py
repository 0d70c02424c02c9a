"""Shared fixtures: a synthetic dataset and runs trained on it, made once per session.

The pipeline fixtures need real pretrained weights: $VADTOOL_WEIGHTS, or ../shared/weights
on the development machines (CI sets it). Without them those tests skip, saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# No MLflow tracking in the tests (no mlflow.db in the working folder, no MLflow import cost);
# tests/test_tracking.py turns it on for its own commands, with a store in a temp folder.
os.environ["VADTOOL_NO_TRACK"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


TFLM_SNAPSHOT = SHARED / "tflm" / "tflite-micro-90b983c.tar.xz"


@pytest.fixture(scope="session")
def tflm_dir() -> Path:
    """A TFLite Micro checkout: $TFLM_DIR, else the pinned snapshot in ../shared/tflm unpacked
    once into vadtool's cache (outside the clone; the build writes nothing into it)."""
    from vadtool.tflm_build import unpack_snapshot
    if os.environ.get("TFLM_DIR"):
        return Path(os.environ["TFLM_DIR"])
    if not TFLM_SNAPSHOT.is_file():
        pytest.skip(f"no TFLite Micro checkout: set TFLM_DIR or provide {TFLM_SNAPSHOT}")
    return unpack_snapshot(TFLM_SNAPSHOT)


def weights_dir() -> Path | None:
    env = os.environ.get("VADTOOL_WEIGHTS")
    if env and Path(env).exists():
        return Path(env)
    if (SHARED / "weights").is_dir():
        return SHARED / "weights"
    return None


@pytest.fixture(scope="session")
def weights() -> Path:
    path = weights_dir()
    if path is None:
        pytest.skip("no pretrained weights: set VADTOOL_WEIGHTS or provide ../shared/weights")
    os.environ["VADTOOL_WEIGHTS"] = str(path)
    return path


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    from vadtool.synth import make_dataset
    return make_dataset(tmp_path_factory.mktemp("synth") / "parts", seed=3)


@pytest.fixture(scope="session")
def fomo_run(tmp_path_factory, synth_data, weights) -> Path:
    """A FOMO-AD run at 96 px on the synthetic set, quantized."""
    from vadtool.models.backbone import BackboneSpec
    from vadtool.models.fomo_ad import FomoAdRecipe
    from vadtool.quantize import quantize
    from vadtool.train import train_fomo_ad
    out = tmp_path_factory.mktemp("runs") / "fomo"
    recipe = FomoAdRecipe(backbone=BackboneSpec(weights=str(weights)), size=96)
    train_fomo_ad(synth_data, out, recipe)
    quantize(out)
    return out


@pytest.fixture(scope="session")
def gaussian_fomo_run(tmp_path_factory, synth_data, weights) -> Path:
    """models/fomo-ad-gaussian.json at 96 px on the synthetic set (float only): one stride-8
    map, a 6x6 grid, a head that also runs in C."""
    from vadtool.models.backbone import BackboneSpec
    from vadtool.train import train_fomo_ad
    from recipes import checked_in_recipe
    out = tmp_path_factory.mktemp("runs") / "fomo_gaussian"
    recipe = checked_in_recipe("fomo-ad-gaussian", backbone=BackboneSpec(weights=str(weights)), size=96)
    train_fomo_ad(synth_data, out, recipe)
    return out


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory, synth_data, weights) -> Path:
    from vadtool.models.backbone import BackboneSpec
    from vadtool.models.classifier import ClassifierRecipe
    from vadtool.quantize import quantize
    from vadtool.train import train_classifier
    out = tmp_path_factory.mktemp("runs") / "classifier"
    recipe = ClassifierRecipe(backbone=BackboneSpec(arch="mobilenet_v1", alpha=0.25, cut=None,
                                                    weights=str(weights)), size=96)
    train_classifier(synth_data, out, recipe)
    quantize(out)
    return out


@pytest.fixture(scope="session")
def bar_data(tmp_path_factory) -> Path:
    """A small non-square synthetic set: 3:1 bars (192x64), 20 training images, 12 test images."""
    from vadtool.synth import make_dataset
    return make_dataset(tmp_path_factory.mktemp("synth") / "bars", seed=5, size=64, aspect=3,
                        n_train=20, n_test_good=4, n_per_defect=2)


@pytest.fixture(scope="session")
def bar_run(tmp_path_factory, bar_data, weights) -> Path:
    """fomo-ad-tiny (0.35 backbone, a C head) on the 3:1 bars, shorter side 48: the input
    shape (48x144) comes from the images' aspect; quantized."""
    from vadtool.models.backbone import BackboneSpec
    from vadtool.quantize import quantize
    from vadtool.train import train_fomo_ad
    from recipes import checked_in_recipe
    out = tmp_path_factory.mktemp("runs") / "bars"
    spec = BackboneSpec(alpha=0.35, cut="block_6_expand_relu", weights=str(weights), input_scale="unit")
    train_fomo_ad(bar_data, out, checked_in_recipe("fomo-ad-tiny", backbone=spec, size=48))
    quantize(out)
    return out
