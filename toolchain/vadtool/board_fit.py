"""What a FOMO-AD recipe costs on a board, estimated before anything is converted, and the
recipe a board starts from.

The network's cost comes from its Keras graph alone (no weights, no TFLite conversion): the
int8 constants the native runtime stores per convolution (filter, its packed copy, per-channel
bias and requantization arrays), and the activation arena, planned by the native runtime's own
planner over the tensors the converted model will have (a convolution with its batch norm and
ReLU is one tensor; the input scaling is a MUL and an ADD for [-1, 1] inputs; the network's
output lives outside the arena). Checked against ``build.model_fit`` on real models (README,
"Boards"): the estimate is within ESTIMATE_MARGIN of the real plan, and that margin is added
before ``boards.fits`` adds its own.

The head's cost is the integer head's (``IntHead.flash_bytes`` / ``ram_bytes``) for the
candidate's density, grid and channels; a knn bank is the coreset of ``recipe.bank_kb``.

A board starts from the first entry of its BASE_OPTIONS (backbone width and shorter input
side, most accurate first) whose cheapest candidate fits; the search then chooses among
the candidates of that base that fit (``budget()``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from . import boards as board_table
from .boards import KB, Board, get_board
from .errors import ModelError

# The estimate's own margin over the real plan (equal to it on the 4 models of README, "Boards";
# the margin covers converter changes), added to the
# network's weights and arena before boards.fits adds boards.MARGIN.
ESTIMATE_MARGIN = 0.02
# Per output channel, the native runtime stores bias, multiplier, shift, folded bias and the
# fast path's two requantization arrays, int32 each (native/lower.py).
PER_CHANNEL_BYTES = 6 * 4
MAX_BANK_KB = 256  # knn: beyond this the nearest-neighbour search costs more than the network
MIN_BANK_KB = 8


@dataclass(frozen=True)
class BaseOption:
    """A backbone and an input size a board's recipe may start from."""

    alpha: float
    size: int  # shorter input side in pixels

    @property
    def name(self) -> str:
        return f"MobileNetV2 {self.alpha:g} at {self.size} px"


# Most accurate first. The 0.35 backbone is the FOMO-AD weights file cut at
# block_6_expand_relu: that layer only (search.candidates keeps a file's own layers).
LADDER = (BaseOption(1.0, 128), BaseOption(1.0, 96), BaseOption(1.0, 64),
          BaseOption(0.35, 96), BaseOption(0.35, 80), BaseOption(0.35, 64))
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


@dataclass(frozen=True)
class Cost:
    """A recipe's estimated cost on a board (network with ESTIMATE_MARGIN, head, I/O)."""

    network: NetworkCost
    head_flash_bytes: int
    head_ram_bytes: int
    head_macs: int
    io_bytes: int

    @property
    def weights_bytes(self) -> int:
        return math.ceil(self.network.weights_bytes * (1 + ESTIMATE_MARGIN))

    @property
    def arena_bytes(self) -> int:
        return math.ceil(self.network.arena_bytes * (1 + ESTIMATE_MARGIN))

    def describe(self) -> str:
        return (f"{(self.network.macs + self.head_macs) / 1e6:.1f} M MACs "
                f"(head {self.head_macs / 1e6:.1f} M), weights {self.network.weights_bytes / KB:.0f} KB "
                f"+ head {self.head_flash_bytes / KB:.0f} KB, arena {self.network.arena_bytes / KB:.0f} KB")

    def to_json(self) -> dict:
        return {"macs": self.network.macs, "head_macs": self.head_macs,
                "weights_bytes": self.network.weights_bytes, "arena_bytes": self.network.arena_bytes,
                "head_flash_bytes": self.head_flash_bytes, "head_ram_bytes": self.head_ram_bytes,
                "io_bytes": self.io_bytes}


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
    from .native import planner
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
    macs = weights = step = 0

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
            kpad = (kk + 3) // 4 * 4
            # the fast path keeps a copy of a filter whose rows are not a multiple of 4
            weights += oc * kk + (oc * kpad if kpad != kk else 0) + PER_CHANNEL_BYTES * oc
            macs += oh * ow * oc * kk
            if not (kh == kw == 1 and tuple(layer.strides) == (1, 1) and kpad == kk):
                scratch.append((step, 2 * kpad))
        elif kind == "DepthwiseConv2D":
            kh, kw = layer.kernel_size
            weights += 3 * kh * kw * oc + PER_CHANNEL_BYTES * oc  # filter and its packed pairs
            macs += oh * ow * oc * kh * kw
        step += 1
    out_key = key_of[id(model.output)]  # written into the caller's buffer, not the arena
    keys = [k for k in size if k != out_key]
    buffers = [planner.Buffer(n, size[k], first[k], last[k]) for n, k in enumerate(keys)]
    buffers += [planner.Buffer(-(n + 1), nb, op, op) for n, (op, nb) in enumerate(scratch)]
    _, arena = planner.plan(buffers)
    gh, gw, channels = (int(d) for d in model.output.shape[1:4])
    return NetworkCost(macs=int(macs), weights_bytes=int(weights), arena_bytes=int(arena),
                       input_bytes=int(np.prod(shape_hw)) * 3, output_bytes=gh * gw * channels,
                       grid=(gh, gw), channels=channels)
