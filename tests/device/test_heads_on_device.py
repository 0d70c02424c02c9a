"""Every density's rendered integer head (head_c, from an IntHead) inside the real firmware,
after the fake model (a 3x4 grid of 12 channels), served over the protocol in QEMU: the
device's image scores, decisions and cell maps equal IntHead's on the same features, bit for
bit. The heads are fitted on random correlated features: the test is about the plumbing
(HELLO's head fields, INFER's score and decision, READ_CELLS), not about accuracy."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from vadtool.build import build_project, write_project_files
from vadtool.device.client import DeviceClient, Timeouts
from vadtool.device.emulator import start_emulator
from vadtool.device.runner import check_device_head
from vadtool.head_c import write_head_sources
from vadtool.models.density import fit
from vadtool.models.int_head import IntHead

from .conftest import FAKE_MODEL, fake_model, needs_qemu, test_input

GRID, CHANNELS, SCALE, ZERO = (3, 4), 12, 0.05, -128  # 144 output bytes: the fake model's


def int_head(kind: str, pooling: str, seed: int = 0) -> IntHead:
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(3, CHANNELS))
    z = rng.normal(size=(40, *GRID, 3)) @ basis * 30 + rng.integers(-20, 20, CHANNELS)
    train = np.clip(np.round(z), -128, 127).astype(np.int8)
    density = fit(SCALE * (train.astype(np.float64) - ZERO), kind, components=3, pooling=pooling)
    head = IntHead.from_density(density, scale=SCALE, zero_point=ZERO, grid=GRID, threshold=0.0,
                                bank_kb=2)
    inputs = [fake_model(test_input(768, seed=s), 144).reshape(1, *GRID, CHANNELS) for s in range(12)]
    images = head.score(np.concatenate(inputs))[1]
    return head.with_threshold(np.sort(images)[len(images) // 2 - 1:len(images) // 2])  # half above


@needs_qemu
@pytest.mark.parametrize("kind, pooling", [("gaussian", "max"), ("gmm", "mean"),
                                           ("per-position", "top-half"), ("knn", "top-half")])
def test_device_head_equals_int_head_in_qemu(tmp_path, kind, pooling):
    head = int_head(kind, pooling)
    write_project_files(tmp_path, "qemu-an386", has_head=True)
    for name in ("vad_model.c", "vad_model.h"):
        shutil.copyfile(FAKE_MODEL / name, tmp_path / name)
    write_head_sources(head, tmp_path, banner="test")
    elf = build_project(tmp_path).emulator_elf
    decisions = set()
    with start_emulator(elf, "qemu-an386") as emu, \
            DeviceClient.open(emu.url, timeouts=Timeouts(hello=20)) as dev:
        check_device_head(dev.hello(), head, emu.url)
        for seed in range(12):
            x = test_input(768, seed=seed)
            out, _ = dev.run(x)
            res = dev.infer_result
            cells, image = head.score(out.reshape(1, *GRID, CHANNELS))
            assert np.array_equal(out, fake_model(x, 144))
            assert np.array_equal(res.cells, cells[0]) and res.image_score == int(image[0])
            assert res.decision == ("ANOMALY" if image[0] > head.threshold else "NORMAL")
            decisions.add(res.decision)
    assert decisions == {"NORMAL", "ANOMALY"}
