"""What a FOMO-AD recipe costs on a board, estimated before anything is converted, and the
recipe a board starts from.

The network's cost comes from its Keras graph alone (no weights, no TFLite conversion): the
int8 constants the native runtime stores per convolution (filter, its packed copy, per-channel
bias and requantization arrays), and the activation arena, planned by the native runtime's own
planner over the tensors the converted model will have (a convolution with its batch norm and
ReLU is one tensor; the input scaling is a MUL and an ADD for [-1, 1] inputs; the network's
output lives outside the arena). Checked against ``build.model_fit`` on real models (README,
"On the device"): the estimate is within ESTIMATE_MARGIN of the real plan, and that margin is added
before ``boards.fits`` adds its own.

The estimate is of the plan without patch-based execution (native/patch.py: the first layers
in bands, halo rows computed again) and so is the latency estimate: bands are not modelled
here, and a candidate that would fit the board only with them is rejected. That keeps the
estimate honest against what render does: render runs layers in bands only when the plan
without them is over the board's RAM (patching "fit"), which a candidate accepted here is not
(its real arena is within ESTIMATE_MARGIN of the estimate, and that margin is counted), so a
board default renders without bands and with the instructions estimated for it.

The schedule is the one render gives the network on the board (streaming "fit"): the plain
one, the fastest, where its arena fits the board's RAM, else the smallest plan, whose streamed
pairs cost costs.PER_UNIT "stream" per element on top (``fit_streaming``).

The head's cost is the integer head's (``IntHead.flash_bytes`` / ``ram_bytes``) for the
candidate's density, grid and channels; a knn bank is the coreset of ``recipe.bank_kb``.

A board's bases are, per backbone width, the first RUNGS_PER_BACKBONE entries of its
BASE_OPTIONS (backbone width and shorter input side, most accurate first) of which some
candidate fits its memory and its latency budget (``Board.max_instructions``, estimated by native/costs.py from the operators'
MACs and output sizes); the search chooses among the candidates of each base that fit
(``budget()``), and training keeps the base whose choice scores best on the validation set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from . import boards as board_table
from .boards import KB, Board, get_board
from .errors import ModelError
from .native import costs

# The estimate's own margin over the real plan (equal to it on the 4 models of README, "On the device";
# the margin covers converter changes), added to the
# network's weights and arena before boards.fits adds boards.MARGIN.
ESTIMATE_MARGIN = 0.02
MAX_BANK_KB = 256  # knn: beyond this the nearest-neighbour search costs more than the network
MIN_BANK_KB = 8
# A knn bank the latency budget leaves fewer cells than this is no detector worth a base: it
# gets this many (and the budget then rules it out), so a base is not chosen for it alone
MIN_BANK_ROWS = 256
# A knn bank fills the latency budget to this share of it: the network's estimate runs up to
# 1.5 % under QEMU's count on the 1.0 networks, so a bank filled to the brim went 0.2 % over
# (stm32f405's battery_weld default: 25.05 M measured, 24.95 M estimated)
BANK_LATENCY_SHARE = 0.98
# Bases per backbone: the first option that fits and the next one down. The first can fit only
# with a starved head (a small knn bank on a larger input) that loses on validation to what the
# next input size down affords, so training compares both.
RUNGS_PER_BACKBONE = 2


@dataclass(frozen=True)
class BaseOption:
    """A backbone and an input size a board's recipe may start from."""

    alpha: float
    size: int  # shorter input side in pixels

    @property
    def name(self) -> str:
        return f"MobileNetV2 {self.alpha} at {self.size} px"


# Most accurate first. The 0.35 backbone is the FOMO-AD weights file cut at
# block_6_expand_relu: that layer only (search.candidates keeps a file's own layers).
# 1.0 at 56 and 48 px keep the wider backbone within a latency budget on wide images (1.0 at
# 96x64, 2.5:1 images' 64 px rung, takes ~31 M instructions for the network alone); their
# sides are not multiples of 32, so they keep the candidates of stride 8 (56) or up to 16
# (48) (search.side_stride).
LADDER = (BaseOption(1.0, 128), BaseOption(1.0, 96), BaseOption(1.0, 64), BaseOption(1.0, 56),
          BaseOption(1.0, 48), BaseOption(0.35, 96), BaseOption(0.35, 80), BaseOption(0.35, 64))
