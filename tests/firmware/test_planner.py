"""The arena planner never lets two live tensors share memory."""

import numpy as np
import pytest

from vadtool.native import build_plan
from vadtool.native import stream
from vadtool.native.planner import Buffer, check_plan, overlapping, plan, plan_best


def random_buffers(rng, count: int, first: int, span: int) -> list[Buffer]:
    """Up to count buffers of 1..4999 bytes, born before `first`, living up to span-1 steps."""
    bufs = []
    for k in range(count):
        a = int(rng.integers(0, first))
        bufs.append(Buffer(k, int(rng.integers(1, 5000)), a, a + int(rng.integers(0, span))))
    return bufs


@pytest.mark.parametrize("seed", range(30))
def test_random_lifetimes_never_overlap(seed):
    rng = np.random.default_rng(seed)
    bufs = random_buffers(rng, int(rng.integers(1, 40)), 30, 6)
    offsets, arena = plan(bufs)
    check_plan(bufs, offsets, arena)
    assert all(off % 16 == 0 for off in offsets.values())
    # never worse than the peak sum of simultaneously live buffers rounded up, never better
    peak = max(sum(b.size for b in bufs if b.first <= t <= b.last) for t in range(40))
    assert arena >= peak


def test_plan_keeps_the_best_order():
    """VWW's first operators: image, conv out, depthwise out, expand out. Largest first puts the
    expand output at 0 and leaves the image and the depthwise output apart (64,512 B); placing
    by first use reaches the live peak (depthwise + expand output, 55,296 B)."""
    from vadtool.native.planner import live_peak, plan_best, plan_regions

    bufs = [Buffer(0, 27648, 0, 0), Buffer(1, 18432, 0, 1), Buffer(2, 18432, 1, 2),
            Buffer(3, 36864, 2, 3)]
    _, (largest_first,) = plan_regions(bufs, [None])
    offsets, arena, order = plan_best(bufs)
    check_plan(bufs, offsets, arena)
    assert largest_first == 64512 and arena == live_peak(bufs)[0] == 55296 and order == "first use"


def test_check_plan_catches_overlap():
    bufs = [Buffer(0, 100, 0, 2), Buffer(1, 100, 1, 3)]
    with pytest.raises(AssertionError):
        check_plan(bufs, {0: 0, 1: 50}, 200)


def test_dead_memory_is_reused():
    bufs = [Buffer(0, 1024, 0, 1), Buffer(1, 1024, 1, 2), Buffer(2, 1024, 2, 3)]
    offsets, arena = plan(bufs)
    assert arena == 2048 and offsets[0] == offsets[2]


def test_model_plan_is_valid(backbone035):
    plain = build_plan(backbone035, streaming="off")
    check_plan(plain.buffers, plain.offsets, plain.arena_bytes)
    # the largest pair of live tensors in the 0.35 backbone: 48x48x48 + 24x24x48
    assert plain.arena_bytes == plain.info.live_peak_bytes == 48 * 48 * 48 + 24 * 24 * 48
    # streamed, the 48x48x48 expansion (and the first convolution's output) never exist whole:
    # below 89 KB (0.6x TFLM's arena), at the live peak of that schedule
    p = build_plan(backbone035, in_place=False)
    check_plan(p.buffers, p.offsets, p.arena_bytes)
    assert p.info.streamed and p.arena_bytes <= 89 * 1024 and not p.info.in_place
    assert p.arena_bytes == (p.info.live_peak_bytes + 15) // 16 * 16
    # the first streamed pair's output over its consumed input rows: below that live peak
    q = build_plan(backbone035)
    check_plan(q.buffers, q.offsets, q.arena_bytes, q.overlaps)
    assert q.info.in_place and q.arena_bytes < p.arena_bytes
    assert len(overlapping(q.buffers, q.offsets, q.overlaps)) == len(q.overlaps) == len(q.info.in_place)
    with pytest.raises(AssertionError):  # they do share memory
        check_plan(q.buffers, q.offsets, q.arena_bytes)


def test_concat_inputs_stay_alive_until_the_concat(build_model):
    """Every input of a CONCATENATION (three in the fixture's last one) keeps its memory
    until the concat has read it, however early it was made (check_plan: without overlap)."""
    p = build_plan(build_model("concat", 22))
    check_plan(p.buffers, p.offsets, p.arena_bytes)
    by_key = {b.key: b for b in p.buffers}
    concats = [(i, s) for i, s in enumerate(p.steps) if s.op.name == "CONCATENATION"]
    assert concats and max(len(s.act_inputs) for _, s in concats) == 3
    for i, s in concats:
        for t in s.act_inputs:
            b = by_key[t]  # no aliases in the fixture: the tensor is its own buffer
            assert b.first < i <= b.last, f"input {t} of op {i} dies at op {b.last}"


