"""Fixtures for the device tests: firmware projects built around the fake model
(tests/device/fake_model, a test fixture with the interface vadtool.native generates)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from vadtool.build import build_project, write_project_files

FAKE_MODEL = Path(__file__).parent / "fake_model"
FAKE_HEAD = Path(__file__).parent / "fake_head"
FAKE_HASH = "f00dface" * 8

HAVE_ARM = shutil.which("arm-none-eabi-gcc") is not None
HAVE_QEMU = HAVE_ARM and shutil.which("qemu-system-arm") is not None
needs_arm = pytest.mark.skipif(not HAVE_ARM, reason="arm-none-eabi-gcc not installed")
needs_qemu = pytest.mark.skipif(not HAVE_QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")

def fake_model(x: np.ndarray, output_bytes: int) -> np.ndarray:
    """What tests/device/fake_model/vad_model.c computes."""
    u = np.asarray(x).view(np.uint8).astype(np.uint32).ravel()
    acc = 3 * np.arange(output_bytes, dtype=np.uint32)
    np.add.at(acc, np.arange(u.size) % output_bytes, u)
    return (acc & 0xFF).astype(np.uint8).view(np.int8)


def fake_head(features: np.ndarray, grid: int = 4, threshold: int = 1800):
    """What tests/device/fake_head/vad_head.c computes on one output: (int32 cell scores
    (grid, grid), image score, decision name)."""
    f = np.asarray(features, np.int64).reshape(grid * grid, -1)
    cells = f @ np.arange(1, f.shape[1] + 1) - 64 * np.arange(grid * grid)
    image = int(cells.max())
    return cells.reshape(grid, grid).astype(np.int32), image, "ANOMALY" if image > threshold else "NORMAL"


def make_project(root: Path, board: str, cflags: str = "", ldflags: str = "", keep_input: bool = False,
                 head: bool = False, mode: str = "serve", source: str = "protocol"):
    """Write a firmware project for board with the fake model (and the fake head) and build it."""
    write_project_files(root, board, keep_input=keep_input, has_head=head, mode=mode, source=source)
    for name in ("vad_model.c", "vad_model.h"):
        shutil.copyfile(FAKE_MODEL / name, root / name)
    for name in ("vad_head.c", "vad_head.h") if head else ():
        shutil.copyfile(FAKE_HEAD / name, root / name)
    return build_project(root, extra_cflags=cflags, extra_ldflags=ldflags)


def test_input(nbytes: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, nbytes, dtype=np.int16).astype(np.int8)


test_input.__test__ = False  # a helper, not a test


@pytest.fixture(scope="session")
def host_fw(tmp_path_factory) -> Path:
    """The host build (16x16x3 input, 144 output bytes, fails on input[0] == -128)."""
    return make_project(tmp_path_factory.mktemp("host"), "host", "-DVAD_FAKE_FAIL").elf


@pytest.fixture(scope="session")
def host_fw_head(tmp_path_factory) -> Path:
    """The host build with the fake head after the fake model (4x4 cells of 9 channels)."""
    return make_project(tmp_path_factory.mktemp("host_head"), "host", "-DVAD_FAKE_FAIL", head=True).elf


@pytest.fixture(scope="session")
def host_fw_kept(tmp_path_factory) -> Path:
    """The host build whose server keeps a copy of the input (warm-up, repeated runs)."""
    return make_project(tmp_path_factory.mktemp("host_kept"), "host", keep_input=True).elf


@pytest.fixture(scope="session")
def host_fw_big(tmp_path_factory) -> Path:
    """The host build with a 48x16x3 input (3 LOAD_INPUT chunks) and 3000 output bytes
    (read back with READ_OUTPUT)."""
    root = tmp_path_factory.mktemp("host_big")
    return make_project(root, "host", "-DVAD_FAKE_INPUT_H=48 -DVAD_FAKE_OUTPUT_BYTES=3000").elf


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, synth_data, weights):
    """FOMO-AD on the 0.35 backbone at 96 px (the DESIGN's reference) and at 64 px."""
    from vadtool.models.backbone import BackboneSpec
    from vadtool.quantize import quantize
    from vadtool.train import train_fomo_ad
    from recipes import checked_in_recipe
    runs = {}
    for size in (96, 64):
        out = tmp_path_factory.mktemp("tiny") / f"fomo{size}"
        spec = BackboneSpec(alpha=0.35, cut="block_6_expand_relu", weights=str(weights), input_scale="unit")
        recipe = checked_in_recipe("fomo-ad-tiny", backbone=spec, size=size)  # a C head
        train_fomo_ad(synth_data, out, recipe)
        quantize(out)
        runs[size] = out
    return runs