BASE_OPTIONS: dict[str, tuple[BaseOption, ...]] = {name: LADDER for name in board_table.BOARDS}
SMALL_CUT = "block_6_expand_relu"


@dataclass(frozen=True)
class NetworkCost:
    macs: int
    weights_bytes: int
    arena_bytes: int
    input_bytes: int
    output_bytes: int
    grid: tuple[int, int]
    channels: int
    work: tuple[tuple[str, int], ...] = ()  # (operator kind, MACs or elements): costs.WORK_KINDS
    # the plain schedule's arena (nothing streamed, nothing in place: the fastest), and the
    # output elements of the convolutions the smallest plan (arena_bytes) streams
    plain_arena_bytes: int = 0
    stream_elements: int = 0

    @property
    def instructions(self) -> int:
        """The plain schedule's instructions (operators timed alone, costs.py)."""
        return costs.instructions(dict(self.work))

    @property
    def streaming_instructions(self) -> int:
        """What the smallest plan's streaming adds to them (costs.PER_UNIT "stream")."""
        return costs.instructions({"stream": self.stream_elements})


@dataclass(frozen=True)
class Cost:
    """A recipe's estimated cost on a board (network with ESTIMATE_MARGIN, head, I/O)."""

    network: NetworkCost
    head_flash_bytes: int
    head_ram_bytes: int
    head_macs: int
    io_bytes: int
    head_work: tuple[tuple[str, int], ...] = ()  # (costs kind, units); empty: ("head", head_macs)
    # the smallest plan (streamed: render's choice where the plain one is over the board's
    # RAM, and its extra instructions), else the plain schedule (fit_streaming)
    streamed: bool = True

    @property
    def weights_bytes(self) -> int:
        return math.ceil(self.network.weights_bytes * (1 + ESTIMATE_MARGIN))

    @property
    def instructions(self) -> int:
        """Estimated Cortex-M4 instructions per image, network and head (native/costs.py)."""
        stream = self.network.streaming_instructions if self.streamed else 0
        return (self.network.instructions + stream
                + costs.instructions(dict(self.head_work or (("head", self.head_macs),))))

    @property
    def network_arena_bytes(self) -> int:
        """The estimated arena of the schedule (streamed or plain), without the margin."""
        return self.network.arena_bytes if self.streamed else self.network.plain_arena_bytes

    @property
    def arena_bytes(self) -> int:
        return math.ceil(self.network_arena_bytes * (1 + ESTIMATE_MARGIN))

    def describe(self) -> str:
        return (f"{(self.network.macs + self.head_macs) / 1e6:.1f} M MACs "
                f"(head {self.head_macs / 1e6:.1f} M), ~{self.instructions / 1e6:.0f} M instructions, weights {self.network.weights_bytes / KB:.0f} KB "
                f"+ head {self.head_flash_bytes / KB:.0f} KB, arena {self.network_arena_bytes / KB:.0f} KB"
                + (" (streamed)" if self.streamed else ""))

    def to_json(self) -> dict:
        return {"macs": self.network.macs, "head_macs": self.head_macs,
                "weights_bytes": self.network.weights_bytes, "arena_bytes": self.network_arena_bytes,
                "head_flash_bytes": self.head_flash_bytes, "head_ram_bytes": self.head_ram_bytes,
                "io_bytes": self.io_bytes, "instructions": self.instructions, "streamed": self.streamed}


# ------------------------------------------------------------------ the network

def _shape_hw(recipe) -> tuple[int, int]:
    if recipe.shape:
        return int(recipe.shape[0]), int(recipe.shape[1])
    return int(recipe.size), int(recipe.size)


def network_cost(recipe) -> NetworkCost:
    """The int8 network's cost: MACs, constants and arena (native runtime) of the recipe's
    backbone up to its deepest layer, its pooling and (project) the 1x1 projection."""
    from .models.fomo_ad import _layers
    spec = recipe.backbone
    return _network_cost(spec.arch, float(spec.alpha), spec.input_scale, _shape_hw(recipe),
                         tuple(_layers(recipe)), int(recipe.pool), int(recipe.pool_stride),
                         int(recipe.project or 0))


