"""Turn a full-int8 .tflite into C: vad_model.c / vad_model.h plus the runtime kernels."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import RenderError
from ..rundir import write_bytes
from . import inplace, lower, patch, planner, stream
from .lower import ConstArray, Lowering, Step
from .tflite_reader import Graph, read_tflite

STREAMING = ("auto", "off", "all", "fit")  # build_plan's choices
PATCHING = ("auto", "off", "fit")  # or (split op index, bands): that patch, whatever it costs
PATCH_FIT_FULL = 4  # patching "fit": options planned in full, fewest extra MACs first
PATCH_FULL = 2  # patch options planned in full (streaming searched), the best by one placement
# the patch search's answer per model and planning options, in this process: (the option it
# took, if any, every option's ranking arena); a model rendered again (host and device builds,
# tests) plans only that one
_PATCH_SEARCH: dict[tuple, tuple[list[tuple[int, int]], list[tuple[int, int, int]]]] = {}
RUNTIME_FILES = ("vad_kernels.h", "vad_fast_common.h", "vad_kernels.c", "vad_kernels_fast.c",
                 "vad_conv_fast.c", "vad_stream.c", "vad_inplace.h", "vad_inplace.c",
                 "vad_dw3_fast.c", "vad_conv_first.c")


def runtime_dir() -> Path:
    """firmware_templates/runtime (override with VADTOOL_FIRMWARE_TEMPLATES=<firmware_templates>)."""
    env = os.environ.get("VADTOOL_FIRMWARE_TEMPLATES")
    if env:
        return Path(env) / "runtime"
    return Path(__file__).resolve().parents[3] / "firmware_templates" / "runtime"


@dataclass
class ModelInfo:
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    arena_bytes: int
    weights_bytes: int
    macs: int
    ops: list[str]
    model_hash: str
    macs_per_op: list[int] = field(default_factory=list)
    arena2_bytes: int = 0  # of arena_bytes, the part in the second arena (arena_limit)
    # the planner's choice: the placement order that gave the arena, and the lower bound (the
    # most bytes alive at one operator, and that operator's index)
    plan_order: str = ""
    streamed: list[tuple[int, int]] = field(default_factory=list)  # (conv op, depthwise op) pairs
    # streamed pairs whose output overwrites their dying input (stream.overlap_limit):
    # (depthwise op, output offset - input offset in bytes); the arena may be below the live peak
    in_place: list[tuple[int, int]] = field(default_factory=list)
    live_peak_bytes: int = 0
    live_peak_op: int = 0
    # patch-based execution (patch.py), when chosen: split_op, bands, ops (op indices run in
    # bands), extra_macs (halo rows computed again), arena_unpatched (the best plan without)
    patch: dict = field(default_factory=dict)
    # every patch option planned: (split op, bands, arena)
    patch_options: list[tuple[int, int, int]] = field(default_factory=list)
    # what the planner chose about patching and why, in one line (render and build print it)
    patch_note: str = ""


@dataclass
class Plan:
    graph: Graph
    steps: list[Step]
    storage: dict[int, str]  # tensor index -> C expression of its memory
    arena_bytes: int
    buffers: list[planner.Buffer]
    offsets: dict[int, int]
    prologue: list[str]
    epilogue: list[str]
    info: ModelInfo
    # {(input, output): max offset delta} the placement uses (planner.check_plan's overlaps)
    overlaps: dict[tuple[int, int], int] = field(default_factory=dict)


def _c_int(v: int) -> str:
    v = int(v)
    return "(-2147483647 - 1)" if v == -(2**31) else str(v)


def _c_value(v) -> str:
    if isinstance(v, (np.floating, float)):
        return float(np.float32(v)).hex() + "f"
    if isinstance(v, (int, np.integer)):
        return _c_int(int(v))
    return str(v)


def _array_body(values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1).astype(np.int64)
    items = [_c_int(x) if x == -(2**31) else str(int(x)) for x in flat.tolist()]
    lines = []
    for i in range(0, len(items), 24):
        lines.append("    " + ", ".join(items[i : i + 24]) + ",")
    return "\n".join(lines) if lines else "    0,"


def _place_scratch(i: int, need: int, buffers: list[planner.Buffer],
                   offsets: dict[int, int], arena_of: dict[int, str], sizes: dict[str, int],
                   spare: dict[str, int] | None = None) -> bool:
    """Grow step i's scratch to need bytes where its region has room during the step (in place,
    or moved to a free gap, 8-aligned) without growing the arena; else, with spare ({"bytes":
    n}: what the board's arena budget leaves), at the end of the last region (the second one
    where the arena is split: the main RAM's is full), which grows by at most that much (sizes
    and spare updated). buffers and offsets updated. False (nothing changed) where it does not fit."""
    key = -(i + 1)
    region = arena_of[key]
    busy = sorted((offsets[b.key], offsets[b.key] + b.size) for b in buffers
                  if b.key != key and b.first <= i <= b.last and arena_of[b.key] == region)
    starts = [offsets[key]] + [(end + 7) // 8 * 8 for _, end in busy] + [0]
    for at in starts:
        if at + need <= sizes[region] and all(end <= at or at + need <= beg for beg, end in busy):
            break
    else:
        last = "vad_arena2" if sizes.get("vad_arena2") else "vad_arena"
        at = (sizes[last] + 7) // 8 * 8
        if spare is None or at + need - sizes[last] > spare["bytes"]:
            return False
        spare["bytes"] -= at + need - sizes[last]
        sizes[last] = at + need
        arena_of[key] = last
    j = next(n for n, b in enumerate(buffers) if b.key == key)
    buffers[j] = planner.Buffer(key, need, i, i)
    offsets[key] = at
    return True


def _grow_rings(steps: list[Step], buffers: list[planner.Buffer], offsets: dict[int, int],
                arena_of: dict[int, str], sizes: dict[str, int], overlaps) -> None:
    """Streamed pairs whose depthwise layer takes the strip layout of the 3x3 path
    (vad_dw3_fast.c: rows of up to 32 widened words, a block of output rows a call) get a ring of
    more than one window where the arena has room during their step (the ring follows the
    convolution's scratch at the end of the step's scratch): each stride_h rows more let one
    depthwise call make one more output row, so its input rows are widened once per block instead
    of once per output row. The largest block that fits is taken; the arena never grows."""
    for i, s in enumerate(steps):
        if s.stream is None:
            continue
        p = dict(s.params)
        sh = p["stride_h"]
        # the block a whole layer of these rows would take (a ring of out_h rows at most)
        words, per = lower.dw3_strip(p["out_w"], p["out_h"], sh,
                                     quad=p["out_c"] % 4 == 0 and p["pad_w"] <= 1)
        if p.get("dw3", "0") == "0" or not words:
            continue
        per = min(per, p["out_h"])
        span = stream.ring_rows(p["k_h"], p["dil_h"])
        row = p["in_w"] * p["in_c"]
        for m in range(per, 1, -1):
            extra = (m - 1) * sh * row
            if _place_scratch(i, s.scratch + extra, buffers, offsets, arena_of, sizes):
                s.scratch += extra
                s.stream = [(k, span + (m - 1) * sh if k == "ring_rows" else v) for k, v in s.stream]
                break
    for region, size in sizes.items():
        mine = [b for b in buffers if arena_of[b.key] == region]
        if mine:
            planner.check_plan(mine, offsets, size, overlaps)


def _var(s: Step) -> str:
    """The C name of a step's parameter struct (a band step has its own)."""
    return f"op{s.op.index}_params" if s.band is None else f"op{s.op.index}_b{s.band[0]}_params"


