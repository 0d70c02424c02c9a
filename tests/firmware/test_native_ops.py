"""Every operator's output, not just the model's, equals TFLite Micro's — on host (fast paths
with C intrinsics and the reference loops) and, when QEMU is installed, on Cortex-M4 with the
real DSP instructions."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import input_batch

from vadtool.native import build_plan, write_model_sources
from vadtool.native.lower import (CONV_FIRST, DW3_TINY_W, ConstArray, Step, block6_rq_ok,
                                  conv_block4_bytes, conv_block6_bytes, direct_conv, dw3_strip)
from vadtool.native.planner import check_plan
from vadtool.native.runner import HOST_CFLAGS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
QEMU = shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")

# (kind, size): zoo models chain every operator and kernel variant; odd and even sizes;
# concat joins branches along H and along channels; widek has convolutions with K up to 1040
OP_MODELS = [("zoo1", 33), ("zoo2", 20), ("backbone035", 96), ("classifier", 96), ("concat", 22),
             ("widek", 9)]


def _debug_build(model: Path, out: Path, fast: bool, wide: bool = False,
                 streaming: str = "auto", patching="off") -> Path:
    write_model_sources(model, out, version="test", wide_weights=wide, streaming=streaming,
                        patching=patching)
    shutil.copy(HERE / "debug_main.c", out / "debug_main.c")
    exe = out / "debug"
    flags = [*HOST_CFLAGS, "-DVAD_DEBUG_TENSORS"] + ([] if fast else ["-DVAD_NO_FAST_PATHS"])
    subprocess.run(["cc", *flags, "-I", str(out), *map(str, sorted(out.glob("*.c"))), "-o", str(exe)],
                   check=True)
    return exe


def _layout_builds(model: Path, tmp_path: Path, outputs) -> dict:
    """Host builds of the fast paths with int8 and int16 filters and of the reference loops,
    each with the operators it is checked on."""
    return {name: (_debug_build(model, tmp_path / name, fast, wide), outputs)
            for name, fast, wide in (("int8", True, False), ("int16", True, True), ("reference", False, False))}


def _assert_operators_match_tflm(model: Path, builds: dict, inputs, outputs) -> None:
    """Every build's (name: (executable, operator indices)) tensors equal TFLM's, per operator
    (``outputs``: the operators TFLM is asked for, a superset of each build's)."""
    for i, x in enumerate(inputs):
        want = _tflm_tensors(model, x, outputs)
        for name, (exe, ops) in builds.items():
            got = _native_tensors(exe, x)
            for op_index in ops:
                bad = int((got[op_index] != want[op_index]).sum())
                assert bad == 0, f"{name} input {i}: op {op_index}: {bad} elements differ"


def _computed_outputs(plan) -> dict[int, int]:
    """{op index: output tensor} of the steps whose output exists (not aliases, not streamed); a
    patched operator's when every band computes its rows (none streamed) and they cover it."""
    out = {s.op.index: s.act_outputs[0] for s in plan.steps
           if not s.alias and s.streamed_into is None and s.band is None}
    bands: dict[int, list] = {}
    for s in plan.steps:
        if s.band is not None:
            bands.setdefault(s.op.index, []).append(s)
    for op, band_steps in bands.items():
        t = band_steps[0].band_rows[0]
        rows = set().union(*(range(s.band_rows[1], s.band_rows[2]) for s in band_steps))
        if all(s.streamed_into is None for s in band_steps) and rows == set(range(plan.graph.tensors[t].shape[1])):
            out[op] = t
    return out


def _native_tensors(exe: Path, x: np.ndarray, covered: dict | None = None) -> dict[int, np.ndarray]:
    """{op index: output tensor}; a patched operator's from its band steps' rows (covered, if
    given, gets {op index: mask of the bytes some band wrote}; bands overlap by their halo, and
    each band's rows must agree where they do)."""
    raw = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True, check=True).stdout
    out, masks, pos = {}, {}, 0
    while pos < len(raw):
        idx, size = (int(v) for v in np.frombuffer(raw[pos : pos + 8], np.int32))
        if idx >= 0:
            out[idx] = np.frombuffer(raw[pos + 8 : pos + 8 + size], np.int8)
            pos += 8 + size
            continue
        idx, at = -1 - idx, int(np.frombuffer(raw[pos + 8 : pos + 12], np.int32)[0])
        part = np.frombuffer(raw[pos + 12 : pos + 12 + size], np.int8)
        pos += 12 + size
        t, m = out.setdefault(idx, np.zeros(0, np.int8)), masks.setdefault(idx, np.zeros(0, bool))
        if len(t) < at + size:
            t, m = np.resize(t, at + size), np.resize(m, at + size)
            t[len(out[idx]):], m[len(masks[idx]):] = 0, False
        seen = m[at : at + size]
        assert (t[at : at + size][seen] == part[seen]).all(), f"op {idx}: bands disagree on their halo"
        t[at : at + size], m[at : at + size] = part, True
        out[idx], masks[idx] = t, m
    if covered is not None:
        covered.update(masks)
    return out


def _tflm_tensors(model: Path, x: np.ndarray, outputs: dict[int, int]) -> dict[int, np.ndarray]:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_file(
        str(model), arena_size=16 * 1024 * 1024,
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors,
    )
    it.set_input(x[None], 0)
    it.invoke()
    res = {}
    for op_index, tensor_index in outputs.items():
        res[op_index] = np.asarray(it.GetTensor(tensor_index, 0)["tensor_data"]).view(np.int8).reshape(-1)
    return res


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("kind,size", OP_MODELS)
def test_every_operator_bit_exact(kind, size, fast, build_model, tmp_path):
    model = build_model(kind, size)
    plan = build_plan(model)
    outputs = _computed_outputs(plan)
    exe = _debug_build(model, tmp_path, fast)
    sets = input_batch(size, n_random=2, n_real=2, seed=3)
    for name, xs in sets.items():
        for i, x in enumerate(xs):
            got = _native_tensors(exe, x)
            want = _tflm_tensors(model, x, outputs)
            for op_index in outputs:
                bad = int((got[op_index] != want[op_index]).sum())
                assert bad == 0, (f"{kind}@{size} {name}[{i}]: op {op_index} "
                                  f"{plan.steps[op_index].op.name}: {bad} elements differ")