@lru_cache(maxsize=64)
def _network_cost(arch, alpha, input_scale, shape_hw, layers, pool, stride, project) -> NetworkCost:
    import warnings

    from .models.fomo_ad import pool_to_cells
    from .native import inplace, planner, stream
    from .native.lower import (conv_fast_weight_bytes, conv_first_shape, conv_first_weight_bytes,
                               conv_kpad, conv_scratch_bytes, dw3_shape, dw_fast_weight_bytes)
    from .tfenv import keras
    if arch != "mobilenet_v2":
        raise ModelError(f"board fit: no cost estimate for backbone {arch!r}; use mobilenet_v2")
    inp = keras.Input((*shape_hw, 3))
    with warnings.catch_warnings():  # non-square inputs: Keras warns about its ImageNet sizes
        warnings.simplefilter("ignore")
        base = keras.applications.MobileNetV2(alpha=alpha, include_top=False, weights=None,
                                              input_tensor=inp)
    cells = pool_to_cells([base.get_layer(name).output for name in layers], pool, stride)
    if project:
        cells = keras.layers.Conv2D(project, 1, name="project")(cells)
    model = keras.Model(inp, cells)

    def nbytes(t) -> int:
        return int(np.prod([int(d) for d in t.shape[1:]]))

    # arena tensors by key: size, first and last op using them
    size: dict[object, int] = {}
    first: dict[object, int] = {}
    last: dict[object, int] = {}
    key_of: dict[int, object] = {}  # Keras tensor id -> arena tensor (aliases share one)
    scratch: list[tuple[int, int]] = []  # (op, bytes): im2col columns alive during one op
    convs: dict[int, tuple[object, object, int]] = {}  # conv op -> (input key, output key, scratch)
    rings: dict[int, tuple[object, int]] = {}  # depthwise op -> (input key, ring bytes)
    geometry: dict[int, tuple[dict, object]] = {}  # conv and depthwise op -> (rows, output key)
    macs = weights = step = 0
    work: dict[str, int] = {}

    def count(kind: str, n: int) -> None:
        work[kind] = work.get(kind, 0) + int(n)

    def produce(key, nbytes_, op) -> None:
        size[key], first[key], last[key] = nbytes_, op, op

    def use(key, op) -> None:
        last[key] = max(last[key], op)

    produce("pixels", nbytes(inp), 0)
    key_of[id(inp)] = "pixels"
    if input_scale == "symmetric":  # x / 127.5 - 1 stays a MUL and an ADD in the int8 model
        for name, src in (("scaled_mul", "pixels"), ("scaled", "scaled_mul")):
            use(src, step)
            produce(name, nbytes(inp), step)
            count("elementwise", nbytes(inp))
            step += 1
        key_of[id(inp)] = "scaled"
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        node = layer._inbound_nodes[0]
        ins, out = list(node.input_tensors), node.output_tensors[0]
        if kind in ("BatchNormalization", "ReLU", "ZeroPadding2D", "Activation"):
            key_of[id(out)] = key_of[id(ins[0])]  # fused into the convolution before it
            continue
        for t in ins:
            use(key_of[id(t)], step)
        key_of[id(out)] = id(out)
        produce(id(out), nbytes(out), step)
        oh, ow, oc = (int(d) for d in out.shape[1:4])
        if kind == "Conv2D":
            kh, kw = layer.kernel_size
            kk = kh * kw * int(ins[0].shape[-1])
            kpad = conv_kpad(kh, kw, int(ins[0].shape[-1]))
            sh, sw = layer.strides
            dh, dw = layer.dilation_rate
            on_first = conv_first_shape(kh, kw, sh, sw, dh, dw, int(ins[0].shape[-1]))
            direct = kh == kw == 1 and tuple(layer.strides) == (1, 1) and kpad == kk
            # vad_conv_first.c's layers: an int16 filter, no scratch; small direct 1x1 layers:
            # int16 in their records (lower.rec6_wide)
            weights += (conv_first_weight_bytes(oc, int(ins[0].shape[-1])) if on_first
                        else conv_fast_weight_bytes(oc, kpad, direct=direct))
            macs += oh * ow * oc * kk
            scratch.append((step, 0 if on_first else conv_scratch_bytes(kpad, direct)))
            convs[step] = (key_of[id(ins[0])], id(out), scratch[-1][1])
            geometry[step] = (_rows(layer, ins[0], out), id(out))
            conv = "conv_1x1" if kh == kw == 1 else "conv_first" if int(ins[0].shape[-1]) <= 4 else "conv"
            count(conv, oh * ow * oc * kk)
            count(conv + "_out", oh * ow * oc)
        elif kind == "DepthwiseConv2D":
            kh, kw = layer.kernel_size
            sh, sw = (int(v) for v in layer.strides)
            dh, dw = (int(v) for v in layer.dilation_rate)
            dw3 = dw3_shape(kh, kw, sh, sw, dh, dw, ow, int(layer.depth_multiplier), oh)
            weights += dw_fast_weight_bytes(oc, kh * kw, dw3)
            macs += oh * ow * oc * kh * kw
            in_w, in_c = int(ins[0].shape[2]), int(ins[0].shape[3])
            rings[step] = (key_of[id(ins[0])], stream.ring_rows(kh, layer.dilation_rate[0]) * in_w * in_c)
            geometry[step] = (_rows(layer, ins[0], out), id(out))
            count("depthwise", oh * ow * oc * kh * kw)
            count("depthwise_out", oh * ow * oc)
        elif kind == "AveragePooling2D":
            count("avg_pool", oh * ow * oc * layer.pool_size[0] * layer.pool_size[1])
        else:  # Add, Concatenate: one pass over the output
            count("elementwise", oh * ow * oc)
        step += 1
    out_key = key_of[id(model.output)]  # written into the caller's buffer, not the arena
    keys = [k for k in size if k != out_key]
    # a convolution streams into the depthwise layer after it when that alone reads its output
    # (its last reader, the step after it; native/stream.py); the same rule keeps a pair only
    # where it lowers the arena
    pairs = [op for op, (_, out_k, _) in convs.items()
             if op + 1 in rings and rings[op + 1][0] == out_k and out_k != out_key
             and last[out_k] == op + 1]

    def arena_of(chosen: set[int], kinds: frozenset) -> int:
        gone = {convs[op][1] for op in chosen}
        ends = dict(last)
        extra = []
        for op in chosen:
            ends[convs[op][0]] = max(ends[convs[op][0]], op + 1)
            extra.append((op + 1, convs[op][2] + rings[op + 1][1]))
        moved = [(op, nb) for op, nb in scratch if op not in chosen] + extra
        bufs = [planner.Buffer(n, size[k], first[k], ends[k]) for n, k in enumerate(keys) if k not in gone]
        bufs += [planner.Buffer(-(n + 1), nb, op, op) for n, (op, nb) in enumerate(moved)]
        # outputs over their dying inputs (streamed pairs, row-wise 1x1 convolutions):
        # codegen.build_plan's rule, taken only where it lowers the arena
        number = {k: n for n, k in enumerate(keys) if k not in gone}
        overlaps = {}
        for op, (x, y, _) in convs.items():
            rows = geometry[op][0]
            if op in chosen and "stream" in kinds:
                y, limit = geometry[op + 1][1], stream.overlap_limit(rows, geometry[op + 1][0])
                at = op + 1
            elif op not in chosen and "rows" in kinds and rows["k_h"] == 1 and rows["stride_h"] == 1:
                limit, at = inplace.rows_limit(rows["in_h"], rows["in_w"] * rows["in_c"],
                                               rows["out_w"] * rows["out_c"]), op
            else:
                continue
            if x in number and y in number and ends[x] == at and first[y] == at:
                overlaps[(number[x], number[y])] = limit
        arena = planner.plan(bufs)[1]
        return min(arena, planner.plan_best(bufs, overlaps=overlaps)[1]) if overlaps else arena

    plain = arena_of(set(), frozenset())
    arena, streamed = plain, set()
    for kinds in (frozenset(), frozenset({"stream"}), frozenset({"stream", "rows"})):
        chosen = stream.choose(pairs, lambda c: arena_of(c, kinds))
        trial = arena_of(chosen, kinds)
        if trial < arena:
            arena, streamed = trial, chosen
    gh, gw, channels = (int(d) for d in model.output.shape[1:4])
    return NetworkCost(macs=int(macs), weights_bytes=int(weights), arena_bytes=int(arena),
                       input_bytes=int(np.prod(shape_hw)) * 3, output_bytes=gh * gw * channels,
                       grid=(gh, gw), channels=channels, work=tuple(sorted(work.items())),
                       plain_arena_bytes=int(plain),
                       stream_elements=sum(size[convs[op][1]] for op in streamed))