def _stream_apply(steps: list[Step], chosen: set[int]) -> list[Step]:
    """stream.apply, band steps' pairs included: a streamed band step reads the convolution's
    input through the convolution's view and names the band's parameter structs."""
    out = stream.apply(steps, chosen)
    for i in chosen:
        conv, dw = out[i], out[i + 1]
        if dw.band is not None:
            views = {t: conv.views.get(t, 0) for t in conv.act_inputs}
            views.update({t: dw.views.get(t, 0) for t in dw.act_outputs})
            names = {"conv": f"&{_var(conv)}", "dw": f"&{_var(dw)}"}
            out[i + 1] = replace(dw, views=views, stream=[(k, names.get(k, v)) for k, v in dw.stream])
    return out


def _view(expr: str, offset: int) -> str:
    return expr if not offset else f"({expr} + {offset})"


def _patching(patching) -> object:
    if patching in PATCHING:
        return patching
    if isinstance(patching, str) and ":" in patching:  # "OP:BANDS" (command lines)
        op, bands = patching.split(":")
        return int(op), int(bands)
    if isinstance(patching, tuple) and len(patching) == 2:
        return int(patching[0]), int(patching[1])
    raise ValueError(f"patching must be one of {', '.join(PATCHING)} or (split op, bands), not {patching!r}")


def _patch_note(patching, info: ModelInfo, unpatched: int, budget: int | None, streaming: str) -> str:
    """One line: whether the plan runs layers in bands, and why (build_plan's patching)."""
    pt = info.patch
    if pt:
        pct = 100 * pt["extra_macs"] / info.macs if info.macs else 0.0
        what = (f"patched: ops {pt['ops'][0]}-{pt['ops'][-1]} in {pt['bands']} bands of op "
                f"{pt['split_op']}'s rows, arena {info.arena_bytes:,} B against {unpatched:,} B "
                f"without bands, +{pt['extra_macs']:,} MACs ({pct:.0f} %)")
        if patching == "fit":
            return what + (f", to fit the {budget:,} B arena budget" if info.arena_bytes <= budget
                           else f"; still over the {budget:,} B arena budget")
        return what + (" (forced)" if isinstance(patching, tuple) else "")
    if patching == "off" or streaming == "off":
        return "not patched (patching off)"
    if patching == "fit" and budget is None:
        return "not patched: no arena budget (patching fit patches only to fit a board's RAM)"
    if patching == "fit" and unpatched <= budget:
        return f"not patched: the arena without bands, {unpatched:,} B, fits the {budget:,} B arena budget"
    if patching == "fit":
        return f"not patched: no patch lowers the arena ({unpatched:,} B) below the {budget:,} B arena budget"
    return "not patched: no patch lowers the arena"