def _gray_or_colour_inputs(size: int, channels: int) -> np.ndarray:
    """Random images and the extremes (all -128, all 127, a checkerboard) with any channel count."""
    rng = np.random.default_rng(11)
    xs = [rng.integers(-128, 128, (size, size, channels), dtype=np.int8) for _ in range(2)]
    board = np.full((size, size, channels), -128, np.int8)
    board[::2, ::2] = 127
    board[1::2, 1::2] = 127
    return np.stack(xs + [np.full_like(board, -128), np.full_like(board, 127), board])


@pytest.mark.parametrize("channels", [1, 3])
def test_conv_paths_bit_exact_with_both_filter_layouts(channels, build_model, tmp_path):
    """Each CONV_2D form (first 3x3 on a grayscale or RGB input, direct and im2col 1x1, im2col in
    blocks of 4 pixels and in pairs, odd channel and pixel counts, K not a multiple of 4) equals TFLM per operator with the filter
    as int8 words and as int16 pairs (the generator's two layouts), and in the reference build."""
    size = 19
    model = build_model(f"convpaths{channels}", size)
    plan = build_plan(model)
    convs = _conv_layers(plan)
    assert convs[0][2]["in_c"] == channels and all(p["fast"] > 0 for _, _, p in convs)
    assert {p["out_c"] % 2 for _, _, p in convs} == {0, 1}
    assert {direct_conv(p) for _, _, p in convs} == {True, False}
    # the first 3x3 on its own kernel (vad_conv_first.c, test_first_convs_bit_exact); the 3x3
    # on 19 channels and an im2col 1x1 in blocks of 4 pixels (10-pixel rows: blocks inside a
    # row and across rows), another im2col layer in pairs
    assert convs[0][2]["fast"] == CONV_FIRST and convs[0][2]["scratch"] == "0"
    assert all(p["fast"] != CONV_FIRST for _, _, p in convs[1:])
    assert {p["blocks4"] for _, _, p in convs[1:] if not direct_conv(p)} == {0, 1}
    outputs = _computed_outputs(plan)
    xs = _gray_or_colour_inputs(size, channels)
    _assert_operators_match_tflm(model, _layout_builds(model, tmp_path, outputs), xs, outputs)


FIRST_SIZE = 61  # fixture_models._first_convs


def _first_forms(plan) -> set:
    """(stride, input channels, output channels, padded) of the layers on vad_conv_first.c"""
    return {(p["stride_h"], p["in_c"], p["out_c"], p["pad_w"] > 0 or p["pad_h"] > 0)
            for _, _, p in _conv_layers(plan) if p["fast"] == CONV_FIRST}


@pytest.mark.parametrize("channels", [1, 3])
def test_first_convs_bit_exact(channels, build_model, tmp_path):
    """3x3 convolutions on 1 to 3 channels (vad_conv_first.c: stride 1 and 2, padded or not,
    1 to 3 input and output channels, chunks and partial blocks) equal TFLM per operator: run
    whole, streamed row by row into a depthwise layer's ring (the first layer of
    dw3paths, padded at the top by the streamed call), and in the reference build."""
    model = build_model(f"firstconvs{channels}", FIRST_SIZE)
    plan = build_plan(model, streaming="off")
    convs = _conv_layers(plan)
    assert all(p["fast"] == CONV_FIRST and s.kernel == "vad_conv_first_s8" for _, s, p in convs)
    forms = _first_forms(plan)
    assert {(st, ic) for st, ic, _, _ in forms} == {(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)}
    assert {oc for _, _, oc, _ in forms} == {1, 2, 3} and {pad for *_, pad in forms} == {True, False}
    assert {p["out_w"] % 4 for _, _, p in convs} >= {1, 2, 3} and max(p["out_w"] for _, _, p in convs) > 48
    outputs = _computed_outputs(plan)
    xs = _gray_or_colour_inputs(FIRST_SIZE, channels)
    builds = {"fast": (_debug_build(model, tmp_path / "fast", True, streaming="off"), outputs),
              "reference": (_debug_build(model, tmp_path / "ref", False, streaming="off"), outputs)}
    _assert_operators_match_tflm(model, builds, xs, outputs)
    # streamed: the first convolution of dw3paths row by row into its depthwise layer's ring
    model = build_model(f"dw3paths{channels}", DW3_SIZE)
    streamed = build_plan(model, streaming="all")
    first = streamed.steps[0]
    assert first.kernel == "vad_conv_first_s8" and first.streamed_into is not None
    outputs = _computed_outputs(streamed)
    builds = {"streamed": (_debug_build(model, tmp_path / "streamed", True, streaming="all"), outputs)}
    _assert_operators_match_tflm(model, builds, _gray_or_colour_inputs(DW3_SIZE, channels)[:2], outputs)


def _all_blocks4(monkeypatch):
    """Every fast CONV_2D planned with the scratch of blocks of 4 pixels (four widened columns,
    plus four im2col columns unless direct), not only those whose scratch grows for free."""
    from vadtool.native import lower

    monkeypatch.setattr(lower, "conv_scratch_bytes", lambda kpad, direct: (8 if direct else 12) * kpad)


def _all_blocks6(monkeypatch):
    """Every fast CONV_2D planned with the scratch of blocks of 6 pixels (six widened columns)
    if direct, else of blocks of 4 (so the direct full-range layers run in blocks of 6, those
    on 16 input channels too: no px1 where blocks of 6 fit; their records int16 up to K 16 only)."""
    from vadtool.native import lower

    monkeypatch.setattr(lower, "conv_scratch_bytes", lambda kpad, direct: 12 * kpad)
    monkeypatch.setattr(lower, "PX1_OVER_BLOCKS6", ())
    # int8 records above K 16 whatever the filter's size (the int8 kernels stay covered)
    monkeypatch.setattr(lower, "REC6_WIDE_BYTES", 0)


def _no_blocks6(monkeypatch):
    """Blocks of 6 pixels never fit: the direct full-range layers on 8 and 16 input channels
    run a pixel at a time (px1), the other direct layers in blocks of 4 where they fit."""
    from vadtool.native import lower

    monkeypatch.setattr(lower, "conv_block6_bytes", lambda kpad: 10**9)


def _full_range(p) -> bool:
    return p["act_min"] == -128 and p["act_max"] == 127


def _rq_table(s, p) -> np.ndarray:
    """[out_c][bias, mult, e, rnd] of a fast CONV_2D step: its rq table, or from the records of
    the blocks of 6 (rec6: bias doubled, mult, e, rnd + z 2^e after the filter words)."""
    if p["blocks6"]:
        assert p["wfast"].endswith("_rec6") and p["rq"] == "0"
        rec = np.asarray(next(c.values for c in s.consts if c.name == p["wfast"])).reshape(p["out_c"], -1)
        assert rec.shape[1] == p["kpad"] // (2 if p["wfast16"] else 4) + 4
        return rec[:, [0, -3, -2, -1]]
    return np.asarray(next(c.values for c in s.consts if c.name.endswith("_rq"))).reshape(-1, 4)


