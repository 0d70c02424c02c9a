"""The arena planner never lets two live tensors share memory."""

import numpy as np
import pytest

from vadtool.native import build_plan
from vadtool.native.planner import Buffer, check_plan, plan


@pytest.mark.parametrize("seed", range(30))
def test_random_lifetimes_never_overlap(seed):
    rng = np.random.default_rng(seed)
    bufs = []
    for k in range(int(rng.integers(1, 40))):
        a = int(rng.integers(0, 30))
        bufs.append(Buffer(k, int(rng.integers(1, 5000)), a, a + int(rng.integers(0, 6))))
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
    p = build_plan(backbone035)
    check_plan(p.buffers, p.offsets, p.arena_bytes)
    assert p.info.streamed and p.arena_bytes <= 89 * 1024
    assert p.arena_bytes == (p.info.live_peak_bytes + 15) // 16 * 16


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