def _grow_conv_scratch(steps: list[Step], buffers: list[planner.Buffer], offsets: dict[int, int],
                       arena_of: dict[int, str], sizes: dict[str, int], overlaps,
                       spare: dict[str, int] | None = None) -> None:
    """Convolutions (fast == 1: every channel's requantization the fast one) whose scratch can
    grow without growing the arena (in place, or moved to a free gap of their step, 8-aligned;
    or by what spare allows, _place_scratch) to six widened columns (direct 1x1 layers: blocks
    of 6 pixels, blocks6 and blocks4) or
    else to four (and four int8 im2col columns unless direct: blocks of 4 pixels, blocks4) get
    it. A streamed convolution's scratch leads its depthwise step's
    (the ring follows it), so that buffer grows by the difference. buffers, offsets and the
    steps are updated in place."""
    for i, s in enumerate(steps):
        conv = steps[i - 1] if s.stream is not None else s
        p = dict(conv.params)
        if not (s.scratch and s.streamed_into is None and conv.op.name == "CONV_2D" and p.get("fast") == 1
                and not p.get("blocks4")):
            continue
        old = s.stream_conv_scratch if s.stream is not None else s.scratch
        if s.stream is not None and old == 0:
            continue
        direct = lower.direct_conv(p)
        # blocks of 6 pixels (direct full-range layers: six widened columns) where they fit,
        # else of 4
        full = p["act_min"] == -128 and p["act_max"] == 127
        b6 = direct and full and lower.block6_rq_ok(conv)
        tries = [(lower.conv_block6_bytes(p["kpad"]), ("blocks4", "blocks6"))] if b6 else []
        tries.append((lower.conv_block4_bytes(p["kpad"], direct), ("blocks4",)))
        for size, flags in tries:
            need = s.scratch - old + size
            if _place_scratch(i, need, buffers, offsets, arena_of, sizes, spare):
                break
        else:
            continue
        if s.stream is not None:
            s.stream_conv_scratch += need - s.scratch
        s.scratch = need
        conv.params = [(k, 1 if k in flags else v) for k, v in conv.params]
    for region, size in sizes.items():
        mine = [b for b in buffers if arena_of[b.key] == region]
        if mine:
            planner.check_plan(mine, offsets, size, overlaps)


def _choose_px1(steps: list[Step]) -> None:
    """Direct full-range 1x1 layers on 8 or 16 input channels (those lower gave px1 records)
    that did not get the blocks of 6 (no room for their scratch), and those on
    lower.PX1_OVER_BLOCKS6 input channels (faster than the blocks of 6 there), run a pixel at
    a time with the widened pixel in registers (px1, conv_px1 in vad_conv_fast.c): their
    records replace the filter words and the requantization table. The others drop the
    records. Their scratch stays as placed (px1 reads none)."""
    for s in steps:
        name = next((c.name for c in s.consts if c.name.endswith("_px1")), None)
        if name is None:
            continue
        p = dict(s.params)
        if p["blocks6"] and p["kpad"] not in lower.PX1_OVER_BLOCKS6:
            s.consts = [c for c in s.consts if c.name != name]
            continue
        drop = {p["wfast"], p["rq"]}
        s.consts = [c for c in s.consts if c.name not in drop]
        new = {"wfast": name, "rq": "0", "wfast16": 0, "px1": 1, "blocks4": 0, "blocks6": 0}
        s.params = [(k, new.get(k, v)) for k, v in s.params]