def _pointwise_forms(plan):
    """The pointwise fixture's 1x1 layers cover what the kernels distinguish."""
    convs = _conv_layers(plan)
    assert {p["in_c"] for _, _, p in convs} >= {16, 13, 24, 160, 20, 132, 12, 4, 8}
    assert {p["out_c"] % 2 for _, _, p in convs} == {0, 1} and {direct_conv(p) for _, _, p in convs} == {True, False}
    assert {p["fast"] for _, _, p in convs} == {1, 2, 3}  # e >= 1 only; generic channels; shift 0
    rq = {i: _rq_table(s, p) for i, s, p in convs if not p["px1"]}  # px1 layers: their records
    assert any((r[:, 1] == 0).any() for r in rq.values())  # a channel of constant output
    return convs


# (blocks, map size): 11x11, 14x14 and 9x9 maps leave 1, 4 and 3 pixels after the blocks of 6
# (n^2 mod 6 is 0, 1, 3 or 4); all6rect: the maps (n - 2) x n (pointwiserect), 8x10 and 11x13
# leave 2 and 5
# px1: no blocks of 6, so the layers on 8 and 16 input channels run a pixel at a time
POINTWISE_BLOCKS = [("planned", 11), ("all4", 11), ("all6", 11), ("all6", 14), ("all6", 9), ("px1", 11),
                    ("all6rect", 10), ("all6rect", 13)]


def _pointwise_model(blocks: str, size: int, build_model, monkeypatch) -> Path:
    """The pointwise fixture (pointwiserect for all6rect) planned as blocks says."""
    if blocks == "all4":
        _all_blocks4(monkeypatch)
    if blocks.startswith("all6"):
        _all_blocks6(monkeypatch)
    if blocks == "px1":
        _no_blocks6(monkeypatch)
    return build_model("pointwiserect" if blocks.endswith("rect") else "pointwise", size)