@pytest.mark.parametrize("seed", range(20))
def test_regions_keep_the_limit_and_never_overlap(seed):
    from vadtool.native.planner import plan_regions
    rng = np.random.default_rng(seed)
    bufs = []
    for k in range(int(rng.integers(5, 40))):
        a = int(rng.integers(0, 30))
        bufs.append(Buffer(k, int(rng.integers(1, 5000)), a, a + int(rng.integers(0, 6))))
    _, whole = plan(bufs)
    limit = whole // 2
    placement, (first, second) = plan_regions(bufs, [limit, None])
    assert first <= limit + 15 and second > 0  # aligned to 16
    for region, size in enumerate((first, second)):
        mine = [b for b in bufs if placement[b.key][0] == region]
        check_plan(mine, {b.key: placement[b.key][1] for b in mine}, size)
        assert all(placement[b.key][1] + b.size <= (limit if region == 0 else size) for b in mine)
    assert plan_regions(bufs, [None])[1][0] >= whole  # plan() keeps the best of its orders
    with pytest.raises(ValueError, match="fits no region"):
        plan_regions([Buffer(0, 100, 0, 0)], [50])


def test_an_output_may_start_within_its_dying_input_up_to_the_limit():
    """X dies at op 1, where Y is made; Y may start up to 96 bytes above X's start: the arena
    shrinks to X's size, and check_plan refuses the same placement without the allowance or
    beyond the limit."""
    bufs = [Buffer(0, 1024, 0, 1), Buffer(1, 512, 1, 2), Buffer(2, 256, 0, 2)]
    _, plain_arena = plan(bufs)
    offsets, arena, _ = plan_best(bufs, overlaps={(0, 1): 96})
    assert plain_arena == 1024 + 512 + 256 and arena == 1024 + 256
    assert 0 <= offsets[1] - offsets[0] <= 96
    check_plan(bufs, offsets, arena, {(0, 1): 96})
    with pytest.raises(AssertionError):
        check_plan(bufs, offsets, arena)
    with pytest.raises(AssertionError):
        check_plan(bufs, {0: 0, 1: 112, 2: 1024}, 1280, {(0, 1): 96})
    # a negative limit: the output may only start below its input (and end inside it)
    offsets, arena, _ = plan_best(bufs, overlaps={(0, 1): -256})
    check_plan(bufs, offsets, arena, {(0, 1): -256})
    assert offsets[1] - offsets[0] <= -256 or offsets[1] >= offsets[0] + 1024
    assert arena <= plain_arena


@pytest.mark.parametrize("seed", range(20))
def test_random_overlaps_are_kept(seed):
    rng = np.random.default_rng(seed)
    bufs = random_buffers(rng, int(rng.integers(2, 30)), 20, 5)
    overlaps = {(x.key, y.key): int(rng.integers(-y.size, x.size)) for x in bufs for y in bufs
                if x.key != y.key and x.last == y.first and rng.random() < 0.5}
    offsets, arena, _ = plan_best(bufs, overlaps=overlaps)
    check_plan(bufs, offsets, arena, overlaps)
    assert all(off % 16 == 0 for off in offsets.values())


def test_dead_rows_follow_the_streamed_kernel():
    """VWW's first pair (3x3 stride-2 convolution, 96 rows of 96x3 with no top padding, into a
    3x3 stride-1 depthwise layer on its 48 rows of 48x8, padding 1): writing output row oy,
    vad_conv_dw_s8 has made convolution rows up to oy + 1, which read input rows up to 2 oy + 4;
    the next one starts at input row 2 oy + 4. Input rows are 288 bytes, output rows 384: the
    output may start 4 * 288 - 384 = 768 bytes above the input (the limit is at oy = 0)."""
    conv = {"in_h": 96, "in_w": 96, "in_c": 3, "k_h": 3, "stride_h": 2, "dil_h": 1, "pad_h": 0}
    dw = {"in_h": 48, "k_h": 3, "stride_h": 1, "dil_h": 1, "pad_h": 1, "out_h": 48, "out_w": 48, "out_c": 8}
    dead = stream.dead_input_rows(conv, dw)
    assert dead[:46] == [2 * oy + 4 for oy in range(46)] and dead[46:] == [96, 96]
    assert stream.overlap_limit(conv, dw) == 768
    # a 1x1 expansion (rows 1:1) into a stride-2 depthwise layer, pad 0: row oy needs conv rows
    # up to 2 oy + 2; output rows (half as wide, 6x the channels) outgrow the input's: negative
    conv = {"in_h": 24, "in_w": 24, "in_c": 8, "k_h": 1, "stride_h": 1, "dil_h": 1, "pad_h": 0}
    dw = {"in_h": 24, "k_h": 3, "stride_h": 2, "dil_h": 1, "pad_h": 0, "out_h": 12, "out_w": 12, "out_c": 48}
    assert stream.dead_input_rows(conv, dw)[:11] == [2 * oy + 3 for oy in range(11)]
    assert stream.overlap_limit(conv, dw) == min((2 * oy + 3) * 192 - (oy + 1) * 576 for oy in range(11))