def _choose_rec6(steps: list[Step]) -> None:
    """Layers that run in blocks of 6 pixels (blocks6, after _choose_px1) read the records lower
    gave them (_conv_rec6_records: bias, filter and requantization of a channel in one pass,
    the last 1-5 pixels in smaller blocks of the same kernel): the records replace the filter
    words and the requantization table, wfast16 says their filter layout. The others drop the
    records."""
    for s in steps:
        rec = next((c for c in s.consts if c.name.endswith("_rec6")), None)
        if rec is None:
            continue
        p = dict(s.params)
        if not p["blocks6"]:
            s.consts = [c for c in s.consts if c is not rec]
            continue
        drop = {p["wfast"], p["rq"]}
        s.consts = [c for c in s.consts if c.name not in drop]
        per = int(rec.values.size) // p["out_c"] - 4  # filter words per channel
        new = {"wfast": rec.name, "rq": "0", "wfast16": int(per == p["kpad"] // 2)}
        s.params = [(k, new.get(k, v)) for k, v in s.params]


def build_plan(tflite_path: str | os.PathLike, single_rounding: bool = False,
               arena_limit: int | None = None, wide_weights: bool = False,
               streaming: str = "auto", in_place: bool = True, patching="off",
               patch_macs: float | None = None, arena_budget: int | None = None) -> Plan:
    """arena_limit: when the arena would be larger, tensors that do not fit below it go to a
    second arena (vad_arena2), e.g. a board's core-coupled RAM. wide_weights: CONV_2D filters
    stored as int16 (fewer instructions per MAC, twice their flash). streaming: "auto" streams a
    convolution into its depthwise layer where that lowers the arena (stream.py; the plan's
    info.streamed lists the pairs), "off" never (the plain schedule: no in-place either),
    "all" wherever it can (tests, experiments), "fit" the plain schedule when its arena is
    within arena_budget (no budget: the host, no limit), else "auto": streamed pairs and rows
    run in place cost instructions (the MobileNetV2 1.0 64x64 board network: 19.26 M
    streamed against 17.26 M plain on Cortex-M4), worth paying only for RAM the board lacks
    (render's default; info.patch_note says which was taken). in_place: a streamed pair's output, or a 1x1
    convolution's run row by row, may overwrite the input it has consumed where the planner
    finds that lowers the arena (info.in_place lists them; False: never, for comparison).
    patching: "auto" runs the model's first layers in bands (patch.py) where that lowers the
    arena below the best plan without (info.patch says what it chose, info.patch_options what
    each option gave), "off" never (nor with streaming "off": the plain schedule), (split op
    index, bands) or "OP:BANDS" that patch, even if it costs memory (tests, benchmarks).
    "fit": a patch only when the best plan without one has an arena over arena_budget (the
    bytes a board leaves for it: boards.arena_room), then the option with the fewest extra
    MACs whose arena is within it (the smallest arena if none is); no budget, no patch. Bands
    cost instructions (their halo rows are computed again), so the library's default is off
    and render's is fit (a board's RAM it does not need is not worth them); info.patch_note
    says in one line what was chosen and why. patch_macs: with "auto" or "fit", only options
    whose halo rows add at most this fraction of the model's MACs (the smallest arenas take
    the most bands: the MobileNetV2 1.0 64x64 board network falls from 50,240 B to 30,816 B
    with 57 % more MACs, to 37,440 B with 24 %)."""
    if streaming not in STREAMING:
        raise ValueError(f"streaming must be one of {', '.join(STREAMING)}, not {streaming!r}")
    patching = _patching(patching)
    if streaming == "fit":
        plain = build_plan(tflite_path, single_rounding, arena_limit, wide_weights, "off", in_place,
                           "off", patch_macs, arena_budget)
        if arena_budget is None or plain.info.arena_bytes <= arena_budget:
            plain.info.patch_note = (f"plain schedule (not streamed, not patched): its arena, "
                                     f"{plain.info.arena_bytes:,} B, "
                                     + ("no arena budget (no board limit)" if arena_budget is None else
                                        f"fits the {arena_budget:,} B arena budget"))
            return plain
        streamed = build_plan(tflite_path, single_rounding, arena_limit, wide_weights, "auto", in_place,
                              patching, patch_macs, arena_budget)
        streamed.info.patch_note = (f"streamed {len(streamed.info.streamed)} pairs: the plain schedule's "
                                    f"arena, {plain.info.arena_bytes:,} B, is over the {arena_budget:,} B "
                                    f"arena budget; {streamed.info.patch_note}")
        return streamed
    g = read_tflite(tflite_path)
    name = Path(g.path).name
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise RenderError(f"{name}: the native runtime needs one input and one output, "
                          f"the model has {len(g.inputs)} and {len(g.outputs)}")
    tin, tout = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
    for t, what in ((tin, "input"), (tout, "output")):
        if t.dtype != "INT8" or t.scale.size != 1:
            raise RenderError(f"{name}: the model {what} '{t.name}' is {t.dtype}"
                              f"{'' if t.scale.size == 1 else ' without per-tensor quantization'}; "
                              "the native runtime needs a full-int8 model (int8 input and output)")
    if len(tin.shape) != 4 or tin.shape[0] != 1:
        raise RenderError(f"{name}: the model input must be NHWC with batch 1, it is {list(tin.shape)}")

    low = Lowering(g, single_rounding, wide_weights)
    steps = [low.lower(op) for op in g.operators]

    # alias resolution (RESHAPE-like ops share memory)
    root: dict[int, int] = {}

    def find(t: int) -> int:
        while t in root:
            t = root[t]
        return t

    for s in steps:
        if s.alias:
            root[s.act_outputs[0]] = find(s.act_inputs[0])

    in_root = find(tin.index)
    out_root = find(tout.index)
    storage: dict[int, str] = {}
    epilogue: list[str] = []
    # The input lives in the arena (its memory is reused once it is dead); the caller can
    # write the image there directly (vad_model_input_buffer) or pass any buffer, which is
    # copied in. The output is written straight into the caller's buffer.
    external = {}
    if out_root != in_root:
        external[out_root] = "output"

    def arena_buffers(steps: list[Step], sizes: dict[int, int]) -> list[planner.Buffer]:
        """Arena buffers (tensors by lifetime, kernel scratch) of a schedule (sizes: its band
        buffers')."""
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for i, s in enumerate(steps):
            if s.streamed_into is not None:
                continue  # its output never exists; its input is read by the streamed step
            for t in s.act_inputs + s.act_outputs:
                if t not in sizes and g.tensors[t].is_const:
                    continue
                r = find(t)
                first[r] = min(first.get(r, i), i)
                last[r] = max(last.get(r, i), i)
        first[in_root] = 0
        last[in_root] = max(last.get(in_root, 0), len(steps) - 1 if in_root == out_root else 0)
        bufs = [planner.Buffer(r, sizes[r] if r in sizes else g.tensors[r].size, first[r], last[r])
                for r in sorted(first) if r not in external]
        # kernel scratch (im2col columns, rings): alive during its step only, keyed -(step + 1)
        # so it cannot collide with a tensor index; it shares the arena, so arena_bytes counts it
        return bufs + [planner.Buffer(-(i + 1), s.scratch, i, i) for i, s in enumerate(steps) if s.scratch]

    def overlaps_of(steps: list[Step], bufs: list[planner.Buffer], kinds: frozenset) -> planner.Overlaps:
        """{(input, output): max delta} of the steps whose input dies with them and whose
        kernel may write over it: streamed pairs (stream.py) and 1x1 convolutions run row by
        row (inplace.py); in a patched schedule, the split output over the model input rows
        the bands have read (patch.input_overlap)."""
        by_key = {b.key: b for b in bufs}
        found: planner.Overlaps = {}
        split_t = next((s.act_outputs[0] for s in steps if s.band_rows is not None
                        and s.band_rows[0] == s.act_outputs[0]), None)
        if "stream" in kinds and split_t is not None and split_t in by_key and in_root in by_key:
            limit = patch.input_overlap(steps, g, in_root)
            if limit is not None:
                found[(in_root, split_t)] = limit
        for i, s in enumerate(steps):
            if s.alias or s.streamed_into is not None or any(s.views.values()):
                continue  # (a step with pointers into its tensors: not the kernels' layout)
            p = dict(s.params)
            row_conv = "rows" in kinds and s.stream is None and s.op.name == "CONV_2D" and inplace.row_conv(p)
            if not row_conv and ("stream" not in kinds or s.stream is None):
                continue
            x, y = find(s.act_inputs[0]), find(s.act_outputs[0])
            if x != y and x in by_key and y in by_key and by_key[x].last == i and by_key[y].first == i:
                found[(x, y)] = (inplace.rows_limit(p["in_h"], p["in_w"] * p["in_c"], p["out_w"] * p["out_c"])
                                 if row_conv else stream.overlap_limit(dict(steps[i - 1].params), p))
        return found

    def plan_of(steps: list[Step], sizes: dict[int, int],
                kinds: frozenset) -> tuple[dict[int, int], int, str, planner.Overlaps]:
        """The smallest placement of a schedule, with the overlaps of these kinds only if they
        lower the arena, and the overlaps that placement uses."""
        bufs = arena_buffers(steps, sizes)
        offsets, arena, order = planner.plan_best(bufs)
        overlaps = overlaps_of(steps, bufs, kinds)
        if overlaps:
            tried = planner.plan_best(bufs, overlaps=overlaps)
            if tried[1] < arena:
                offsets, arena, order = tried
                used = planner.overlapping(bufs, offsets, overlaps)
                return offsets, arena, order, {(a, b): overlaps[(a, b)] for a, b, _ in used}
        return offsets, arena, order, {}

    # streaming: each candidate pair kept only where it lowers the arena; in place: the
    # overlaps of streamed pairs, then also of row-wise 1x1 convolutions, each set kept only
    # if the schedule chosen with it has a smaller arena (greedy placement is not monotone)
    in_place = in_place and streaming != "off"

    def pairs_of(base: list[Step]) -> list[int]:
        return [i for i in stream.candidates(base, g) if base[i].band == base[i + 1].band] \
            if streaming != "off" else []

    def best_schedule(base: list[Step], sizes: dict[int, int]) -> tuple[int, set[int], frozenset]:
        """(arena, streamed pairs, overlap kinds) of the smallest plan of a schedule. The pairs
        of band steps are all streamed (a ring of a few rows against the band's rows of the
        convolution's output), so that the search stays as short as without bands."""
        pairs = pairs_of(base)
        fixed = {i for i in pairs if base[i].band is not None}
        best = None
        for kinds in ([frozenset()] + ([frozenset({"stream"}), frozenset({"stream", "rows"})] if in_place else [])):
            if streaming == "all":
                chosen = set(pairs)
            else:
                chosen = fixed | stream.choose([i for i in pairs if i not in fixed],
                                               lambda c: plan_of(_stream_apply(base, fixed | c), sizes, kinds)[1])
            arena = plan_of(_stream_apply(base, chosen), sizes, kinds)[1]
            if best is None or arena < best[0]:
                best = (arena, chosen, kinds)
        return best

    # patching: each option planned as a whole (streaming and in place inside the bands too),
    # kept only where its arena is below the best plan without a patch (or when forced)
    sizes: dict[int, int] = {}
    best = best_schedule(steps, sizes)
    unpatched, patched, tried = best[0], None, []
    over = arena_budget is not None and unpatched > arena_budget
    if patching != "off" and streaming != "off" and (patching != "fit" or over):
        out_root_ = find(tout.index)
        at = {s.op.index: k for k, s in enumerate(steps)}
        key = (g.model_hash, single_rounding, wide_weights, streaming, in_place, unpatched, patch_macs,
               patching, arena_budget if patching == "fit" else None)
        model_macs = sum(s.macs for s in steps)
        if isinstance(patching, tuple):
            k = at.get(patching[0], -1)
            if (k not in patch.splits(steps, g, in_root, out_root_, find)
                    or not 1 <= patching[1] <= g.tensors[steps[k].act_outputs[0]].shape[1]):
                raise ValueError(f"{name}: op {patching[0]} in {patching[1]} bands is not a patch "
                                 f"the planner can make (splits: op "
                                 f"{[steps[j].op.index for j in patch.splits(steps, g, in_root, out_root_, find)]})")
            opts = [(k, patching[1])]
        else:
            opts = patch.options(steps, g, in_root, out_root_, find)
        # ranked first by a placement with every pair streamed (the arena streaming can reach;
        # the search keeps only the pairs that lower it); the best PATCH_FULL planned in full
        ranked = []
        if not isinstance(patching, tuple) and key in _PATCH_SEARCH:
            full, tried = _PATCH_SEARCH[key]
            opts = []
            ranked = [(0, at[op], n, patch.apply(steps, g, at[op], n)) for op, n in full]
        for k, n in opts:
            cand = patch.apply(steps, g, k, n)
            if patch_macs is not None and cand.extra_macs > patch_macs * model_macs:
                continue
            pairs = pairs_of(cand.steps)
            quick = set(pairs)
            kinds = [frozenset({"stream"}), frozenset({"stream", "rows"})] if in_place else [frozenset()]
            ranked.append((min(plan_of(_stream_apply(cand.steps, quick), cand.sizes, kd)[1] for kd in kinds),
                           k, n, cand))
            tried.append((cand.split_op, n, ranked[-1][0]))
        if patching == "fit":  # the fewest extra MACs within the budget (one placement's arena)
            fitting = sorted((r for r in ranked if r[0] <= arena_budget), key=lambda r: (r[3].extra_macs, r[0]))
            for _, k, n, cand in fitting[:PATCH_FIT_FULL]:
                got = best_schedule(cand.steps, cand.sizes)
                if got[0] <= arena_budget:
                    best, patched = got, cand
                    break
        for _, k, n, cand in ([] if patched is not None else sorted(ranked, key=lambda r: r[:3])[:PATCH_FULL]):
            got = best_schedule(cand.steps, cand.sizes)
            if isinstance(patching, tuple) or got[0] < best[0]:
                best, patched = got, cand
        if not isinstance(patching, tuple):
            _PATCH_SEARCH[key] = ([] if patched is None else [(patched.split_op, patched.bands)], list(tried))
    orig_steps = steps
    if patched is not None:
        steps, sizes = patched.steps, patched.sizes
    _, chosen, kinds = best
    steps = _stream_apply(steps, chosen)
    buffers = arena_buffers(steps, sizes)
    offsets, arena, order, overlaps = plan_of(steps, sizes, kinds)
    planner.check_plan(buffers, offsets, arena, overlaps)
    peak, peak_op = planner.live_peak(buffers)
    # the step of an overlap: where its input dies and its output is born
    last_of = {b.key: b.last for b in buffers}
    arena_of = {key: "vad_arena" for key in offsets}
    arena2 = 0
    if arena_limit is not None and arena > arena_limit:
        tries = {name: planner.plan_regions(buffers, [arena_limit, None], order=name, overlaps=overlaps)
                 for name in planner.ORDERS}
        order = min(tries, key=lambda name: (sum(tries[name][1]), tries[name][1][1]))
        placement, (arena, arena2) = tries[order]
        offsets = {key: off for key, (_, off) in placement.items()}
        arena_of = {key: ("vad_arena", "vad_arena2")[region] for key, (region, _) in placement.items()}
        for region, size in enumerate((arena, arena2)):
            mine = [b for b in buffers if placement[b.key][0] == region]
            planner.check_plan(mine, offsets, size, overlaps)
        used = planner.overlapping(buffers, offsets, overlaps)
        overlaps = {(x, y): overlaps[(x, y)] for x, y, _ in used if placement[x][0] == placement[y][0]}
    # a board's arena budget (render, patching or streaming "fit") lends the scratch of the
    # fast paths the bytes the plan leaves: the main RAM's region of a split arena has no gaps
    # left, where the stm32f405 battery_weld default's largest 1x1 layer lost its blocks of 8
    # (1 M instructions)
    regions = {"vad_arena": arena, "vad_arena2": arena2}
    spare = {"bytes": max(0, arena_budget - arena - arena2)} if arena_budget is not None else None
    _grow_conv_scratch(steps, buffers, offsets, arena_of, regions, overlaps, spare)
    arena, arena2 = regions["vad_arena"], regions["vad_arena2"]
    _choose_px1(steps)
    _choose_rec6(steps)
    _grow_rings(steps, buffers, offsets, arena_of, regions, overlaps)
    for x, y in overlaps:  # a convolution over its own input runs row by row
        i = last_of[x]
        if steps[i].stream is None and find(steps[i].act_outputs[0]) == y:
            steps[i].kernel = inplace.KERNEL  # (not a patch's split output over the input)
    for i, s in enumerate(steps):
        if s.scratch:
            key = -(i + 1)
            base = f"({arena_of[key]} + {offsets[key]})"
            if s.stream is None:
                s.params = [(k, base if k == "scratch" else v) for k, v in s.params]
                continue
            # streamed pair: the convolution's scratch first, then the ring
            conv = steps[i - 1]
            if conv.scratch == 0 and s.stream_conv_scratch:
                conv.params = [(k, base if k == "scratch" else v) for k, v in conv.params]
            ring = f"({arena_of[key]} + {offsets[key] + s.stream_conv_scratch})"
            s.stream = [(k, ring if k == "ring" else v) for k, v in s.stream]

    for t in g.tensors:
        if t.is_const:
            storage[t.index] = f"t{t.index}_const"
            continue
        r = find(t.index)
        if r in external:
            storage[t.index] = external[r]
        elif r in offsets:
            storage[t.index] = f"({arena_of[r]} + {offsets[r]})"
    for r in sizes:  # band buffers
        if r in offsets:
            storage[r] = f"({arena_of[r]} + {offsets[r]})"
    prologue = [
        f"if (input != {storage[in_root]}) {{",
        f"    vad_copy_s8(input, {storage[in_root]}, {tin.size});",
        "}",
    ]
    if in_root == out_root:
        epilogue.append(f"vad_copy_s8({storage[in_root]}, output, {tout.size});")

    # flash of the fast build (arrays only the reference loops read are left out of it)
    # (band steps share their operator's arrays)
    weights = sum(c.nbytes for c in {c.name: c for s in steps for c in s.consts}.values() if c.only != "ref")
    info = ModelInfo(
        input_shape=tuple(tin.shape),
        output_shape=tuple(tout.shape),
        input_scale=float(tin.scale[0]),
        input_zero_point=int(tin.zero_point[0]),
        output_scale=float(tout.scale[0]),
        output_zero_point=int(tout.zero_point[0]),
        arena_bytes=arena + arena2,
        arena2_bytes=arena2,
        weights_bytes=int(weights),
        macs=int(sum(s.macs for s in orig_steps)),
        ops=[s.op.name for s in orig_steps],
        model_hash=g.model_hash,
        macs_per_op=[s.macs for s in orig_steps],
        plan_order=order,
        streamed=sorted({(steps[i].op.index, steps[i + 1].op.index) for i in chosen}),
        live_peak_bytes=peak,
        live_peak_op=steps[peak_op].op.index if steps else 0,
        in_place=[(steps[last_of[x]].op.index, offsets[y] - offsets[x]) for x, y in sorted(overlaps)],
        patch=({} if patched is None else
               dict(split_op=patched.split_op, bands=patched.bands, ops=patched.ops,
                    extra_macs=patched.extra_macs, arena_unpatched=unpatched)),
        patch_options=list(tried),
    )
    info.patch_note = _patch_note(patching, info, unpatched, arena_budget, streaming)
    return Plan(g, steps, storage, arena + arena2, buffers, offsets, prologue, epilogue, info, overlaps)


def _render(plan: Plan, version: str, arena2_section: str | None = None) -> tuple[str, str]:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(runtime_dir() / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    g = plan.graph
    consts: list[ConstArray] = []
    seen = set()
    steps_ctx = []
    for s in plan.steps:
        for c in s.consts:
            if c.name not in seen:
                seen.add(c.name)
                consts.append(c)
        var = _var(s)
        call = ""
        nocall = "aliases its input, no code"
        outs = [_view(plan.storage.get(t, "0"), s.views.get(t, 0)) for t in s.act_outputs]
        if s.streamed_into is not None:
            nocall = f"streamed row by row into op {s.streamed_into}"
        elif not s.alias:
            ins = [_view(plan.storage[t], s.views.get(t, 0)) for t in s.act_inputs]
            if s.input_list:  # C99 compound literal: the kernel gets an array of input pointers
                ins = ["(const int8_t *const[]){" + ", ".join(ins) + "}"]
            args = [f"&{var}"] + ins + outs
            call = f"{s.kernel}({', '.join(args)})"
            if s.stream is not None:
                args[0] = "&" + var.replace("_params", "_stream")
                call = f"vad_conv_dw_s8({', '.join(args)})"
        part = None
        if s.band_rows is not None:
            t, lo, hi = s.band_rows
            out = g.tensors[t]
            row = out.size // out.shape[1]
            part = (lo * row, (hi - lo) * row)
            where = "streamed" if s.streamed_into is not None else f"@ {outs[0]}"
            note = f"band {s.band[0] + 1}/{s.band[1]}: rows {lo}-{hi - 1} of {list(out.shape)} {where}"
        else:
            out = g.tensors[s.act_outputs[0]]
            note = f"-> {list(out.shape)} @ {plan.storage.get(out.index, '?')}"
        if s.macs:
            note += f", {s.macs} MACs"
        if s.scratch:
            note += f", scratch {s.scratch} B"
        if s.stream is not None:
            note += ", streamed from the op before"
        steps_ctx.append(
            dict(
                index=s.op.index,
                name=s.op.name,
                note=note,
                var=var,
                params_type=s.params_type,
                params=[(k, _c_value(v)) for k, v in s.params],
                call=call,
                nocall=nocall,
                stream=[(k, _c_value(v)) for k, v in s.stream] if s.stream else None,
                stream_var=var.replace("_params", "_stream"),
                out_expr=outs[0],
                out_size=out.size,
                part=part,
            )
        )
    consts_ctx = [
        dict(name=c.name, ctype=c.ctype, count=max(int(c.values.size), 1), body=_array_body(c.values),
             only=c.only)
        for c in consts
    ]
    info = plan.info
    tin = g.tensors[g.inputs[0]]
    ctx = dict(
        version=version,
        model_hash=info.model_hash,
        model_name=Path(g.path).name,
        in_h=tin.shape[1],
        in_w=tin.shape[2],
        in_c=tin.shape[3],
        input_bytes=tin.size,
        input_scale=_c_value(np.float32(info.input_scale)),
        input_zp=info.input_zero_point,
        output_shape=list(info.output_shape),
        output_bytes=g.tensors[g.outputs[0]].size,
        output_scale=_c_value(np.float32(info.output_scale)),
        output_zp=info.output_zero_point,
        arena_bytes=info.arena_bytes,
        plan_order=info.plan_order,
        live_peak_bytes=info.live_peak_bytes,
        live_peak_op=info.live_peak_op,
        in_place=info.in_place,
        patch=info.patch,
        patch_note=info.patch_note,
        arena1_bytes=info.arena_bytes - info.arena2_bytes,
        arena2_bytes=info.arena2_bytes,
        arena2_section=arena2_section,
        weights_bytes=info.weights_bytes,
        macs=info.macs,
        num_ops=len(plan.steps),
        steps=steps_ctx,
        consts=consts_ctx,
        prologue=plan.prologue,
        epilogue=plan.epilogue,
        input_expr=plan.storage[plan.graph.inputs[0]],
    )
    return env.get_template("vad_model.c.j2").render(**ctx), env.get_template("vad_model.h.j2").render(**ctx)


def _write_atomic(path: Path, text: str | bytes) -> None:
    """Atomically, with the usual permissions (mkstemp's are private: 0600)."""
    write_bytes(path, text.encode() if isinstance(text, str) else text)


def write_model_sources(tflite_path, out_dir, *, version: str, single_rounding: bool = False,
                        arena_limit: int | None = None, arena2_section: str | None = None,
                        wide_weights: bool = False, streaming: str = "auto",
                        in_place: bool = True, patching="off", patch_macs: float | None = None,
                        arena_budget: int | None = None) -> ModelInfo:
    """Render vad_model.c / vad_model.h for the model and copy the runtime kernels into out_dir.
    With arena_limit, what does not fit below it goes to a second arena, placed in the linker
    section arena2_section (a board's core-coupled RAM: ".ccm"). wide_weights, streaming,
    in_place, patching, patch_macs, arena_budget: see build_plan."""
    plan = build_plan(tflite_path, single_rounding, arena_limit, wide_weights, streaming, in_place,
                      patching, patch_macs, arena_budget)
    c_src, h_src = _render(plan, version, arena2_section if plan.info.arena2_bytes else None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = f"/* Generated by vadtool {version} from model {plan.info.model_hash}. Do not edit. */\n"
    for fname in RUNTIME_FILES:
        src = (runtime_dir() / fname).read_text()
        _write_atomic(out / fname, header + src)
    _write_atomic(out / "vad_model.c", c_src)
    _write_atomic(out / "vad_model.h", h_src)
    return plan.info