@pytest.mark.parametrize("blocks,size", POINTWISE_BLOCKS)
def test_pointwise_kernels_bit_exact(blocks, size, build_model, tmp_path, monkeypatch):
    """The 1x1 kernels per operator against TFLM (host C build of the fast paths, both filter
    layouts): blocks of 4 pixels x 2 channels where the scratch allows (all4: every direct
    layer whose channels all take the fast requantization) and 2 x 2 otherwise, the 1-3 pixels left of a row of 11, odd output channels, input
    channels 16, 13 (im2col), 24, 160, 20, 132, 12, 4 and 8, requantization with shift 0 channels, generic
    channels and constant channels; all6: the direct full-range ones in blocks of 6 pixels x 1
    channel (every entry of its loop unrolled by 4 groups: kq - 1 = 0, 1, 2, 3 mod 4; kq 1 and 2),
    the last pixel (11x11), 4 (14x14) or 3 (9x9) in a block of 4 or pairs; px1: the direct
    full-range layers on 16 and 8 input channels (odd and even output channels) a pixel at a
    time. The blocks of 6 read the generator's records (rec6: int16 filters up to K 16, int8
    above, int16 everywhere in the wide build) and take the 1-5 pixels left in one smaller block of the
    same kernel (all6rect: 2 and 5 left)."""
    model = _pointwise_model(blocks, size, build_model, monkeypatch)
    plan = build_plan(model)
    convs = _pointwise_forms(plan)
    px1 = [p for _, _, p in convs if p["px1"]]
    assert all(direct_conv(p) and p["fast"] == 1 and _full_range(p) and p["kpad"] in (8, 16)
               and not p["blocks6"] and p["rq"] == "0" for p in px1)
    if blocks == "px1":
        # both K, one channel or two per test of the loop's end
        assert {(p["kpad"], p["out_c"] % 2) for p in px1} == {(8, 0), (8, 1), (16, 0), (16, 1)}
    if blocks.startswith("all6"):
        assert not px1
    convs = [c for c in convs if not c[2]["px1"]]  # the blocks below
    b4 = {p["blocks4"] for _, _, p in convs if direct_conv(p) and p["fast"] == 1}
    assert b4 == ({0, 1} if blocks in ("planned", "px1") else {1})
    if blocks in ("all4", "all6"):  # the im2col layers too (13 input channels)
        assert all(p["blocks4"] for _, _, p in convs if p["fast"] == 1)
    assert not any(p["blocks4"] for _, _, p in convs if p["fast"] != 1)
    b6 = [p for _, _, p in convs if p["blocks6"]]
    assert all(direct_conv(p) and p["fast"] == 1 and _full_range(p) and p["blocks4"] for p in b6)
    if blocks.startswith("all6"):  # odd and even channel counts, every loop entry, kq 1
        assert {p["out_c"] % 2 for p in b6} == {0, 1}
        # kq 1, 2, 4, 6, 8 and 12 have their own asm (int16 filters), the others the loop
        kq = {p["kpad"] // 4 for p in b6}
        assert {1, 2, 4, 6, 8, 12} <= kq and {(k - 1) % 4 for k in kq if k > 2} == {0, 1, 2, 3}
        # the records' filter as int16 pairs up to lower.REC6_WIDE_K (16), else int8 (K 32: the
        # written-out int8 kq 8; _layout_builds builds the wide one everywhere too)
        assert {(p["kpad"] <= 16, p["wfast16"]) for p in b6} == {(True, 1), (False, 0)}
        assert any(p["kpad"] == 32 and not p["wfast16"] for p in b6)
        # output zero point -128 (no sign correction in the blocks of 6) and another
        assert {p["out_offset"] == -128 for p in b6} == {True, False}
        # the pixels left after the blocks of 6: 1, 4, 3 (square maps), 2 and 5 (all6rect)
        left = {p["out_h"] * p["out_w"] % 6 for p in b6}
        assert left == {size * (size - 2 if blocks.endswith("rect") else size) % 6} and 0 not in left
        assert all(p["blocks6"] for _, _, p in convs if direct_conv(p) and p["fast"] == 1 and _full_range(p))
    check_plan(plan.buffers, plan.offsets, plan.arena_bytes, plan.overlaps)
    outputs = _computed_outputs(plan)
    _assert_operators_match_tflm(model, _layout_builds(model, tmp_path, outputs),
                                 _gray_or_colour_inputs(size, 3), outputs)


def test_block4_scratch_never_grows_the_arena(build_model, monkeypatch):
    """Blocks of 4 pixels take a larger scratch only where the placed plan has room for it:
    the arena is the one planned with two columns."""
    model = build_model("pointwise", 11)
    plan = build_plan(model)
    grown = [s for _, s, p in _conv_layers(plan) if p["blocks4"]]
    assert grown and all(s.scratch == (conv_block6_bytes(p["kpad"]) if p["blocks6"]
                                       else conv_block4_bytes(p["kpad"], direct_conv(p)))
                         for s, p in ((s, dict(s.params)) for s in grown))
    _all_blocks4(monkeypatch)
    assert build_plan(model).arena_bytes >= plan.arena_bytes
    _all_blocks6(monkeypatch)
    assert build_plan(model).arena_bytes >= plan.arena_bytes


def test_block6_needs_the_offset_fold_to_be_exact(build_model, monkeypatch):
    """Blocks of 6 pixels add the output offset to the rounding term (rnd + z 2^e): only where
    every channel keeps |rnd| + |z| 2^e <= 2^30 - 2; elsewhere the layer keeps blocks of 4."""
    def step(e, rnd, z):
        rq = np.stack([np.zeros(len(e)), np.ones(len(e)), e, rnd], axis=1).astype(np.int64)
        return Step(None, "vad_conv2d_s8", "vad_conv_params_t", [("out_offset", z)], [], [],
                    [ConstArray("op1_rq", "int32_t", rq)])

    e = np.array([1, 7, 21])
    assert block6_rq_ok(step(e, 1 << (e - 1), -128)) and block6_rq_ok(step(e, 1 << (e - 1), 127))
    e = np.array([1, 7, 23])  # 128 2^23 = 2^30
    assert not block6_rq_ok(step(e, 1 << (e - 1), -128)) and block6_rq_ok(step(e, 1 << (e - 1), 0))
    # the bound itself: 2^21 + 255 2^22 = 2^30 - 2^21 fits, 2^21 + 256 2^22 = 2^30 + 2^21 does not
    assert block6_rq_ok(step(np.array([22]), np.array([1 << 21]), 255))
    assert not block6_rq_ok(step(np.array([22]), np.array([1 << 21]), 256))
    _all_blocks6(monkeypatch)
    model = build_model("pointwise", 11)
    assert any(dict(s.params)["blocks6"] for s in build_plan(model).steps if s.op.name == "CONV_2D")
    from vadtool.native import lower

    monkeypatch.setattr(lower, "block6_rq_ok", lambda s: False)
    convs = _conv_layers(build_plan(model))
    assert not any(p["blocks6"] for _, _, p in convs)
    assert all(p["blocks4"] for _, _, p in convs if p["fast"] == 1 and not p["px1"])


@pytest.mark.parametrize("streaming", ["off", "auto"])
def test_block6_scratch_keeps_the_vww_arena(streaming, monkeypatch):
    """Blocks of 6 pixels take their scratch only where the placed plan has it free: VWW's
    arena is the one planned without them (blocks of 4 at most), and most of its 1x1 layers
    get them."""
    if not VWW.is_file():
        pytest.skip(f"no {VWW}")
    from vadtool.native import lower

    plan = build_plan(VWW, streaming=streaming)
    b6 = [p for _, _, p in _conv_layers(plan) if p["blocks6"]]
    assert len(b6) >= 10 and all(direct_conv(p) and p["blocks4"] for p in b6)
    monkeypatch.setattr(lower, "conv_block6_bytes", lambda kpad: 10**9)  # never fits
    without = build_plan(VWW, streaming=streaming)
    assert not any(p["blocks6"] for _, _, p in _conv_layers(without))
    assert plan.arena_bytes == without.arena_bytes


@pytest.mark.parametrize("streaming", ["off", "auto"])
def test_px1_takes_the_layers_without_blocks6_in_vww(streaming, monkeypatch):
    """VWW's 1x1 layers on 8 and 16 input channels without room for the blocks of 6 (8 -> 16
    never has it) run a pixel at a time (px1) from their records; those with it run in blocks
    of 6 (lower.PX1_OVER_BLOCKS6 is empty: the blocks' records beat px1 on 16 channels) from
    theirs (rec6); the other layers keep the filter words and drop both records; the arena is
    unchanged."""
    if not VWW.is_file():
        pytest.skip(f"no {VWW}")
    plan = build_plan(VWW, streaming=streaming)
    convs = _conv_layers(plan)
    px1 = {i for i, _, p in convs if p["px1"]}
    small = {i: p for i, _, p in convs if direct_conv(p) and p["kpad"] in (8, 16)}
    assert set(small) == {2, 4} and 2 in px1
    assert px1 == {i for i, p in small.items() if not p["blocks6"]}
    for i, s, p in convs:
        names = {c.name for c in s.consts}
        assert (p["wfast"] == f"op{i}_px1") == (i in px1)
        assert (p["wfast"] == f"op{i}_rec6") == bool(p["blocks6"])
        assert not any(n.endswith("_px1") for n in names) or i in px1
        assert not any(n.endswith("_rec6") for n in names) or p["blocks6"]
    from vadtool.native import lower

    monkeypatch.setattr(lower, "PX1_K", ())  # no records: no px1 layer
    without = build_plan(VWW, streaming=streaming)
    assert not any(p["px1"] for _, _, p in _conv_layers(without))
    assert without.arena_bytes == plan.arena_bytes


def test_wide_weights_double_the_conv_filters_only(build_model):
    """wide_weights stores the fast CONV_2D filters as int16: their flash doubles, nothing else
    changes (same arena, same schedule). The first 3x3 (vad_conv_first.c) is int16 either way."""
    model = build_model("convpaths3", 19)
    narrow, wide = build_plan(model), build_plan(model, wide_weights=True)
    first = [s for s in narrow.steps if s.op.name == "CONV_2D" and dict(s.params)["fast"] == CONV_FIRST]
    assert len(first) == 1
    extra = sum(c.nbytes for s in narrow.steps for c in s.consts
                if c.name.endswith("_wfast") and s not in first)
    # the records of the blocks of 6 (rec6) hold small filters as int16 either way (lower.rec6_wide)
    extra += sum(p["out_c"] * p["kpad"] for s in narrow.steps for p in [dict(s.params)]
                 if p.get("blocks6") and not p["wfast16"])
    assert wide.info.weights_bytes == narrow.info.weights_bytes + extra
    assert wide.info.arena_bytes == narrow.info.arena_bytes and wide.offsets == narrow.offsets


@pytest.mark.parametrize("kind,size", [("backbone035", 96), ("zoo1", 33)])
def test_streamed_schedule_gives_the_plain_bytes(kind, size, build_model, tmp_path):
    """Every convolution streamed into its depthwise layer (stride 1 and 2, padded or not,
    odd and even maps), fast and reference kernels: each computed tensor equals TFLM's and
    the plain schedule's; streaming only where it lowers the arena does lower it."""
    model = build_model(kind, size)
    plan = build_plan(model, streaming="all")
    strides = {dict(s.params)["stride_h"] for s in plan.steps if s.stream}
    assert plan.info.streamed and (kind != "backbone035" or strides == {1, 2})
    plain, auto = build_plan(model, streaming="off"), build_plan(model)
    assert auto.info.arena_bytes <= plain.info.arena_bytes
    assert kind != "backbone035" or auto.info.arena_bytes < plain.info.arena_bytes
    outputs = _computed_outputs(plan)
    x = input_batch(size, n_random=1, n_real=1, seed=9)["random"][0]
    want = _tflm_tensors(model, x, outputs)
    for fast in (True, False):
        got = _native_tensors(_debug_build(model, tmp_path / str(fast), fast, streaming="all"), x)
        plain_out = _native_tensors(_debug_build(model, tmp_path / f"plain{fast}", fast, streaming="off"), x)
        for op_index in outputs:
            assert (got[op_index] == want[op_index]).all(), f"fast={fast} op {op_index}"
            assert (got[op_index] == plain_out[op_index]).all()


VWW = ROOT.parent / "shared" / "models" / "vww_96_int8.tflite"  # MLPerf Tiny VWW, on the dev machines


def _in_place_model(which: str, build_model) -> tuple[Path, str]:
    """(model, streaming) whose plan puts a streamed pair's output over its input: the 0.35
    backbone with every pair streamed (the first 3x3 stride-2 pair, output below its input;
    a 1x1 expansion into a stride-2 depthwise layer), VWW as planned (output inside its input)."""
    if which == "vww":
        if not VWW.is_file():
            pytest.skip(f"no {VWW}")
        return VWW, "auto"
    return build_model("backbone035", 96), "all"


@pytest.mark.parametrize("which", ["backbone035", "vww"])
def test_in_place_schedule_gives_the_plain_bytes(which, build_model, tmp_path):
    """The planner's in-place schedule (a streamed pair writing over the input rows it has
    consumed) computes every tensor as TFLM and the plain schedule do, fast and reference."""
    model, streaming = _in_place_model(which, build_model)
    plan = build_plan(model, streaming=streaming)
    plain = build_plan(model, streaming="off")
    assert plan.info.in_place and plan.arena_bytes < build_plan(model, streaming=streaming, in_place=False).arena_bytes
    outputs = _computed_outputs(plan)
    last = plan.steps[-1].op.index
    batch = input_batch(96, n_random=1, n_real=1, seed=13)
    for x in (batch["random"][0], batch.get("real", batch["random"])[0]):
        want = _tflm_tensors(model, x, outputs)
        for fast in (True, False):
            got = _native_tensors(_debug_build(model, tmp_path / f"in_place{fast}", fast, streaming=streaming), x)
            ref = _native_tensors(_debug_build(model, tmp_path / f"plain{fast}", fast, streaming="off"), x)
            for op_index in outputs:
                assert (got[op_index] == want[op_index]).all(), f"fast={fast} op {op_index}"
            assert (got[last] == ref[last]).all() and len(plain.info.in_place) == 0


def test_zoo_covers_the_operators(build_model):
    ops = set(build_plan(build_model("zoo1", 33)).info.ops)
    assert {"PAD", "MUL", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "AVERAGE_POOL_2D", "MEAN",
            "FULLY_CONNECTED", "SOFTMAX"} <= ops


def _conv_layers(plan):
    return [(i, s, dict(s.params)) for i, s in enumerate(plan.steps) if s.op.name == "CONV_2D"]


def test_wide_k_convolutions_take_the_fast_path(build_model):
    """Every CONV_2D of the widek fixture (K 576, 580, 1040; direct and im2col) is lowered to
    the fast path with its scratch (two widened columns, or four for blocks of 4 pixels, plus
    two int8 im2col columns unless direct) placed in the arena for its step only, apart from the step's tensors; the int8
    filter is left to the reference build."""
    plan = build_plan(build_model("widek", 9))
    check_plan(plan.buffers, plan.offsets, plan.arena_bytes)
    convs = _conv_layers(plan)
    forms = {(p["kpad"], direct_conv(p)) for _, _, p in convs}
    assert {(576, False), (580, False), (576, True), (1040, True), (1040, False)} <= forms
    sizes = {b.key: b for b in plan.buffers}
    for i, s, p in convs:
        assert p["fast"] > 0, f"op {i} (K {p['kpad']}) is not on the fast path"
        if p["fast"] == CONV_FIRST:  # the first 3x3 (vad_conv_first.c): no scratch
            assert (s.scratch, p["scratch"], p["in_c"]) == (0, "0", 3) and -(i + 1) not in sizes
            continue
        assert s.scratch == ((4 + 4 * p["blocks4"] + 4 * p["blocks6"]) if direct_conv(p)
                             else (6 + 6 * p["blocks4"])) * p["kpad"]
        b = sizes[-(i + 1)]
        assert (b.size, b.first, b.last) == (s.scratch, i, i)
        assert p["scratch"] == f"(vad_arena + {plan.offsets[b.key]})"
        assert plan.offsets[b.key] % 8 == 0 and plan.offsets[b.key] + b.size <= plan.arena_bytes
        assert p["filter"].startswith("VAD_REF_ONLY(")


def test_fomo_multiscale_576_channel_convs_are_fast(build_model):
    """FOMO-AD multi-scale's 1x1 convolutions on 576 channels (block_13's project and the
    expand outputs) took the reference loops while the fast path stopped at K 512."""
    plan = build_plan(build_model("fomo_multiscale", 64))
    wide = [(i, p) for i, _, p in _conv_layers(plan) if p["in_c"] >= 576]
    assert wide
    for i, p in wide:
        assert p["fast"] > 0 and direct_conv(p), f"op {i}: {p['in_c']} channels, fast {p['fast']}"


def _bench_module():
    spec = importlib.util.spec_from_file_location("native_ops_bench", ROOT / "bench" / "native_ops.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("kind,size", [("backbone035", 96), ("zoo1", 33), ("classifier", 96), ("concat", 22),
                                       ("widek", 9)])