def test_row_wise_conv_limit():
    """A 1x1 convolution run row by row (vad_conv2d_rows_s8) reads input row r while it writes
    output row r: delta + (r + 1) * out_row <= r * in_row for every row. Narrowing 16 -> 8
    channels on 48 rows of 48 pixels (768 B in, 384 B out): the first row binds, one output row
    below the input; widening 8 -> 48 (384 B in, 2304 B out): the last row binds."""
    from vadtool.native.inplace import row_conv, rows_limit
    assert rows_limit(48, 768, 384) == -384 == min(r * 768 - (r + 1) * 384 for r in range(48))
    assert rows_limit(48, 384, 2304) == min(r * 384 - (r + 1) * 2304 for r in range(48)) == 47 * 384 - 48 * 2304
    assert row_conv({"k_h": 1, "k_w": 1, "stride_h": 1, "stride_w": 1, "pad_h": 0, "pad_w": 0})
    assert not row_conv({"k_h": 1, "k_w": 1, "stride_h": 2, "stride_w": 2, "pad_h": 0, "pad_w": 0})


def test_row_wise_in_place_convs_are_chosen_only_where_they_lower_the_arena(backbone035):
    """The 0.35 backbone: its narrowing 1x1 projections run row by row over their inputs (the
    row-wise kernel, listed in info.in_place), and the arena is below the streamed-only plan's."""
    from vadtool.native.inplace import KERNEL
    p = build_plan(backbone035)
    rows = {s.op.index for s in p.steps if s.kernel == KERNEL}
    assert rows and rows <= {op for op, _ in p.info.in_place}
    assert all(s.op.name == "CONV_2D" and s.stream is None for s in p.steps if s.kernel == KERNEL)
    assert p.arena_bytes < build_plan(backbone035, in_place=False).arena_bytes
    # a model where no overlap helps keeps the plain kernels
    assert not any(s.kernel == KERNEL for s in build_plan(backbone035, in_place=False).steps)


def test_patch_bands_cover_the_rows_with_padding_at_the_border_only(build_model):
    """Every patch option of the 0.35 backbone: the split operator's bands partition its rows;
    each band step of a convolution reads the input rows its output rows need, padded only
    where they cross the image's top (the plain layer's padding) or bottom (past in_h)."""
    from vadtool.native import patch

    model = build_model("backbone035", 96)
    plain = build_plan(model, patching="off")
    orig = {s.op.index: dict(s.params) for s in plain.steps}
    options = build_plan(model, patching="auto").info.patch_options
    assert len(options) > 10
    for op, bands, _ in options[::8]:
        p = build_plan(model, patching=(op, bands))
        assert p.info.patch["split_op"] == op and p.info.patch["bands"] == bands
        split = [s.band_rows for s in p.steps if s.band and s.op.index == op]
        assert [(lo, hi) for _, lo, hi in split] == patch.band_rows(plain.graph.tensors[split[0][0]].shape[1], bands)
        for s in p.steps:
            if s.band is None or s.op.name == "ADD":
                continue
            q, o, (_, lo, hi) = dict(s.params), orig[s.op.index], s.band_rows
            conv = p.steps[p.steps.index(s) - 1] if s.stream else None
            assert q["out_h"] == hi - lo and q["pad_h"] == max(0, o["pad_h"] - lo * o["stride_h"])
            last_row = (hi - 1) * o["stride_h"] - o["pad_h"] + o["k_h"] - 1
            assert q["in_h"] == min(o["in_h"], last_row + 1) - max(0, lo * o["stride_h"] - o["pad_h"])
            assert conv is None or dict(conv.params)["out_h"] == q["in_h"]


def test_patch_is_taken_only_where_it_lowers_the_arena(build_model):
    """auto patches the 1-channel 3x3 fixture (its arena falls), not the 3-channel one (tried,
    none lower: the same plan as without); off, or streaming off, never patches; a split the
    planner cannot make is refused."""
    one, three = build_model("dw3paths1", 101), build_model("dw3paths3", 101)
    patched, unpatched = build_plan(one, patching="auto"), build_plan(one)
    assert patched.info.patch and patched.arena_bytes < unpatched.arena_bytes == patched.info.patch["arena_unpatched"]
    assert min(a for _, _, a in patched.info.patch_options) == patched.arena_bytes or \
        patched.arena_bytes < min(a for _, _, a in patched.info.patch_options)
    tried = build_plan(three, patching="auto")
    assert tried.info.patch_options and not tried.info.patch
    assert tried.offsets == build_plan(three).offsets and tried.arena_bytes == build_plan(three).arena_bytes
    assert not build_plan(one, streaming="off", patching="auto").info.patch
    # a MAC budget: only options whose halo adds at most that fraction of the model's MACs
    budget = patched.info.patch["extra_macs"] / patched.info.macs / 2
    cheaper = build_plan(one, patching="auto", patch_macs=budget).info
    assert not cheaper.patch or cheaper.patch["extra_macs"] <= budget * cheaper.macs
    assert not build_plan(one, patching="auto", patch_macs=0.0).info.patch
    assert not build_plan(one).info.patch
    backbone = build_model("backbone035", 96)  # op 22: its AVERAGE_POOL_2D
    for wrong in ((22, 2), (5, 0), (5, 25)):  # op 5's output has 24 rows
        with pytest.raises(ValueError, match="not a patch"):
            build_plan(backbone, patching=wrong)
