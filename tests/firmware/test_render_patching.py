"""render's patching default ("fit"): a model whose plan without bands does not fit the board's
RAM is rendered with the first layers in bands (the fewest extra MACs that fit), and runs
bit-exact with TFLM and the plain schedule on the host build; a model that fits is rendered
without bands. The planner says what it chose (vad_model.c, the manifest, render's output)."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import input_batch, tflm_outputs

from vadtool.native import build_plan
from vadtool.native.codegen import RUNTIME_FILES
from vadtool.native.runner import HOST_CFLAGS

HERE = Path(__file__).resolve().parent
QEMU = shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")


def _run(model: Path, out: Path) -> Path:
    """A quantized run directory holding only the model (a classifier: no integer head)."""
    from vadtool.quantize import tensor_quantization
    from vadtool.rundir import Run
    run = Run.create(out, "classifier", recipe={}, data={"root": str(out), "layout": "none", "counts": {}})
    run.add_file("model_int8.tflite", lambda p: p.write_bytes(model.read_bytes()))
    (in_s, in_z), (out_s, out_z) = tensor_quantization(out / "model_int8.tflite")
    run.manifest.update({"input": {"size": 96, "channels": 3, "pixels": "RGB uint8"},
                         "quantization": {"input_scale": in_s, "input_zero_point": in_z,
                                          "output_scale": out_s, "output_zero_point": out_z},
                         "output": {"classes": ["normal", "anomalous"]}, "threshold": 0.5})
    run.save()
    return out


def _board(name: str, arena_room: int):
    """qemu-an386 with just enough RAM (after boards.MARGIN, the stack, I/O and data) for an
    arena of about arena_room bytes."""
    from vadtool import boards
    base = boards.BOARDS["qemu-an386"]
    fixed = base.stack_bytes + boards.io_bytes(2) + boards.STATIC_RAM_BYTES
    ram = math.ceil((arena_room + fixed) / (1 - boards.MARGIN))
    return dataclasses.replace(base, name=name, ram_bytes=ram)


def _host_output(project: Path, out: Path, x: np.ndarray) -> np.ndarray:
    """The rendered model (vad_model.c and the runtime as the project holds them) compiled for
    the host with the debug harness; the model output for input x."""
    out.mkdir()
    for f in ("vad_model.c", "vad_model.h", *RUNTIME_FILES):
        shutil.copy(project / f, out / f)
    shutil.copy(HERE / "debug_main.c", out / "debug_main.c")
    exe = out / "debug"
    subprocess.run(["cc", *HOST_CFLAGS, "-DVAD_DEBUG_TENSORS", "-I", str(out),
                    *map(str, sorted(out.glob("*.c"))), "-o", str(exe)], check=True)
    raw = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True, check=True).stdout
    records, pos = {}, 0
    while pos < len(raw):  # [op][size][bytes], band steps [-1 - op][size][offset][bytes]
        idx, size = (int(v) for v in np.frombuffer(raw[pos : pos + 8], np.int32))
        if idx >= 0:
            records[idx] = np.frombuffer(raw[pos + 8 : pos + 8 + size], np.int8)
        pos += 8 + size + (4 if idx < 0 else 0)
    return records[max(records)]


def test_render_patches_only_a_model_over_the_boards_ram(build_model, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from vadtool import boards
    from vadtool.cli import cli
    from vadtool.render import render
    model = build_model("classifier", 96)
    plain = build_plan(model).info  # streamed, no bands: the arena a board must hold
    smallest = build_plan(model, patching="auto").info
    assert smallest.patch and smallest.arena_bytes < plain.arena_bytes
    run = _run(model, tmp_path / "run")

    # a board whose RAM holds the smallest patched arena but not the plan without bands
    tight = _board("tight", (smallest.arena_bytes + plain.arena_bytes) // 2)
    monkeypatch.setitem(boards.BOARDS, "tight", tight)
    room = boards.arena_room(tight, io_bytes=boards.io_bytes(2))
    assert smallest.arena_bytes <= room < plain.arena_bytes
    project = render(run, "tight", tmp_path / "fw_tight")
    pt = project["patching"]
    assert pt["mode"] == "fit" and pt["arena_budget_bytes"] == room
    # the plain schedule is over the budget too (streaming fit), so the pairs are streamed
    assert pt["note"].startswith("streamed") and "; patched: ops" in pt["note"] and "to fit the" in pt["note"]
    assert project["arena_bytes"] <= room < pt["arena_unpatched_bytes"] == plain.arena_bytes
    # the fewest extra MACs that fit: no option with fewer halo MACs fits the budget (of those
    # one placement with every pair streamed puts within it, as the search ranks them)
    for op, bands, quick in smallest.patch_options:
        if quick > room:
            continue
        opt = build_plan(model, patching=(op, bands)).info
        if opt.patch["extra_macs"] < pt["extra_macs"]:
            assert opt.arena_bytes > room, (op, bands)
    c_src = (tmp_path / "fw_tight" / "vad_model.c").read_text()
    assert f"Patch-based execution: {pt['note']}." in c_src and "band 1/" in c_src
    # bit-exact: TFLM and the plain schedule's host build, on a real and a random image
    plain_project = render(run, "tight", tmp_path / "fw_plain", patching="off")
    assert "patching off" in plain_project["patching"]["note"] and "bands" not in plain_project["patching"]
    assert plain_project["arena_bytes"] == plain.arena_bytes
    batch = input_batch(96, n_random=1, n_real=1, seed=31)
    for n, x in enumerate(np.concatenate([v[:1] for v in batch.values()])):
        got = _host_output(tmp_path / "fw_tight", tmp_path / f"host{n}", x)
        want = tflm_outputs(model, x[None]).reshape(-1)
        assert (got == want).all(), f"input {n}: {int((got != want).sum())} elements differ from TFLM"
        ref = _host_output(tmp_path / "fw_plain", tmp_path / f"plain{n}", x)
        assert (got == ref).all()

    # the same model on the real qemu-an386 (4 MB): the plain schedule (no streaming, no
    # bands: the fewest instructions), and render says why
    res = CliRunner().invoke(cli, ["render", str(run), "--board", "qemu-an386", "--out", str(tmp_path / "fw_big")])
    assert res.exit_code == 0, res.output
    assert "memory plan: plain schedule (not streamed, not patched): its arena" in res.output
    assert "fits the" in res.output
    c_src = (tmp_path / "fw_big" / "vad_model.c").read_text()
    assert "Patch-based execution: plain schedule" in c_src and "band 1/" not in c_src
    from vadtool.render import read_project
    budget = read_project(tmp_path / "fw_big")["patching"]["arena_budget_bytes"]
    unstreamed = build_plan(model, streaming="off", arena_budget=budget).info
    assert unstreamed.arena_bytes > plain.arena_bytes and not unstreamed.streamed
    assert f"arena {unstreamed.arena_bytes} bytes" in c_src
    # asked for, the smallest plan without bands: streamed, and render says so
    res = CliRunner().invoke(cli, ["render", str(run), "--board", "qemu-an386", "--streaming", "auto",
                                   "--out", str(tmp_path / "fw_auto")])
    assert res.exit_code == 0, res.output
    assert "memory plan: not patched: the arena without bands" in res.output
    assert f"arena {plain.arena_bytes} bytes" in (tmp_path / "fw_auto" / "vad_model.c").read_text()


def _fast_flags(plan) -> list:
    return [(s.op.index, dict(s.params).get("blocks6"), dict(s.params).get("blocks4"),
             dict(s.params).get("px1"))
            for s in plan.steps if s.op.name == "CONV_2D"]


def test_a_split_arena_lends_the_fast_paths_scratch_from_the_board_budget(build_model, tmp_path):
    """With the arena split at a limit (a board's main RAM; the rest goes to CCM), the main
    region has no free gap for the widened columns a 1x1 layer's blocks need, and the layer
    falls back to a slower path; a board's arena budget with bytes to spare lends them at the
    end of the second region (never past the budget, the main region's limit kept). The plan
    that borrowed runs bit-exact with TFLM on the host."""
    from vadtool.native import write_model_sources
    model = build_model("backbone035", 96)
    whole = build_plan(model, streaming="off")
    limit = int(whole.info.arena_bytes * 0.9)
    split = build_plan(model, arena_limit=limit, streaming="off")
    assert split.info.arena2_bytes and _fast_flags(split) != _fast_flags(whole)  # a block lost
    budget = split.info.arena_bytes + 8192
    lent = build_plan(model, arena_limit=limit, streaming="off", arena_budget=budget)
    assert _fast_flags(lent) == _fast_flags(whole)
    assert split.info.arena_bytes < lent.info.arena_bytes <= budget
    assert lent.info.arena_bytes - lent.info.arena2_bytes <= limit
    # a budget with nothing to spare: as without one
    none_spare = build_plan(model, arena_limit=limit, streaming="off", arena_budget=split.info.arena_bytes)
    assert _fast_flags(none_spare) == _fast_flags(split) and none_spare.info.arena_bytes == split.info.arena_bytes
    out = tmp_path / "lent"
    info = write_model_sources(model, out, version="test", arena_limit=limit, streaming="off", arena_budget=budget)
    assert info.arena_bytes == lent.info.arena_bytes
    x = input_batch(96, n_random=1, n_real=1, seed=5)["random"]
    got = _host_output(out, tmp_path / "host", x[0])
    assert (got == tflm_outputs(model, x).reshape(-1)).all()


def test_fit_without_a_budget_or_within_it_adds_no_bands(build_model):
    """patching fit: no budget (the host), or a budget the plan without bands fits, leaves the
    plan as it is; a budget below every option takes the smallest arena and says it is over."""
    model = build_model("classifier", 96)
    plain = build_plan(model).info
    for budget in (None, plain.arena_bytes):
        info = build_plan(model, patching="fit", arena_budget=budget).info
        assert not info.patch and info.arena_bytes == plain.arena_bytes and info.patch_note.startswith("not patched")
    smallest = build_plan(model, patching="auto").info
    info = build_plan(model, patching="fit", arena_budget=1024).info
    assert info.arena_bytes == smallest.arena_bytes and "still over the 1,024 B arena budget" in info.patch_note


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
def test_fit_patch_bit_exact_in_qemu(build_model, tmp_path):
    """On Cortex-M4 (DSP kernels) the patch "fit" takes for a budget between the smallest
    patched arena and the plan without bands (fewer bands than auto's) answers as TFLM."""
    spec = importlib.util.spec_from_file_location("native_ops_bench", HERE.parents[1] / "bench" / "native_ops.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    model = build_model("classifier", 96)
    plain, smallest = build_plan(model).info, build_plan(model, patching="auto").info
    budget = (smallest.arena_bytes + plain.arena_bytes) // 2
    info = build_plan(model, patching="fit", arena_budget=budget).info
    assert info.patch and info.arena_bytes <= budget and info.patch["bands"] < smallest.patch["bands"]
    x = np.concatenate([v[:1] for v in input_batch(96, n_random=1, n_real=1, seed=37).values()])
    y, _, _ = bench.run(bench.build(model, tmp_path, patching="fit", arena_budget=budget), x)
    want = tflm_outputs(model, x).reshape(y.shape)
    assert (y == want).all(), f"{int((y != want).sum())} elements differ on Cortex-M4"


@pytest.mark.parametrize("board", ["stm32f405", "nano33ble"])
def test_arena_room_is_fits_boundary(board):
    """boards.arena_room: the largest arena boards.fits accepts (with a head's memory and I/O)."""
    from vadtool import boards
    kw = dict(head_ram_bytes=3000, io_bytes=boards.io_bytes(6 * 6 * 96, 36))
    room = boards.arena_room(board, **kw)
    assert boards.fits(board, weights_bytes=0, arena_bytes=room, **kw) is None
    assert boards.fits(board, weights_bytes=0, arena_bytes=room + 1, **kw) is not None
    assert boards.arena_room("host") is None