def test_cortex_m4_dsp_path_bit_exact_in_qemu(kind, size, build_model, tmp_path):
    from conftest import tflm_outputs

    bench = _bench_module()
    model = build_model(kind, size)
    elf = bench.build(model, tmp_path, streaming="all")
    x = np.concatenate([v[:2] for v in input_batch(size, n_random=2, n_real=2, seed=5).values()])
    y, runs, _ = bench.run(elf, x)
    want = tflm_outputs(model, x).reshape(y.shape)
    assert (y == want).all(), f"{int((y != want).sum())} elements differ on Cortex-M4"
    assert len(runs) == len(x) and min(runs) > 0


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("which", ["backbone035", "vww"])
def test_in_place_schedule_bit_exact_in_qemu(which, build_model, tmp_path):
    """On Cortex-M4 (DSP kernels) the in-place schedule answers as the plain one and TFLM."""
    from conftest import tflm_outputs

    bench = _bench_module()
    model, streaming = _in_place_model(which, build_model)
    x = np.concatenate([v[:1] for v in input_batch(96, n_random=1, n_real=1, seed=17).values()])
    y, _, _ = bench.run(bench.build(model, tmp_path / "in_place", streaming=streaming), x)
    plain, _, _ = bench.run(bench.build(model, tmp_path / "plain", streaming="off"), x)
    want = tflm_outputs(model, x).reshape(y.shape)
    assert (y == want).all() and (y == plain).all(), f"{int((y != want).sum())} elements differ"


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("wide", [False, True], ids=["int8", "int16"])
def test_conv_paths_dsp_bit_exact_in_qemu(channels, wide, build_model, tmp_path):
    """The asm inner loops of both filter layouts on Cortex-M4, grayscale and RGB inputs."""
    from conftest import tflm_outputs

    bench = _bench_module()
    model = build_model(f"convpaths{channels}", 19)
    elf = bench.build(model, tmp_path, wide=wide)
    x = _gray_or_colour_inputs(19, channels)
    y, runs, _ = bench.run(elf, x)
    want = tflm_outputs(model, x).reshape(y.shape)
    assert (y == want).all(), f"{int((y != want).sum())} elements differ on Cortex-M4"


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("blocks,size", POINTWISE_BLOCKS)
@pytest.mark.parametrize("wide", [False, True], ids=["int8", "int16"])
def test_pointwise_dsp_bit_exact_in_qemu(blocks, size, wide, build_model, tmp_path, monkeypatch):
    """The asm 6 x 1, 4 x 2 and 2 x 2 blocks, the px1 pixels and the SMMLAR requantization on Cortex-M4, both
    filter layouts; the fixture's last layer has no activation, so it carries every layer's
    errors."""
    from conftest import tflm_outputs

    bench = _bench_module()
    model = _pointwise_model(blocks, size, build_model, monkeypatch)
    _pointwise_forms(build_plan(model))
    x = _gray_or_colour_inputs(size, 3)
    y, _, _ = bench.run(bench.build(model, tmp_path, wide=wide), x)
    want = tflm_outputs(model, x).reshape(y.shape)
    assert (y == want).all(), f"{int((y != want).sum())} elements differ on Cortex-M4"


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("machine", ["an500", "an505"])
def test_cortex_m7_and_m33_bit_exact_in_qemu(machine, build_model, tmp_path):
    """The benchmark's other machines (Cortex-M7; Cortex-M33 with DSP, secure state) run the
    same kernels bit-exactly, and their SysTick clocks give the M4's instruction count to
    within the harness's few differing instructions."""
    from conftest import tflm_outputs

    bench = _bench_module()
    model = build_model("convpaths3", 19)
    x = _gray_or_colour_inputs(19, 3)[:2]
    counts = {}
    for m in ("an386", machine):
        elf = bench.build(model, tmp_path / m, machine=m)
        y, runs, _ = bench.run(elf, x, machine=m)
        want = tflm_outputs(model, x).reshape(y.shape)
        assert (y == want).all(), f"{m}: {int((y != want).sum())} elements differ"
        counts[m] = runs[-1] * bench.MACHINES[m].instr_per_tick
    assert abs(counts[machine] - counts["an386"]) < 0.05 * counts["an386"], counts