# ------------------------------------------------------------------ the head and the whole

def _rows(layer, x, out) -> dict:
    """The row geometry of a Keras convolution as the native runtime's parameters name it
    (stream.overlap_limit's fields): a ZeroPadding2D before it is its top padding, as the
    converter folds it in."""
    top = 0
    producer = getattr(getattr(x, "_keras_history", None), "operation", None)
    if type(producer).__name__ == "ZeroPadding2D":
        top = int(producer.padding[0][0])
        x = producer._inbound_nodes[0].input_tensors[0]
    in_h, in_w, in_c = (int(v) for v in x.shape[1:4])
    out_h, out_w, out_c = (int(v) for v in out.shape[1:4])
    k, st, dil = int(layer.kernel_size[0]), int(layer.strides[0]), int(layer.dilation_rate[0])
    if layer.padding == "same":
        top += max((out_h - 1) * st + (k - 1) * dil + 1 - in_h, 0) // 2
    return {"in_h": in_h, "in_w": in_w, "in_c": in_c, "k_h": k, "stride_h": st, "dil_h": dil,
            "pad_h": top, "out_h": out_h, "out_w": out_w, "out_c": out_c}


def _shape_only_head(recipe, grid: tuple[int, int], channels: int, density=None):
    """An IntHead with the candidate's table sizes and no numbers: its flash_bytes, ram_bytes
    and macs_per_image are the real head's (the coreset at recipe.bank_kb for knn)."""
    from .models.int_head import IntHead
    head = IntHead(kind=recipe.density, pooling=recipe.image_score, grid=tuple(grid),
                   channels=channels, frac_bits=0, threshold=0, zero_point=0, scale=1.0)
    if recipe.density == "knn":
        rows = max(1, int(recipe.bank_kb * KB) // channels)
        if density is not None:  # no more cells than the fitted bank holds
            rows = min(rows, len(density.means))
        head.bank = np.broadcast_to(np.int8(0), (rows, channels))
    else:
        if recipe.density == "per-position":
            k = grid[0] * grid[1]
        elif density is not None:
            k = len(density.means)
        else:
            k = recipe.components if recipe.density == "gmm" else 1
        head.weights = np.broadcast_to(np.int16(0), (k, 0, 0))
    return head


def recipe_cost(recipe, density=None, board: Board | str | None = None) -> Cost:
    """The recipe's estimated cost (shape fixed: recipe.shape, else size x size); on a board,
    with the schedule render gives it there (fit_streaming), else the smallest plan's."""
    net = network_cost(recipe)
    head = _shape_only_head(recipe, net.grid, net.channels, density)
    cost = Cost(net, int(head.flash_bytes), int(head.ram_bytes), int(head.macs_per_image),
                board_table.io_bytes(net.output_bytes, net.grid[0] * net.grid[1]),
                head_work(recipe.density, net.grid, len(head.bank), int(head.macs_per_image)))
    return cost if board is None else fit_streaming(board, cost)


def _plain_fits(board: Board, net: NetworkCost, head_ram_bytes: int, io_bytes: int) -> bool:
    room = board_table.arena_room(board, head_ram_bytes=head_ram_bytes, io_bytes=io_bytes)
    return room is None or math.ceil(net.plain_arena_bytes * (1 + ESTIMATE_MARGIN)) <= room


def _network_alone_fits(board: Board, net: NetworkCost) -> bool:
    """Does the network fit the board's memory and latency budget with no head at all?"""
    alone = Cost(net, 0, 0, 0, board_table.io_bytes(net.output_bytes), (("head", 0),))
    return why_not(board, fit_streaming(board, alone)) is None


def fit_streaming(board: Board | str, cost: Cost) -> Cost:
    """The cost with render's schedule on this board (streaming "fit"): the plain one, the
    fastest, where its arena fits the board's RAM beside the head and the I/O buffers (with
    ESTIMATE_MARGIN), else the smallest plan, streamed, with the instructions that adds."""
    board = get_board(board) if isinstance(board, str) else board
    return replace(cost, streamed=not _plain_fits(board, cost.network, cost.head_ram_bytes, cost.io_bytes))


def head_work(density: str, grid: tuple[int, int], bank_rows: int, head_macs: int) -> tuple:
    """The head's work in costs.PER_UNIT kinds: a knn bank's multiply-adds and its rows
    compared per cell (costs.knn_head), else the Gaussian heads' multiply-adds."""
    if density == "knn":
        return (("knn", head_macs), ("knn_row", grid[0] * grid[1] * bank_rows))
    return (("head", head_macs),)


def why_not(board: Board | str, cost: Cost, latency: bool = True) -> str | None:
    """boards.fits on an estimated cost, then (latency) the board's latency budget: None, or
    why it does not fit (in KB, or in instructions per image)."""
    board = get_board(board) if isinstance(board, str) else board
    reason = board_table.fits(board, weights_bytes=cost.weights_bytes, arena_bytes=cost.arena_bytes,
                              head_bytes=cost.head_flash_bytes, head_ram_bytes=cost.head_ram_bytes,
                              io_bytes=cost.io_bytes)
    if reason is None and latency and board.max_instructions and cost.instructions > board.max_instructions:
        reason = (f"takes ~{cost.instructions / 1e6:.0f} M instructions per image, over the "
                  f"{board.max_instructions / 1e6:g} M latency budget of {board.name}")
    return reason


def bank_kb_for(board: Board | str, recipe) -> float:
    """A knn coreset as large as the board's flash allows beside this recipe's network and the
    firmware's code (after both margins) and as BANK_LATENCY_SHARE of its latency budget allows
    after the network (each bank row costs every cell its multiply-adds and a comparison,
    costs.PER_UNIT "knn" and "knn_row"; never under MIN_BANK_ROWS cells), at most MAX_BANK_KB
    (its search time grows with it), in whole KB; MIN_BANK_KB when not even that is free (the
    fit check then says so)."""
    board = get_board(board) if isinstance(board, str) else board
    room = board_table.budget(board).flash_bytes
    net = network_cost(recipe)
    free_kb = MAX_BANK_KB
    if room is not None:
        weights = math.ceil(net.weights_bytes * (1 + ESTIMATE_MARGIN))
        free_kb = (room - board_table.CODE_BYTES - weights) // KB
    if board.max_instructions:
        cells = net.grid[0] * net.grid[1]
        per_row = costs.instructions({"knn": cells * net.channels, "knn_row": cells}) or 1
        # a knn head's working memory is its cell scores, counted in the I/O buffers
        io = board_table.io_bytes(net.output_bytes, cells)
        spent = net.instructions + (0 if _plain_fits(board, net, 0, io) else net.streaming_instructions)
        rows = max(0, int(board.max_instructions * BANK_LATENCY_SHARE) - spent) // per_row
        free_kb = min(free_kb, max(rows, MIN_BANK_ROWS) * net.channels // KB)
    return float(min(MAX_BANK_KB, max(MIN_BANK_KB, free_kb)))


def with_board_bank(board: Board | str, recipe):
    """A knn recipe with the board's bank (bank_kb_for); other densities unchanged."""
    return replace(recipe, bank_kb=bank_kb_for(board, recipe)) if recipe.density == "knn" else recipe


class Budget:
    """The search's budget(recipe, density): None when the candidate fits the board (a knn one
    with the bank the board would give it, unless the bank is fixed), else why not."""

    def __init__(self, board: Board | str, fixed_bank: bool = False):
        self.board = get_board(board) if isinstance(board, str) else board
        self.fixed_bank = fixed_bank

    def settle(self, recipe):
        return recipe if self.fixed_bank else with_board_bank(self.board, recipe)

    def cost(self, recipe, density=None) -> Cost:
        return recipe_cost(self.settle(recipe), density, self.board)

    def __call__(self, recipe, density=None, latency: bool = True) -> str | None:
        return why_not(self.board, self.cost(recipe, density), latency)


@dataclass
class BoardBase:
    """The recipe a board starts from and how it was chosen."""

    recipe: object  # FomoAdRecipe, shape fixed
    option: BaseOption | None  # None: the user's own recipe, checked only
    tried: list[tuple[str, str]]  # (option, why it did not fit) before the chosen one


def _option_recipe(recipe, option: BaseOption):
    from .models.backbone import BackboneSpec, default_input_scale, resolve_weights
    spec = recipe.backbone
    if option.alpha == spec.alpha and spec.cut:
        new = spec
    else:
        cut = spec.cut if option.alpha == 1.0 else SMALL_CUT
        new = BackboneSpec(arch="mobilenet_v2", alpha=option.alpha, cut=cut, weights=spec.weights)
        new = replace(new, input_scale=default_input_scale(resolve_weights(new)))
    extra = recipe.extra_layers if option.alpha == 1.0 else []
    return replace(recipe, backbone=new, extra_layers=list(extra), size=option.size, shape=None)


def choose_base(board: Board | str, recipe, train_paths, search: bool, **options) -> BoardBase:
    """The first of choose_bases (the most accurate base that fits), the others not costed."""
    return choose_bases(board, recipe, train_paths, search, first_only=True, **options)[0]


def choose_bases(board: Board | str, recipe, train_paths, search: bool, *, fixed_bank: bool = False,
                 fixed_size: bool = False, progress=None, first_only: bool = False) -> list[BoardBase]:
    """The base recipes for a board. With search: for each backbone of BASE_OPTIONS[board], its
    first RUNGS_PER_BACKBONE options of which some candidate fits (in the options' order, most
    accurate first), each with the options passed over before it; train.py searches each and keeps the one
    whose chosen candidate scores best on the validation set (a smaller backbone at a larger
    input may see a defect a wider one at a smaller input misses). An option's shape comes
    from the training images, as training chooses it, its sides multiples of the coarsest
    candidate stride that divides the option's side (search.side_stride); fixed_size: the
    recipe's size or shape, the options' backbones only. Without search: the recipe itself,
    checked. fixed_bank: the recipe's bank_kb, not the board's. ModelError in one line when
    nothing fits."""
    from . import geometry
    from . import search as recipe_search
    from .models import fomo_ad
    board = get_board(board) if isinstance(board, str) else board
    budget = Budget(board, fixed_bank)
    if not search:
        stride = fomo_ad.output_stride(recipe)
        fixed, _ = geometry.resolve_recipe(recipe, stride, train_paths)
        reason = budget(fixed, latency=False)  # the user's own recipe: memory only
        if reason:
            raise ModelError(f"--board {board.name}: this recipe {reason}; leave out the recipe "
                             "options to let the search choose one that fits, or pick another board")
        return [BoardBase(budget.settle(fixed), None, [])]
    tried, found = [], []
    options = BASE_OPTIONS.get(board.name, LADDER)
    if fixed_size:  # one try per backbone at the user's size
        side = min(recipe.shape) if recipe.shape else recipe.size
        options = tuple(dict.fromkeys(replace(o, size=side) for o in options))
    rungs = {}  # bases found per backbone width
    for n, option in enumerate(options):
        if progress:
            progress(f"board fit: {board.name}", n, len(options))
        if rungs.get(option.alpha, 0) >= RUNGS_PER_BACKBONE:  # this backbone has its bases
            continue
        try:
            base = _option_recipe(recipe, option)
        except ModelError as exc:  # e.g. no 0.35 weights file
            tried.append((option.name, f"unavailable: {exc}"))
            continue
        if fixed_size and recipe.shape:
            base = replace(base, shape=list(recipe.shape))
        base, _ = geometry.resolve_recipe(base, recipe_search.side_stride(base, option.size), train_paths)
        if any(b.option.alpha == option.alpha and b.recipe.shape == base.shape for b in found):
            continue  # rounded to a shape this backbone already has
        smallest = None
        # the board's grid, knn on a few principal components last (often the cheapest head,
        # but each is a network of its own to cost): those only where the network without the
        # projection fits alone, as the projection only adds to it
        grid = sorted(recipe_search.candidates(base, board=True), key=lambda c: c.project > 0)
        for candidate in grid:
            if candidate.project and not _network_alone_fits(board, network_cost(
                    replace(candidate, project=0).recipe(base))):
                continue
            cost = budget.cost(candidate.recipe(base))
            reason = why_not(board, cost)
            if reason is None:
                # the fitting candidate's recipe: what training uses if it cannot search
                found.append(BoardBase(budget.settle(candidate.recipe(base)), option, list(tried)))
                rungs[option.alpha] = rungs.get(option.alpha, 0) + 1
                break
            size = cost.weights_bytes + cost.head_flash_bytes + cost.arena_bytes
            if smallest is None or size < smallest[0]:
                smallest = (size, reason)
        else:
            tried.append((option.name, smallest[1]))
        if found and first_only:
            break
    if progress:
        progress(f"board fit: {board.name}", len(options), len(options))
    if found:
        return found
    name, reason = tried[-1] if tried else ("-", "no options")
    raise ModelError(f"--board {board.name}: no recipe fits; the smallest, {name}, {reason}")
