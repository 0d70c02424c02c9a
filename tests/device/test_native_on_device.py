"""The real generated model (vadtool.native) in the firmware: built for Cortex-M, run in QEMU,
bit-exact with the native runner on the host, exact and repeatable instruction counts.

Uses the fixture models of tests/firmware (cached on disk like there); skips when they or
TensorFlow are not available."""

import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from vadtool.build import build_project, write_project_files
from vadtool.device.client import DeviceClient, Timeouts
from vadtool.device.emulator import start_emulator
from vadtool.device.flash import flash

from .conftest import needs_qemu

FIXTURES = Path(__file__).resolve().parents[1] / "firmware" / "fixture_models.py"


@pytest.fixture(scope="module")
def backbone035() -> Path:
    if not FIXTURES.is_file():
        pytest.skip("tests/firmware/fixture_models.py not present")
    key = hashlib.sha256(FIXTURES.read_bytes()).hexdigest()[:12]
    base = os.environ.get("VADTOOL_TEST_MODEL_CACHE") or os.path.expanduser("~/.cache/vadtool/test_models")
    path = Path(base) / key / "backbone035_96.tflite"
    if not path.exists():
        pytest.importorskip("tensorflow")
        spec = importlib.util.spec_from_file_location("vad_fixture_models", FIXTURES)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        path.parent.mkdir(parents=True, exist_ok=True)
        mod.build("backbone035", 96, str(path))
    return path


@needs_qemu
def test_native_model_in_qemu_is_bit_exact(backbone035, tmp_path):
    from vadtool.native import NativeRunner, write_model_sources

    project = write_project_files(tmp_path, "qemu-an386")
    info = write_model_sources(backbone035, project, version="test")
    res = build_project(project)
    assert res.ram_bytes > info.arena_bytes
    x = np.random.default_rng(7).integers(-128, 128, (1, 96, 96, 3)).astype(np.int8)
    want = NativeRunner(backbone035).run_int8(x).ravel()
    counts = []
    for _ in range(2):
        with start_emulator(res.elf, "qemu-an386") as emu:
            assert flash(project, emu.url).model_hash == info.model_hash
            with DeviceClient.open(emu.url, timeouts=Timeouts(hello=20, infer=300)) as dev:
                out, ticks = dev.run(x)
                assert np.array_equal(out, want)
                counts.append(ticks)
    assert counts[0] == counts[1] > 0


def test_model_fit_uses_the_boards_own_plan(backbone035):
    """build.model_fit: the 0.35 backbone at 96 px (a 65 KB streamed arena) fits stm32f405 and
    nano33ble, and does not fit boards with less memory (on one with CCM, the plan spills
    into it and says so)."""
    import dataclasses

    from vadtool.boards import BOARDS
    from vadtool.build import model_fit
    assert model_fit("stm32f405", backbone035) is None and model_fit("nano33ble", backbone035) is None
    small = dataclasses.replace(BOARDS["stm32f405"], name="small", ram_bytes=48 * 1024, ccm_bytes=16 * 1024)
    reason = model_fit(small, backbone035)
    assert reason.startswith("needs ") and "KB of RAM and CCM (arena " in reason  # split
    no_ccm = dataclasses.replace(BOARDS["nano33ble"], name="tiny", ram_bytes=64 * 1024)
    assert model_fit(no_ccm, backbone035).startswith("needs ") and "tiny has 57 KB" in model_fit(no_ccm, backbone035)