DW3_SIZE = 101  # fixture_models._dw3_paths: every form of the 3x3 depthwise path


def _dw3_layers(plan) -> list[dict]:
    return [dict(s.params) for s in plan.steps
            if s.op.name == "DEPTHWISE_CONV_2D" and dict(s.params)["dw3"] != "0"]


def _strip_words(p: dict) -> int:
    """Row spacing of the 3x3 path's strip layout for a layer run whole, 0 for the per-row layout."""
    return dw3_strip(p["out_w"], p["out_h"], p["stride_h"])[0]


@pytest.mark.parametrize("channels", [1, 3])
def test_dw3_paths_bit_exact(channels, build_model, tmp_path):
    """The 3x3 depthwise path (stride 1 and 2, padded or not, odd widths and channel counts,
    maps down to 3 pixels), after a first 3x3 convolution on 1 or 3 channels, equals TFLM per
    operator: run whole, run in blocks of rows inside streamed pairs (rings of one window and
    longer), and in the reference build."""
    model = build_model(f"dw3paths{channels}", DW3_SIZE)
    plan = build_plan(model, streaming="off")
    dws = _dw3_layers(plan)
    assert {(p["stride_h"], p["pad_w"]) for p in dws} == {(1, 0), (1, 1), (2, 0), (2, 1)}
    assert {p["out_c"] % 2 for p in dws} == {0, 1} and {p["out_w"] % 2 for p in dws} == {0, 1}
    # every strip spacing at stride 1, two at stride 2, and stride 2 on a 6-pixel map
    assert {_strip_words(p) for p in dws if p["stride_h"] == 1} == {8, 16, 32}
    assert {_strip_words(p) for p in dws if p["stride_h"] == 2} == {16, 32, 8}
    assert min(p["out_w"] for p in dws if p["stride_h"] == 2 and p["out_w"] != DW3_TINY_W) == 6
    # the 3-pixel map takes d3_tiny (lower.DW3_TINY_W; test_dw3_tiny_maps_bit_exact)
    assert any(p["out_w"] == DW3_TINY_W and p["stride_h"] == 2 for p in dws)
    assert all(p["wpk"] == "0" for p in dws)  # the generic fast arrays are left out
    streamed = build_plan(model, streaming="all")
    rings = {(dict(s.params)["stride_h"], dict(s.stream)["ring_rows"] > 3) for s in streamed.steps
             if s.stream is not None and dict(s.params)["dw3"] != "0"}
    assert (1, True) in rings and any(st == 2 for st, _ in rings), rings
    outputs = _computed_outputs(plan)
    builds = {"plain": (_debug_build(model, tmp_path / "plain", True, streaming="off"), outputs),
              "streamed": (_debug_build(model, tmp_path / "streamed", True, streaming="all"),
                           _computed_outputs(streamed)),
              "reference": (_debug_build(model, tmp_path / "ref", False, streaming="off"), outputs)}
    _assert_operators_match_tflm(model, builds, _gray_or_colour_inputs(DW3_SIZE, channels), outputs)


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("channels", [1, 3])
def test_dw3_paths_dsp_bit_exact_in_qemu(channels, build_model, tmp_path):
    """The 3x3 depthwise path's asm loops on Cortex-M4, whole and streamed row by row: the
    model's output is the last depthwise layer's, element for element."""
    from conftest import tflm_outputs

    bench = _bench_module()
    model = build_model(f"dw3paths{channels}", DW3_SIZE)
    x = _gray_or_colour_inputs(DW3_SIZE, channels)
    want = tflm_outputs(model, x)
    for streaming in ("off", "all"):
        y, _, _ = bench.run(bench.build(model, tmp_path / streaming, streaming=streaming), x)
        bad = int((y != want.reshape(y.shape)).sum())
        assert bad == 0, f"streaming {streaming}: {bad} elements differ on Cortex-M4"


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("channels", [1, 3])
def test_first_convs_dsp_bit_exact_in_qemu(channels, build_model, tmp_path):
    """vad_conv_first.c's asm blocks and widening on Cortex-M4 in every form of firstconvs
    (each layer feeds the next: the model's output is the chain's). Streamed row by row:
    test_dw3_paths_dsp_bit_exact_in_qemu, whose first convolution takes this kernel."""
    from conftest import tflm_outputs

    bench = _bench_module()
    model = build_model(f"firstconvs{channels}", FIRST_SIZE)
    x = _gray_or_colour_inputs(FIRST_SIZE, channels)
    want = tflm_outputs(model, x)
    y, _, _ = bench.run(bench.build(model, tmp_path / "plain", streaming="off"), x)
    bad = int((y != want.reshape(y.shape)).sum())
    assert bad == 0, f"{bad} elements differ on Cortex-M4"


# (channels, size, forms, blocks): fixture_models._dw3_quads at three sizes, the (stride, pad_w,
# strip words, odd width) of its layers in d3_strip4's layout, and whether one of them runs in
# more than one block of rows
QUADS = [(1, 26, {(1, 0, 8, 1), (1, 1, 8, 1), (2, 1, 8, 0), (1, 1, 8, 0)}, False),
         (3, 50, {(1, 0, 16, 1), (1, 1, 16, 1), (2, 1, 16, 0), (1, 1, 8, 0)}, True),
         (1, 98, {(1, 0, 32, 1), (1, 1, 32, 1), (2, 1, 32, 0), (1, 1, 16, 0)}, True)]


def _quad_layers(plan) -> list[dict]:
    """The 3x3 depthwise layers run whole in d3_strip4's layout (rows 8, 16 or 32 words apart,
    channels in fours)."""
    return [p for p in _dw3_layers(plan) if _strip_words(p) > 0 and p["out_c"] % 4 == 0]


@pytest.mark.parametrize("channels,size,forms,blocks", QUADS)
def test_dw3_quads_bit_exact(channels, size, forms, blocks, build_model, tmp_path):
    """Maps on channels in fours (d3_strip4: stride 1 and 2, padded or not, odd widths, rows 8,
    16 and 32 words apart, several blocks of rows, several groups of four) equal TFLM per
    operator: run whole, streamed (rings of more than one window: blocks of rows in the same
    layout), and in the reference build."""
    model = build_model(f"dw3quads{channels}", size)
    plan = build_plan(model, streaming="off")
    quads = _quad_layers(plan)
    assert {(p["stride_h"], p["pad_w"], _strip_words(p), p["out_w"] % 2) for p in quads} == forms
    assert {p["out_c"] for p in quads} == {12, 16}
    # output rows a block in that layout (DW3_QUAD_WORDS a channel)
    assert any(p["out_h"] > dw3_strip(p["out_w"], p["out_h"], p["stride_h"], quad=True)[1]
               for p in quads) == blocks
    streamed = build_plan(model, streaming="all")
    assert any(s.stream is not None and dict(s.stream)["ring_rows"] > 3 and dict(s.params)["dw3"] != "0"
               for s in streamed.steps)
    outputs = _computed_outputs(plan)
    builds = {"plain": (_debug_build(model, tmp_path / "plain", True, streaming="off"), outputs),
              "streamed": (_debug_build(model, tmp_path / "streamed", True, streaming="all"),
                           _computed_outputs(streamed)),
              "reference": (_debug_build(model, tmp_path / "ref", False, streaming="off"), outputs)}
    _assert_operators_match_tflm(model, builds, _gray_or_colour_inputs(size, channels), outputs)


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("channels,size,forms,blocks", QUADS)
def test_dw3_quads_dsp_bit_exact_in_qemu(channels, size, forms, blocks, build_model, tmp_path):
    """d3_strip4 with the asm loops on Cortex-M4, whole and streamed: the model's output is the
    last depthwise layer's, element for element."""
    from conftest import tflm_outputs

    bench = _bench_module()
    model = build_model(f"dw3quads{channels}", size)
    x = _gray_or_colour_inputs(size, channels)
    want = tflm_outputs(model, x)
    for streaming in ("off", "all"):
        y, _, _ = bench.run(bench.build(model, tmp_path / streaming, streaming=streaming), x)
        bad = int((y != want.reshape(y.shape)).sum())
        assert bad == 0, f"streaming {streaming}: {bad} elements differ on Cortex-M4"


# (channels, size, (in_w, pad_w) of the stride-2 layer into 3 pixels): fixture_models._dw3_tiny
TINY = [(1, 24, (6, 0)), (3, 20, (5, 1)), (1, 28, (7, 0))]


def _tiny_layers(plan) -> list[dict]:
    """The 3x3 depthwise layers on maps 3 pixels wide (d3_tiny)."""
    return [p for p in _dw3_layers(plan) if p["out_w"] == DW3_TINY_W]


@pytest.mark.parametrize("channels,size,s2", TINY)
def test_dw3_tiny_maps_bit_exact(channels, size, s2, build_model, tmp_path):
    """Maps 3 pixels wide (d3_tiny: stride 2 from 6, 5 and 7 pixels, stride 1 padded, channels
    in fours, in pairs and a lone last one, relu6 and the full range) equal TFLM per operator:
    run whole, streamed (a call per block of rows the ring holds, fewer than 3 rows; the layer
    before, streamed one output row a call, takes the strip layout in fours), and in the
    reference build."""
    model = build_model(f"dw3tiny{channels}", size)
    plan = build_plan(model, streaming="off")
    tiny = _tiny_layers(plan)
    assert [(p["stride_h"], p["out_c"], p["out_h"]) for p in tiny] == [(2, 16, 3), (1, 16, 3),
                                                                       (1, 14, 3), (1, 7, 3)]
    assert (tiny[0]["in_w"], tiny[0]["pad_w"]) == s2
    assert all(p["pad_w"] == p["pad_h"] == 1 for p in tiny[1:])
    streamed = build_plan(model, streaming="all")
    assert any(s.stream is not None and dict(s.params)["dw3"] != "0"
               and dict(s.params)["out_w"] == DW3_TINY_W for s in streamed.steps)
    if size != 20:  # the 6- or 7-pixel map before: one output row a call, channels in fours
        assert any(s.stream is not None and dict(s.params)["out_w"] > DW3_TINY_W
                   and dict(s.stream)["ring_rows"] == 3 and dict(s.params)["out_c"] % 4 == 0
                   for s in streamed.steps)
    outputs = _computed_outputs(plan)
    builds = {"plain": (_debug_build(model, tmp_path / "plain", True, streaming="off"), outputs),
              "streamed": (_debug_build(model, tmp_path / "streamed", True, streaming="all"),
                           _computed_outputs(streamed)),
              "reference": (_debug_build(model, tmp_path / "ref", False, streaming="off"), outputs)}
    _assert_operators_match_tflm(model, builds, _gray_or_colour_inputs(size, channels), outputs)


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("channels,size,s2", TINY)
def test_dw3_tiny_maps_dsp_bit_exact_in_qemu(channels, size, s2, build_model, tmp_path):
    """d3_tiny with the DSP instructions on Cortex-M4, whole and streamed: the model's output is
    the last depthwise layer's (3 pixels, 7 channels), element for element."""
    from conftest import tflm_outputs

    bench = _bench_module()
    model = build_model(f"dw3tiny{channels}", size)
    x = _gray_or_colour_inputs(size, channels)
    want = tflm_outputs(model, x)
    for streaming in ("off", "all"):
        y, _, _ = bench.run(bench.build(model, tmp_path / streaming, streaming=streaming), x)
        bad = int((y != want.reshape(y.shape)).sum())
        assert bad == 0, f"streaming {streaming}: {bad} elements differ on Cortex-M4"


# (model, size, patching): the classifier (input scaling MUL and ADD with constants, MobileNet
# blocks) as the planner patches it; the 0.35 backbone split after a residual ADD in 5 uneven
# bands of 24 rows
# (the reference loops on the first only: the band parameters they read are the same)
PATCHED = [("classifier", 96, "auto", (True, False)), ("backbone035", 96, "9:5", (True,))]


@pytest.mark.parametrize("kind,size,patching,builds", PATCHED, ids=["classifier96-auto", "backbone035-96-9:5"])
def test_patched_schedule_gives_the_plain_bytes(kind, size, patching, builds, build_model, tmp_path):
    """Patch-based execution (the first layers band by band, halo rows computed again, the
    bands' convolutions streamed into their depthwise layers, the split output over the input
    rows read): every operator's output equals TFLM's and the plain schedule's, fast paths and
    reference loops; the bands of an operator agree on their halo rows (_native_tensors)."""
    model = build_model(kind, size)
    plan = build_plan(model, patching=patching)
    pt = plan.info.patch
    assert pt and pt["extra_macs"] > 0 and {"ADD", "DEPTHWISE_CONV_2D"} <= {plan.info.ops[i] for i in pt["ops"]}
    assert pt["extra_macs"] == sum(s.macs for s in plan.steps if s.band) - sum(plan.info.macs_per_op[i] for i in pt["ops"])
    assert any(s.band and s.stream for s in plan.steps)
    check_plan(plan.buffers, plan.offsets, plan.arena_bytes, plan.overlaps)
    if patching == "auto":  # taken because it lowers the arena
        assert "MUL" in {plan.info.ops[i] for i in pt["ops"]}
        assert plan.arena_bytes < pt["arena_unpatched"] == build_plan(model).arena_bytes
    outputs = _computed_outputs(plan)
    assert set(pt["ops"]) & set(outputs) and pt["split_op"] in outputs
    plain_outputs = _computed_outputs(build_plan(model, streaming="off"))
    last = max(plain_outputs)
    batch = input_batch(size, n_random=1, n_real=1, seed=21)
    x = batch.get("real", batch["random"])[0]  # a real image: activations not saturated
    want = _tflm_tensors(model, x, plain_outputs)
    ref = _native_tensors(_debug_build(model, tmp_path / "plain", True, streaming="off"), x)
    for fast in builds:
        covered: dict = {}
        got = _native_tensors(_debug_build(model, tmp_path / f"patched{fast}", fast, patching=patching), x, covered)
        for op_index in outputs:
            assert covered.get(op_index, np.ones(1, bool)).all()
            assert (got[op_index] == want[op_index]).all(), f"fast={fast} op {op_index}"
            assert (got[op_index] == ref[op_index]).all(), f"fast={fast} op {op_index}"
        assert (got[last] == ref[last]).all()


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
def test_patched_schedule_bit_exact_in_qemu(build_model, tmp_path):
    """On Cortex-M4 (DSP kernels) the planner's patched classifier answers as TFLM."""
    from conftest import tflm_outputs

    bench = _bench_module()
    model = build_model("classifier", 96)
    assert build_plan(model, patching="auto").info.patch
    x = np.concatenate([v[:1] for v in input_batch(96, n_random=1, n_real=1, seed=23).values()])
    y, _, _ = bench.run(bench.build(model, tmp_path, patching="auto"), x)
    want = tflm_outputs(model, x).reshape(y.shape)
    assert (y == want).all(), f"{int((y != want).sum())} elements differ on Cortex-M4"
