"""Lower each TFLite operator to a call of the native runtime with precomputed parameters.

Every supported operator becomes a `Step`: the kernel function, a C initializer for its
parameter struct, the constant arrays it needs, its activation inputs and outputs, and
its MAC count. Anything the runtime cannot reproduce bit-exactly raises RenderError
naming the operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RenderError
from . import quant
from .tflite_reader import ACTIVATION_NAMES, Graph, Operator, Tensor

SUPPORTED = (
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "MEAN",
    "MUL",
    "PAD",
    "PADV2",
    "QUANTIZE",
    "RESHAPE",
    "SOFTMAX",
    "SQUEEZE",
)
ALIAS_OPS = ("RESHAPE", "SQUEEZE")
CONCAT_MAX_INPUTS = 10  # TFLM's kMaxInputNum; VAD_CONCAT_MAX_INPUTS in vad_kernels.h
DW3_REC, DW3_MAX_WORDS = 9, 66  # VAD_DW3_REC, VAD_DW3_MAX_WORDS in vad_kernels.h
DW3_STRIP = 32  # VAD_DW3_STRIP: widest row (words) of the strip layout
DW3_QUAD_WORDS = 160  # D3_Q4 in vad_dw3_fast.c: words a channel when channels go in fours
# narrowest output row given to the 3x3 depthwise path, by stride: below, its per-row and
# per-channel costs are not amortized (Cortex-M4, VWW, instructions per MAC against the generic
# path, with the strip layout of vad_dw3_fast.c: stride 1, 6 pixels 3.57 against 4.25, 3 pixels
# 7.6 against 4.8; stride 2, 6 pixels 4.88 against 5.19, 3 pixels 9.3 against 5.0)
DW3_MIN_W = {1: 6, 2: 6}
# ... except maps 3 pixels wide whose rows fit d3_tiny's buffer (rows 4 words apart, a quarter
# of the buffer a channel: (out_h - 1) * stride + 3 <= 24): written out per row in C, no asm
# call (VWW on Cortex-M4, instructions per MAC against the generic path: stride 1 on 3x3 3.69
# against 4.78, stride 2 4.59 against 5.02)
DW3_TINY_W = 3
DW3_TINY_H = {1: 22, 2: 11}


def dw3_row_words(out_w: int, stride: int) -> int:
    """Words of a widened input row on the 3x3 path (nw in vad_dw3_fast.c): the last pixel pair
    reads up to buffer index stride * out_w + 1."""
    return out_w + 1 if stride == 2 else (out_w + 3) // 2


def dw3_strip(out_w: int, out_h: int, stride: int, quad: bool = False) -> tuple[int, int]:
    """(words between rows, output rows a block) of the 3x3 path's strip layout for a layer of
    out_h rows run whole (vad_dw3_fast.c: rows of up to VAD_DW3_STRIP words, more than one
    output row), or (0, 1) for the per-row layout. quad: channels in fours (C a multiple of 4,
    pad_w <= 1: DW3_QUAD_WORDS a channel), else in pairs (3 * DW3_MAX_WORDS)."""
    nw = dw3_row_words(out_w, stride)
    if nw > DW3_STRIP or out_h < 2:
        return 0, 1
    words = 8 if nw <= 8 else 16 if nw <= 16 else 32
    return words, ((DW3_QUAD_WORDS if quad else 3 * DW3_MAX_WORDS) // words - 3) // stride + 1


def dw3_shape(kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, ow: int, depth_mult: int,
              oh: int) -> bool:
    """A DEPTHWISE_CONV_2D shape the 3x3 path takes (its channels' requantization checked
    apart, Lowering._dw3_record); board_fit sizes the flash of such layers with it."""
    return ((kh, kw, dh, dw) == (3, 3, 1, 1) and sh == sw and sh in (1, 2) and depth_mult == 1
            and dw3_row_words(ow, sh) <= DW3_MAX_WORDS
            and (ow >= DW3_MIN_W[sh] or (ow == DW3_TINY_W and oh <= DW3_TINY_H[sh])))


def dw_fast_weight_bytes(oc: int, taps: int, dw3: bool) -> int:
    """Flash of a fast DEPTHWISE_CONV_2D: the filter, bias, multipliers and shifts (the reference
    loops' arrays, kept), then the 3x3 path's records or the generic path's int16 filter pairs,
    folded bias and two requantization arrays."""
    return taps * oc + 3 * 4 * oc + (DW3_REC * 4 * oc if dw3 else 2 * taps * oc + 3 * 4 * oc)


@dataclass
class ConstArray:
    name: str
    ctype: str  # int8_t / int32_t
    values: np.ndarray
    # "ref": only the reference loops read it (compiled only with VAD_NO_FAST_PATHS; the
    # params field names it through VAD_REF_ONLY()), "" always
    only: str = ""

    @property
    def nbytes(self) -> int:
        return int(self.values.size) * (1 if self.ctype == "int8_t" else 4)


def conv_kpad(kh: int, kw: int, ic: int) -> int:
    """Length of a CONV_2D filter row (k_h*k_w*in_c) rounded up to a multiple of 4: the fast
    path works on groups of 4 values."""
    return (kh * kw * ic + 3) // 4 * 4


def conv_scratch_bytes(kpad: int, direct: bool) -> int:
    """Arena scratch of a fast CONV_2D: two widened int16 columns, plus two int8 im2col columns
    unless the input pixels are the columns (direct). conv_fast() in vad_conv_fast.c. A layer
    whose placed scratch can grow to conv_block4_bytes() for free (the arena does not
    grow: codegen.build_plan) runs in blocks of 4 pixels (blocks4)."""
    return (4 if direct else 6) * kpad


def conv_block4_bytes(kpad: int, direct: bool = True) -> int:
    """Scratch of a CONV_2D run in blocks of 4 pixels: four widened columns, then four int8
    im2col columns unless direct."""
    return (8 if direct else 12) * kpad


def conv_block6_bytes(kpad: int) -> int:
    """Scratch of a direct 1x1 CONV_2D run in blocks of 6 pixels x 1 channel (blocks6, with
    blocks4 for the last pixels): six widened columns."""
    return 12 * kpad


def fold_ok(e: np.ndarray, rnd: np.ndarray, out_offset: int) -> bool:
    """Whether every channel (right shift e, rounding term rnd) may take the output offset z
    into the rounding term without overflow: 1 <= e <= 31 and |rnd| + |z| 2^e <= 2^30 - 2
    (block6_rq_ok, the records of px1 layers)."""
    e, rnd = np.asarray(e, np.int64), np.asarray(rnd, np.int64)
    if (e < 1).any() or (e > 31).any():
        return False
    return bool(np.all(np.abs(rnd) + abs(int(out_offset)) * np.left_shift(1, e) <= 2**30 - 2))


# input channels of the direct 1x1 layers that may be computed a pixel at a time with the widened
# pixel in registers (px1: conv_px1 in vad_conv_fast.c; no scratch), where the blocks of 6 do
# not fit (codegen._choose_px1)
PX1_K = (8, 16)
# of those, the input channels that take px1 even where the blocks of 6 fit: none since the
# blocks of 6 read the generator's records (rec6; QEMU an386, --streaming off: VWW 16 -> 32 @24
# 1.17 against px1's 1.37 instructions per MAC, FOMO 0.35's 16 -> 8 @48 1.38 against 1.63 and
# 16 -> 96 @12 1.13 against 1.31)
PX1_OVER_BLOCKS6: tuple[int, ...] = ()
# input channels (kpad) up to which the records of the blocks of 6 hold the filter as int16
# pairs (fewer instructions per MAC: LDRD instead of LDR and two SXTB16) even without wide
# weights (on 32 the int8 filter stays under 1 instruction per MAC, written out: MobileNetV2's
# 32 -> 192 @8x8 0.95 against 0.86 as int16, and keeps 6 KB of flash each)
REC6_WIDE_K = 16
# and the filters of at most this many values (int8 bytes): small layers, where the widening of
# the columns (not doubled with int16 filters) weighs most per MAC
REC6_WIDE_BYTES = 4096


def block6_rq_ok(s: "Step") -> bool:
    """Whether a fast == 1 CONV_2D step's blocks of 6 pixels may fold the output offset z into
    the rounding term (pairs_6x1_full in vad_conv_fast.c: rnd + z 2^e, the sum with the
    rounding-doubling product, below 2^30 in magnitude, staying below 2^31): every channel has
    |rnd| + |z| 2^e <= 2^30 - 2."""
    p = dict(s.params)
    rq = np.asarray(next(c.values for c in s.consts if c.name.endswith("_rq")), np.int64).reshape(-1, 4)
    return fold_ok(rq[:, 2], rq[:, 3], p["out_offset"])


def rec6_wide(oc: int, kpad: int) -> bool:
    """Whether the records of a layer run in blocks of 6 pixels hold its filter as int16
    without wide weights (REC6_WIDE_K, REC6_WIDE_BYTES)."""
    return kpad <= REC6_WIDE_K or oc * kpad <= REC6_WIDE_BYTES


def conv_fast_weight_bytes(oc: int, kpad: int, wide: bool = False, direct: bool = False) -> int:
    """Flash of a fast CONV_2D: its filter zero padded to kpad (int8, or int16 with wide
    weights, and on the direct 1x1 layers rec6_wide takes: the blocks of 6's records, px1's
    on 8 and 16 channels) and per channel the requantization record and the shift (the
    original filter, bias and multipliers are left out of fast builds)."""
    return (2 if wide or (direct and rec6_wide(oc, kpad)) else 1) * oc * kpad + 5 * 4 * oc


CONV_FIRST = 4  # VAD_CONV_FIRST in vad_kernels.h: the fast level of vad_conv_first_s8's layers


def conv_first_shape(kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, ic: int) -> bool:
    """A CONV_2D shape vad_conv_first.c runs without im2col: 3x3, stride 1 or 2 both ways, no
    dilation, 1 to 3 input channels (a network's first convolution on a grayscale or colour
    image)."""
    return (kh, kw, dh, dw) == (3, 3, 1, 1) and sh == sw and sh in (1, 2) and 1 <= ic <= 3


def conv_first_weight_bytes(oc: int, ic: int) -> int:
    """Flash of a CONV_2D on vad_conv_first.c: its int16 filter (3 window rows of (3 ic + 1) / 2
    words a channel) and per channel the requantization record and the shift."""
    return 4 * oc * 3 * ((3 * ic + 1) // 2) + 5 * 4 * oc


def conv_first_filter(rows: np.ndarray, ic: int) -> np.ndarray:
    """The [out_c][3*3*ic] filter as the int32 words vad_conv_first.c reads (wfast): doubled,
    per window row its 3 * ic values as int16 pairs (low half first; an odd count padded with
    a 0), per pair of output channels per row per word the two channels' words, an odd last
    channel alone."""
    oc = rows.shape[0]
    seg = 3 * ic
    nw = (seg + 1) // 2
    r = np.zeros((oc, 3, 2 * nw), np.int64)
    r[:, :, :seg] = 2 * rows.reshape(oc, 3, seg)
    h = r.reshape(oc, 3, nw, 2) & 0xFFFF
    words = h[..., 0] | (h[..., 1] << 16)  # [oc][row][word]
    pairs = oc // 2
    blocks = words[: 2 * pairs].reshape(pairs, 2, 3, nw).transpose(0, 2, 3, 1)
    flat = np.concatenate([blocks.reshape(-1), words[2 * pairs:].reshape(-1)])
    return flat.astype(np.uint32).view(np.int32).astype(np.int64)


def direct_conv(p: dict) -> bool:
    """A CONV_2D (params by name) whose input pixels are its im2col columns: 1x1, stride 1, no
    padding, K a multiple of 4. It needs no im2col; conv_direct() in vad_conv_fast.c is
    the same test on the C side."""
    return (p["k_h"] == p["k_w"] == 1 and p["stride_h"] == p["stride_w"] == 1
            and p["pad_h"] == p["pad_w"] == 0 and p["kpad"] == p["in_c"])


@dataclass
class Step:
    op: Operator
    kernel: str  # C function name
    params_type: str
    params: list[tuple[str, object]]  # field, value (int, float or C expression)
    act_inputs: list[int]  # tensor indices read from activations, in call order
    act_outputs: list[int]
    consts: list[ConstArray] = field(default_factory=list)
    macs: int = 0
    alias: bool = False  # RESHAPE-like: output shares the input's memory
    input_list: bool = False  # the kernel takes its inputs as one array of pointers (CONCATENATION)
    # bytes of arena scratch the kernel needs while it runs; the planner places it (a buffer
    # alive during this step only) and codegen sets the params field "scratch" to its address
    scratch: int = 0
    # streaming (stream.py): on a CONV_2D, the op index of the depthwise step it streams into
    # (it emits no call); on that DEPTHWISE_CONV_2D, the fields of its vad_conv_dw_params_t
    # and how much of its scratch is the convolution's (the ring follows)
    streamed_into: int | None = None
    stream: list[tuple[str, object]] | None = None
    stream_conv_scratch: int = 0
    # patch-based execution (patch.py): on a band step, (band, bands); the byte offset of the
    # pointer it gets into each tensor it reads or writes (rows of a full tensor, or of a band
    # buffer holding more rows than it reads); (tensor, first row, end row) of what it writes
    band: tuple[int, int] | None = None
    views: dict[int, int] = field(default_factory=dict)
    band_rows: tuple[int, int, int] | None = None


class Lowering:
    def __init__(self, graph: Graph, single_rounding: bool = False, wide_weights: bool = False):
        self.g = graph
        self.single_rounding = single_rounding
        # CONV_2D filters pre-widened to int16 (fewer instructions, twice the flash)
        self.wide_weights = wide_weights
        self.model_name = Path(graph.path).name

    # -- helpers --------------------------------------------------------------
    def fail(self, op: Operator, why: str) -> RenderError:
        return RenderError(f"{self.model_name}: operator {op.name} (op {op.index}) {why}")

    def t(self, i: int) -> Tensor:
        return self.g.tensors[i]

    def act_tensor(self, op: Operator, i: int) -> Tensor:
        t = self.t(i)
        if t.dtype != "INT8":
            raise self.fail(op, f"has a non-int8 tensor '{t.name}' ({t.dtype}); the native runtime is int8 only")
        if t.scale.size != 1 or t.zero_point.size != 1:
            raise self.fail(op, f"tensor '{t.name}' is not per-tensor quantized")
        return t

    def const(self, op: Operator, i: int, what: str) -> Tensor:
        t = self.t(i)
        if not t.is_const:
            raise self.fail(op, f"needs a constant {what}; tensor '{t.name}' is computed at run time")
        return t

    @staticmethod
    def qp(t: Tensor) -> tuple[float, int]:
        return float(t.scale[0]), int(t.zero_point[0])

    def act_range(self, op: Operator, out: Tensor) -> tuple[int, int]:
        act = int(op.options.get("fusedActivationFunction", 0))
        try:
            return quant.activation_range(act, *self.qp(out))
        except ValueError:
            raise self.fail(op, f"has a fused activation ({act}) the native runtime does not support") from None

    def shape4(self, t: Tensor, op: Operator) -> tuple[int, int, int, int]:
        if len(t.shape) != 4 or t.shape[0] != 1:
            raise self.fail(op, f"expects a 4-D tensor with batch 1, '{t.name}' has shape {list(t.shape)}")
        return tuple(t.shape)  # type: ignore[return-value]

    # -- entry ------------------------------------------------------------------
    def lower(self, op: Operator) -> Step:
        if op.name not in SUPPORTED:
            raise RenderError(
                f"{self.model_name}: operator {op.name} (op {op.index}) is not supported by the "
                f"native runtime; supported: {', '.join(SUPPORTED)}"
            )
        return getattr(self, "op_" + op.name.lower())(op)

    # -- operators -----------------------------------------------------------------
    @staticmethod
    def _weight_consts(k: str, f: Tensor, bias, mult, shift) -> list[ConstArray]:
        """The filter, bias and per-channel requantization arrays of op `k`."""
        consts = [ConstArray(f"{k}_filter", "int8_t", np.asarray(f.data, np.int8))]
        if bias is not None:
            consts.append(ConstArray(f"{k}_bias", "int32_t", bias))
        return consts + [ConstArray(f"{k}_mult", "int32_t", np.asarray(mult, np.int64)),
                         ConstArray(f"{k}_shift", "int32_t", np.asarray(shift, np.int64))]

    def _weights(self, op: Operator, fi: int, bi: int, qdim: int, channels: int):
        f = self.const(op, fi, "filter")
        if f.dtype != "INT8":
            raise self.fail(op, f"has a {f.dtype} filter; only int8 filters are supported")
        if f.zero_point.size and np.any(f.zero_point != 0):
            raise self.fail(op, "has a filter with a non-zero zero point")
        if f.scale.size not in (1, channels) or (f.scale.size > 1 and f.quantized_dimension != qdim):
            raise self.fail(op, "has a filter quantization scheme the native runtime does not support")
        bias = None
        if bi >= 0:
            b = self.const(op, bi, "bias")
            if b.dtype != "INT32":
                raise self.fail(op, f"has a {b.dtype} bias; only int32 biases are supported")
            bias = np.asarray(b.data, np.int32).reshape(-1)
        return f, bias

    def _conv_common(self, op: Operator, depthwise: bool) -> Step:
        x = self.act_tensor(op, op.inputs[0])
        y = self.act_tensor(op, op.outputs[0])
        _, ih, iw, ic = self.shape4(x, op)
        _, oh, ow, oc = self.shape4(y, op)
        bi = op.inputs[2] if len(op.inputs) > 2 else -1
        f, bias = self._weights(op, op.inputs[1], bi, 3 if depthwise else 0, oc)
        if depthwise:
            _, kh, kw, fc = f.shape
            if fc != oc or oc % ic:
                raise self.fail(op, f"has inconsistent shapes (filter {list(f.shape)}, input {list(x.shape)})")
        else:
            fo, kh, kw, fic = f.shape
            if fo != oc or fic != ic:
                raise self.fail(op, f"has inconsistent shapes (filter {list(f.shape)}, input {list(x.shape)})")
        o = op.options
        sh, sw = int(o.get("strideH", 1)), int(o.get("strideW", 1))
        dh, dw = int(o.get("dilationHFactor", 1)), int(o.get("dilationWFactor", 1))
        padding = int(o.get("padding", 0))
        if (quant.out_size(padding, ih, kh, sh, dh), quant.out_size(padding, iw, kw, sw, dw)) != (oh, ow):
            raise self.fail(op, "has an output shape that does not follow from its padding and strides")
        ph = quant.compute_padding(sh, dh, ih, kh, oh)
        pw = quant.compute_padding(sw, dw, iw, kw, ow)
        in_s, in_zp = self.qp(x)
        out_s, out_zp = self.qp(y)
        mult, shift = quant.conv_multipliers(in_s, f.scale, out_s, oc)
        lo, hi = self.act_range(op, y)
        k = f"op{op.index}"
        consts = self._weight_consts(k, f, bias, mult, shift)
        params = [
            ("in_h", ih), ("in_w", iw), ("in_c", ic), ("out_h", oh), ("out_w", ow), ("out_c", oc),
            ("k_h", kh), ("k_w", kw), ("stride_h", sh), ("stride_w", sw), ("dil_h", dh), ("dil_w", dw),
            ("pad_h", ph), ("pad_w", pw),
        ]
        if depthwise:
            params.append(("depth_mult", oc // ic))
        params += [
            ("in_offset", -in_zp), ("out_offset", out_zp), ("act_min", lo), ("act_max", hi),
            ("filter", f"{k}_filter"), ("bias", f"{k}_bias" if bias is not None else "0"),
            ("mult", f"{k}_mult"), ("shift", f"{k}_shift"),
        ]
        w = np.asarray(f.data, np.int64)
        b64 = bias.astype(np.int64) if bias is not None else np.zeros(oc, np.int64)
        if depthwise:
            taps = w.reshape(kh * kw, oc)
            fbias = b64 + (-in_zp) * taps.sum(axis=0)
            # |partial sums| with raw int8 inputs, and the true accumulator, must stay < 2^30
            bound = np.abs(fbias) + 128 * np.abs(taps).sum(axis=0)
            bound = np.maximum(bound, np.abs(b64) + 255 * np.abs(taps).sum(axis=0))
            fast = self._fast_level(oc == ic and oc % 4 == 0 and oc <= 1024 and kh * kw <= 25, bound, shift)
            dw3 = self._dw3_record(oc, ic, kh, kw, sh, sw, dh, dw, ow, oh, taps, fbias, mult,
                                   shift, bound, out_zp)
            if dw3 is not None:
                fast = 0  # the 3x3 path alone: the generic fast arrays are left out
            params += [("fast", fast)]
            if fast:
                # per tap, per group of 4 channels: int16 pairs (c, c+2), (c+1, c+3)
                g = taps.reshape(kh * kw, oc // 4, 4)
                w02 = (g[:, :, 0] & 0xFFFF) | ((g[:, :, 2] & 0xFFFF) << 16)
                w13 = (g[:, :, 1] & 0xFFFF) | ((g[:, :, 3] & 0xFFFF) << 16)
                packed = np.stack([w02, w13], axis=2).reshape(kh * kw, oc // 2)
                packed = packed.astype(np.uint32).view(np.int32).astype(np.int64)
                consts += [ConstArray(f"{k}_wpk", "int32_t", packed),
                           ConstArray(f"{k}_fbias", "int32_t", fbias)]
                params += [("wpk", f"{k}_wpk"), ("fbias", f"{k}_fbias")]
                params += self._rq_arrays(k, consts, shift, bound)
            else:
                params += [("wpk", "0"), ("fbias", "0"), ("rq_shift", "0"), ("rq_add", "0")]
            if dw3 is not None:
                consts.append(ConstArray(f"{k}_dw3", "int32_t", dw3))
            params += [("dw3", f"{k}_dw3" if dw3 is not None else "0")]
        else:
            kk = kh * kw * ic
            rows = w.reshape(oc, kk)
            fbias = b64 + (-in_zp) * rows.sum(axis=1)
            bound = np.abs(fbias) + 128 * np.abs(rows).sum(axis=1)
            bound = np.maximum(bound, np.abs(b64) + 255 * np.abs(rows).sum(axis=1))
            kpad = conv_kpad(kh, kw, ic)
            direct = direct_conv({**dict(params), "kpad": kpad})
            # channels whose output is one value whatever the input (dead channels: all or
            # nearly all weights zero, a large bias) take the fast requantization with mult 0:
            # (rnd + 0) >> 1 is their value less the output offset, the sum kept >= 0
            const, const_value = self._constant_channels(rows, fbias, mult, shift, out_zp, lo, hi)
            absw = np.abs(rows).sum(axis=1)
            bound = np.where(const, 256 * absw, bound)
            shift = [-1 if c else s for c, s in zip(const, shift)]
            fast = self._fast_level(dh == 1 and dw == 1, bound, shift)
            zero_shift = fast == 2 and self._channel_fast(bound, shift, zero_shift=True).all()
            fast = 3 if zero_shift else fast
            scratch = conv_scratch_bytes(kpad, direct) if fast else 0
            first = None
            if fast == 1 and conv_first_shape(kh, kw, sh, sw, dh, dw, ic):
                # vad_conv_first.c: the output offset folded into the rounding term (exact
                # while it stays below 2^30), no scratch
                e = self._rq_shifts(shift, bound)
                rz = np.where(const, 2 * (const_value - out_zp), 1 << np.maximum(e - 1, 0)) + out_zp * (1 << e)
                if np.max(np.abs(rz)) < 2**30:
                    first, fast, scratch = conv_first_filter(rows, ic), CONV_FIRST, 0
            params += [("fast", fast), ("kpad", kpad)]
            if fast:
                # the reference loops alone read the filter, bias and multipliers
                ref_only = {f"{k}_filter", f"{k}_bias", f"{k}_mult"}
                for c in consts:
                    c.only = "ref" if c.name in ref_only else c.only
                params = [(n, f"VAD_REF_ONLY({v})" if v in ref_only else v) for n, v in params]
                words = first if first is not None else self._conv_fast_filter(rows, kpad, self.wide_weights)
                consts.append(ConstArray(f"{k}_wfast", "int32_t", words))
                e = self._rq_shifts(shift, bound, zero_shift)
                rnd = np.where(e > 0, 1 << np.maximum(e - 1, 0), 0)
                rnd = np.where(const, 2 * (const_value - out_zp), rnd)
                if zero_shift:  # rq_fast() in vad_conv_fast.c: bit 31 marks the channels e >= 1
                    e = np.where(e > 0, e - 2**32 + 2**31, 0)
                rq = np.stack([np.where(const, 128 * absw, fbias),
                               np.where(const, 0, np.asarray(mult, np.int64)), e, rnd], axis=1)
                if first is not None:  # vad_conv_first.c: doubled bias, mult, rnd + z 2^e, e
                    rq = np.stack([2 * rq[:, 0], rq[:, 1], rq[:, 3] + out_zp * (1 << e), e], axis=1)
                consts.append(ConstArray(f"{k}_rq", "int32_t", rq))
                params += [("wfast16", int(self.wide_weights and first is None)), ("wfast", f"{k}_wfast"),
                           ("rq", f"{k}_rq")]
                if direct and fast == 1 and lo == -128 and hi == 127 and fold_ok(e, rnd, out_zp):
                    # the blocks-of-6 records, which codegen keeps instead of wfast and rq where
                    # the blocks of 6 fit (codegen._choose_rec6)
                    w16 = self.wide_weights or rec6_wide(oc, kpad)
                    consts.append(ConstArray(f"{k}_rec6", "int32_t",
                                             self._conv_rec6_records(rows, kpad, rq, out_zp, w16)))
                if (direct and fast == 1 and lo == -128 and hi == 127 and kpad in PX1_K
                        and fold_ok(e, rnd, out_zp)):
                    # the px1 records, which codegen keeps instead of wfast and rq where the
                    # blocks of 6 do not fit (codegen._choose_px1)
                    consts.append(ConstArray(f"{k}_px1", "int32_t", self._conv_px1_records(rows, rq, out_zp)))
            else:
                params += [("wfast16", 0), ("wfast", "0"), ("rq", "0")]
            # codegen: the planned scratch and the px1 choice
            params += [("scratch", "0"), ("blocks4", 0), ("blocks6", 0), ("px1", 0)]
        macs = oh * ow * oc * kh * kw * (1 if depthwise else ic)
        if depthwise:
            return Step(op, "vad_dwconv2d_s8", "vad_dwconv_params_t", params, [x.index], [y.index], consts, macs)
        kernel = "vad_conv_first_s8" if fast == CONV_FIRST else "vad_conv2d_s8"
        return Step(op, kernel, "vad_conv_params_t", params, [x.index], [y.index], consts, macs,
                    scratch=scratch)

    def _dw3_record(self, oc, ic, kh, kw, sh, sw, dh, dw, ow, oh, taps, fbias, mult, shift,
                    bound, out_zp) -> np.ndarray | None:
        """The per-channel records of the 3x3 depthwise path (vad_dw3_fast.c, layout there), or
        None where it does not apply: 3x3, stride 1 or 2 both ways, no dilation, depth
        multiplier 1, an output row of DW3_MIN_W[stride] pixels or more within
        VAD_DW3_MAX_WORDS (or of DW3_TINY_W pixels, DW3_TINY_H[stride] rows at most), every channel exact with the fast requantization (|acc| < 2^30,
        right shift >= 1) and the output offset folded into the rounding term without
        overflow."""
        if oc != ic or not dw3_shape(kh, kw, sh, sw, dh, dw, ow, 1, oh):
            return None
        if not self._channel_fast(bound, shift).all() or np.max(bound) >= 2**30:
            return None
        e = -np.asarray(shift, np.int64)
        rnd = (1 << (e - 1)) + out_zp * (1 << e)
        if np.max(np.abs(rnd)) >= 2**30:
            return None
        w2 = 2 * taps.reshape(3, 3, oc)  # [row][col][channel], doubled

        def pair(lo, hi):
            return (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)

        rec = np.stack([2 * fbias, pair(w2[0, 0], w2[0, 1]), pair(w2[1, 0], w2[1, 1]),
                        pair(w2[2, 0], w2[2, 1]), pair(w2[0, 2], w2[1, 2]), pair(e, w2[2, 2]),
                        np.asarray(mult, np.int64), rnd, e], axis=1)
        assert rec.shape[1] == DW3_REC
        return (rec & 0xFFFFFFFF).astype(np.uint32).view(np.int32).astype(np.int64)

    @staticmethod
    def _conv_px1_records(rows: np.ndarray, rq: np.ndarray, out_zp: int) -> np.ndarray:
        """The per-channel records of a px1 layer (conv_px1 in vad_conv_fast.c), kpad/2 + 4
        words each: the doubled bias; the filter doubled (int8 doubled fits int16) as int16
        pairs, per group of 4 values (0, 2) then (1, 3), the order SXTB16 and SXTB16 ROR #8
        give the input word, so the sum is 2 acc (what SMMLAR takes); then mult, e and
        rnd + z 2^e (the output offset folded in: fold_ok)."""
        oc, kk = rows.shape
        groups = (2 * rows).reshape(oc, kk // 4, 4)[:, :, [0, 2, 1, 3]].reshape(oc, kk // 4, 2, 2) & 0xFFFF
        words = (groups[..., 0] | (groups[..., 1] << 16)).reshape(oc, kk // 2)
        rq = np.asarray(rq, np.int64)
        e = rq[:, 2]
        rec = np.concatenate([2 * rq[:, :1], words, rq[:, 1:3], (rq[:, 3] + out_zp * np.left_shift(1, e))[:, None]],
                             axis=1)
        return (rec & 0xFFFFFFFF).astype(np.uint32).view(np.int32).astype(np.int64)

    @staticmethod
    def _conv_rec6_records(rows: np.ndarray, kpad: int, rq: np.ndarray, out_zp: int, wide: bool) -> np.ndarray:
        """The per-channel records of a layer run in blocks of 6 pixels (rec6 in
        vad_conv_fast.c), read in one pass: the doubled bias (the sum is 2 acc, what SMMLAR
        takes); the channel's filter, per group of 4 values one int8 word (the blocks' columns
        doubled) or (wide) two words of int16 pairs (0, 2) (1, 3), the order SXTB16 and SXTB16
        ROR #8 give the input word, doubled; then mult, e and rnd + z 2^e (the output offset
        folded in: fold_ok), bit 31 of the last channel's e set (the kernel's end mark).
        kpad/4 (int8) or kpad/2 (wide) + 4 words each."""
        oc, kk = rows.shape
        padded = np.zeros((oc, kpad), np.int64)
        padded[:, :kk] = rows
        groups = padded.reshape(oc, kpad // 4, 4)
        if wide:  # doubled (int8 doubled fits int16): the columns are not
            halves = (2 * groups)[:, :, [0, 2, 1, 3]].reshape(oc, kpad // 4, 2, 2) & 0xFFFF
            words = (halves[..., 0] | (halves[..., 1] << 16)).reshape(oc, kpad // 2)
        else:  # the columns are doubled
            b = groups & 0xFF
            words = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16) | (b[..., 3] << 24)
        rq = np.asarray(rq, np.int64)
        e = rq[:, 2]
        rec = np.concatenate([2 * rq[:, :1], words, rq[:, 1:3], (rq[:, 3] + out_zp * np.left_shift(1, e))[:, None]],
                             axis=1)
        rec[-1, -2] |= 1 << 31  # the end mark: bit 31 of the last channel's e (ASR reads its low byte)
        return (rec & 0xFFFFFFFF).astype(np.uint32).view(np.int32).astype(np.int64)

    @staticmethod
    def _conv_fast_filter(rows: np.ndarray, kpad: int, wide: bool) -> np.ndarray:
        """The [out_c][kk] filter as the int32 words gemm_2cols() reads (vad_conv_params_t.wfast):
        zero padded to kpad, channel pairs interleaved per group of 4 values, an odd last
        channel alone. wide: each group reordered (0, 2, 1, 3), the order SXTB16 and SXTB16
        ROR #8 give the input word, as two int16 per word (low half first); else the 4 int8
        values of the group as one little-endian word."""
        oc, kk = rows.shape
        padded = np.zeros((oc, kpad), np.int64)
        padded[:, :kk] = rows
        groups = padded.reshape(oc, kpad // 4, 4)
        if wide:
            halves = groups[:, :, [0, 2, 1, 3]].reshape(oc, kpad // 4, 2, 2) & 0xFFFF
            words = halves[..., 0] | (halves[..., 1] << 16)  # [oc][group][2]
        else:
            b = groups & 0xFF
            words = (b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16) | (b[..., 3] << 24))[..., None]
        per = words.shape[2]
        pairs = oc // 2
        blocks = words[: 2 * pairs].reshape(pairs, 2, kpad // 4, per).transpose(0, 2, 1, 3)
        flat = np.concatenate([blocks.reshape(-1), words[2 * pairs :].reshape(-1)])
        return flat.astype(np.uint32).view(np.int32).astype(np.int64)

    def _constant_channels(self, rows, fbias, mult, shift, out_zp: int, lo: int, hi: int):
        """(mask, value) of the CONV_2D output channels TFLM computes as one value for every
        input: MultiplyByQuantizedMultiplier is monotonic in the sum, so it is the value at both
        ends of the sum's range (fbias + weights times inputs in -128..127)."""
        neg = np.minimum(rows * -128, rows * 127).sum(axis=1) + fbias
        pos = np.maximum(rows * -128, rows * 127).sum(axis=1) + fbias
        mask = np.zeros(len(fbias), bool)
        value = np.zeros(len(fbias), np.int64)
        if self.single_rounding:
            return mask, value
        for c in range(len(fbias)):
            if max(abs(int(neg[c])), abs(int(pos[c]))) >= 2**31:
                continue
            a, b = (min(max(quant.mbqm(int(v), int(mult[c]), int(shift[c])) + out_zp, lo), hi)
                    for v in (neg[c], pos[c]))
            mask[c], value[c] = a == b, a
        return mask, value

    def _channel_fast(self, bound, shift, zero_shift: bool = False) -> np.ndarray:
        """Channels whose requantization the fast path reproduces exactly: accumulators
        provably below 2^30 and a right shift of 1..31 (double rounding only); zero_shift: also
        a shift of 0 (the CONV_2D fast path's fast == 3 layers)."""
        lo = 0 if zero_shift else 1
        return np.array([b < 2**30 and lo <= -s <= 31 and not self.single_rounding
                         for b, s in zip(np.broadcast_to(bound, (len(shift),)), shift)])

    def _fast_level(self, shape_ok: bool, bound, shift) -> int:
        """0: reference loops; 1: fast path, every channel fast; 2: fast path, some channels
        requantized by the generic MultiplyByQuantizedMultiplier (CONV_2D: 3 when those
        channels all have TFLM shift 0 and bounded sums, see rq_fast in vad_conv_fast.c)."""
        if not shape_ok or np.max(bound) >= 2**31:
            return 0
        return 1 if self._channel_fast(bound, shift).all() else 2

    def _rq_shifts(self, shift: list[int], bound, zero_shift: bool = False) -> np.ndarray:
        """Per-channel right shift e of the fast requantization, 0 = generic path (or, with
        zero_shift, TFLM's shift 0)."""
        return np.where(self._channel_fast(bound, shift, zero_shift), -np.asarray(shift, np.int64), 0)

    def _rq_arrays(self, k: str, consts: list, shift: list[int], bound):
        """Per-channel right shift e (0 = generic path) and rounding 2^(e-1)."""
        e = self._rq_shifts(shift, bound)
        consts += [ConstArray(f"{k}_rq_shift", "int32_t", e),
                   ConstArray(f"{k}_rq_add", "int32_t", np.where(e > 0, 1 << np.maximum(e - 1, 0), 0))]
        return [("rq_shift", f"{k}_rq_shift"), ("rq_add", f"{k}_rq_add")]

    def op_conv_2d(self, op: Operator) -> Step:
        return self._conv_common(op, depthwise=False)

    def op_depthwise_conv_2d(self, op: Operator) -> Step:
        return self._conv_common(op, depthwise=True)

    def op_fully_connected(self, op: Operator) -> Step:
        x = self.act_tensor(op, op.inputs[0])
        y = self.act_tensor(op, op.outputs[0])
        if int(op.options.get("weightsFormat", 0)) != 0:
            raise self.fail(op, "uses shuffled weights, which the native runtime does not support")
        bi = op.inputs[2] if len(op.inputs) > 2 else -1
        fw = self.t(op.inputs[1])
        out_depth = fw.shape[0] if fw.shape else 0
        f, bias = self._weights(op, op.inputs[1], bi, 0, out_depth)
        out_depth, in_depth = f.shape
        if x.size % in_depth:
            raise self.fail(op, f"input size {x.size} is not a multiple of the filter depth {in_depth}")
        batches = x.size // in_depth
        in_s, in_zp = self.qp(x)
        out_s, out_zp = self.qp(y)
        per_channel = f.scale.size > 1
        if per_channel:
            mult, shift = quant.conv_multipliers(in_s, f.scale, out_s, out_depth)
        else:
            m, s = quant.fc_per_tensor_multiplier(in_s, f.scale[0], out_s)
            mult, shift = [m], [s]
        lo, hi = self.act_range(op, y)
        k = f"op{op.index}"
        consts = self._weight_consts(k, f, bias, mult, shift)
        params = [
            ("batches", batches), ("in_depth", in_depth), ("out_depth", out_depth),
            ("in_offset", -in_zp), ("filter_offset", 0), ("out_offset", out_zp),
            ("act_min", lo), ("act_max", hi), ("per_channel", int(per_channel)),
            ("filter", f"{k}_filter"), ("bias", f"{k}_bias" if bias is not None else "0"),
            ("mult", f"{k}_mult"), ("shift", f"{k}_shift"),
        ]
        return Step(op, "vad_fully_connected_s8", "vad_fc_params_t", params, [x.index], [y.index],
                    consts, batches * out_depth * in_depth)

    def _broadcast(self, op: Operator, a: Tensor, b: Tensor, y: Tensor):
        def pad4(shape):
            shape = list(shape)
            if len(shape) > 4:
                raise self.fail(op, f"has a tensor of rank {len(shape)}; at most 4 is supported")
            return [1] * (4 - len(shape)) + shape

        sa, sb, so = pad4(a.shape), pad4(b.shape), pad4(y.shape)
        for d in range(4):
            if so[d] != max(sa[d], sb[d]) or sa[d] not in (1, so[d]) or sb[d] not in (1, so[d]):
                raise self.fail(op, f"has shapes {list(a.shape)} and {list(b.shape)} that do not broadcast to {list(y.shape)}")

        def strides(s):
            st, acc = [0] * 4, 1
            for d in (3, 2, 1, 0):
                st[d] = acc if s[d] > 1 else 0
                acc *= s[d]
            return st

        return so, strides(sa), strides(sb)

    def _binary(self, op: Operator, is_add: bool) -> Step:
        a = self.act_tensor(op, op.inputs[0])
        b = self.act_tensor(op, op.inputs[1])
        y = self.act_tensor(op, op.outputs[0])
        shape, st1, st2 = self._broadcast(op, a, b, y)
        (s1, z1), (s2, z2), (so, zo) = self.qp(a), self.qp(b), self.qp(y)
        lo, hi = self.act_range(op, y)
        if is_add:
            (m1, sh1), (m2, sh2), (mo, sho) = quant.add_params(s1, s2, so)
            extra = [("left_shift", 20), ("in1_mult", m1), ("in1_shift", sh1), ("in2_mult", m2),
                     ("in2_shift", sh2), ("out_mult", mo), ("out_shift", sho)]
        else:
            mo, sho = quant.mul_multiplier(s1, s2, so)
            extra = [("left_shift", 0), ("in1_mult", 0), ("in1_shift", 0), ("in2_mult", 0),
                     ("in2_shift", 0), ("out_mult", mo), ("out_shift", sho)]
        params = [("shape", "{%s}" % ", ".join(map(str, shape))),
                  ("stride1", "{%s}" % ", ".join(map(str, st1))),
                  ("stride2", "{%s}" % ", ".join(map(str, st2))),
                  ("in1_offset", -z1), ("in2_offset", -z2), ("out_offset", zo)] + extra + [
                  ("act_min", lo), ("act_max", hi)]
        consts = []
        for t in (a, b):
            if t.is_const:
                consts.append(ConstArray(f"t{t.index}_const", "int8_t", np.asarray(t.data, np.int8)))
        kernel = "vad_add_s8" if is_add else "vad_mul_s8"
        return Step(op, kernel, "vad_binary_params_t", params, [a.index, b.index], [y.index], consts)

    def op_add(self, op: Operator) -> Step:
        return self._binary(op, True)

    def op_mul(self, op: Operator) -> Step:
        return self._binary(op, False)

    def op_average_pool_2d(self, op: Operator) -> Step:
        x = self.act_tensor(op, op.inputs[0])
        y = self.act_tensor(op, op.outputs[0])
        _, ih, iw, c = self.shape4(x, op)
        _, oh, ow, oc = self.shape4(y, op)
        o = op.options
        kh, kw = int(o.get("filterHeight", 1)), int(o.get("filterWidth", 1))
        sh, sw = int(o.get("strideH", 1)), int(o.get("strideW", 1))
        padding = int(o.get("padding", 0))
        if oc != c or (quant.out_size(padding, ih, kh, sh), quant.out_size(padding, iw, kw, sw)) != (oh, ow):
            raise self.fail(op, "has an output shape that does not follow from its padding and strides")
        if self.qp(x) != self.qp(y):
            raise self.fail(op, "has different input and output quantization, which TFLM does not support")
        lo, hi = self.act_range(op, y)
        params = [("in_h", ih), ("in_w", iw), ("c", c), ("out_h", oh), ("out_w", ow), ("k_h", kh),
                  ("k_w", kw), ("stride_h", sh), ("stride_w", sw),
                  ("pad_h", quant.compute_padding(sh, 1, ih, kh, oh)),
                  ("pad_w", quant.compute_padding(sw, 1, iw, kw, ow)), ("act_min", lo), ("act_max", hi)]
        return Step(op, "vad_avgpool_s8", "vad_pool_params_t", params, [x.index], [y.index])

    def op_mean(self, op: Operator) -> Step:
        x = self.act_tensor(op, op.inputs[0])
        y = self.act_tensor(op, op.outputs[0])
        axis = self.const(op, op.inputs[1], "axis")
        axes = sorted({int(a) % max(len(x.shape), 1) for a in np.asarray(axis.data).reshape(-1)})
        if len(x.shape) != 4 or x.shape[0] != 1 or axes != [1, 2]:
            raise self.fail(op, f"reduces axes {axes} of shape {list(x.shape)}; only the mean over H and W of a 4-D tensor is supported")
        _, h, w, c = x.shape
        if y.size != c:
            raise self.fail(op, f"has output shape {list(y.shape)}, expected {c} elements")
        (si, zi), (so, zo) = self.qp(x), self.qp(y)
        mult, shift = quant.mean_multiplier(si, so, h * w)
        params = [("h", h), ("w", w), ("c", c), ("sum_offset", -zi * h * w), ("mult", mult),
                  ("shift", shift), ("out_zp", zo)]
        return Step(op, "vad_mean_hw_s8", "vad_mean_params_t", params, [x.index], [y.index])

    def op_softmax(self, op: Operator) -> Step:
        x = self.act_tensor(op, op.inputs[0])
        y = self.act_tensor(op, op.outputs[0])
        if self.qp(y) != (1.0 / 256.0, -128):
            raise self.fail(op, f"has output quantization {self.qp(y)}; TFLM requires scale 1/256, zero point -128")
        depth = x.shape[-1]
        mult, left_shift, diff_min = quant.softmax_params(
            float(op.options.get("beta", 1.0)), self.qp(x)[0], self.single_rounding
        )
        params = [("outer", x.size // depth), ("depth", depth), ("input_multiplier", mult),
                  ("input_left_shift", left_shift), ("diff_min", diff_min)]
        return Step(op, "vad_softmax_s8", "vad_softmax_params_t", params, [x.index], [y.index])

    def op_pad(self, op: Operator) -> Step:
        x = self.act_tensor(op, op.inputs[0])
        y = self.act_tensor(op, op.outputs[0])
        pads = np.asarray(self.const(op, op.inputs[1], "paddings").data).reshape(-1, 2)
        if len(x.shape) > 4:
            raise self.fail(op, "pads a tensor of rank > 4")
        lead = 4 - len(x.shape)
        in4 = [1] * lead + list(x.shape)
        out4 = [1] * lead + list(y.shape)
        before = [0] * lead + [int(p) for p in pads[:, 0]]
        if self.qp(x) != self.qp(y):
            raise self.fail(op, "has different input and output quantization")
        value = self.qp(y)[1]
        if op.name == "PADV2" and len(op.inputs) > 2:
            value = int(np.asarray(self.const(op, op.inputs[2], "pad value").data).reshape(-1)[0])
        params = [("in_shape", "{%s}" % ", ".join(map(str, in4))),
                  ("out_shape", "{%s}" % ", ".join(map(str, out4))),
                  ("before", "{%s}" % ", ".join(map(str, before))), ("pad_value", value)]
        return Step(op, "vad_pad_s8", "vad_pad_params_t", params, [x.index], [y.index])

    op_padv2 = op_pad

    def op_quantize(self, op: Operator) -> Step:
        x = self.act_tensor(op, op.inputs[0])
        y = self.act_tensor(op, op.outputs[0])
        (si, zi), (so, zo) = self.qp(x), self.qp(y)
        m, s = quant.quantize_multiplier(quant.f32(si) / quant.f32(so))
        params = [("size", x.size), ("in_zp", zi), ("out_zp", zo), ("mult", m), ("shift", s)]
        return Step(op, "vad_requantize_s8", "vad_requant_params_t", params, [x.index], [y.index])

    def _alias(self, op: Operator) -> Step:
        x = self.act_tensor(op, op.inputs[0])
        y = self.act_tensor(op, op.outputs[0])
        if x.size != y.size or self.qp(x) != self.qp(y):
            raise self.fail(op, "changes the size or quantization of its tensor")
        return Step(op, "", "", [], [x.index], [y.index], alias=True)

    op_reshape = _alias
    op_squeeze = _alias

    def op_concatenation(self, op: Operator) -> Step:
        """TFLM's int8 CONCATENATION copies bytes: per outer index (the dimensions before the
        axis), each input's slice of axis size x inner elements, in input order."""
        y = self.act_tensor(op, op.outputs[0])
        act = int(op.options.get("fusedActivationFunction", 0))
        if act != 0:
            raise self.fail(op, f"has the fused activation {ACTIVATION_NAMES.get(act, act)}; "
                                "TFLM's CONCATENATION only supports NONE")
        if not 1 <= len(op.inputs) <= CONCAT_MAX_INPUTS:
            raise self.fail(op, f"has {len(op.inputs)} inputs; TFLM's CONCATENATION takes 1 to "
                                f"{CONCAT_MAX_INPUTS}")
        rank = len(y.shape)
        if not 1 <= rank <= 4:
            raise self.fail(op, f"has an output of rank {rank}; TFLM's CONCATENATION supports ranks 1 to 4")
        axis = int(op.options.get("axis", 0))
        axis = axis + rank if axis < 0 else axis
        if not 0 <= axis < rank:
            raise self.fail(op, f"has axis {op.options.get('axis')} outside the output's rank {rank}")
        xs = [self.act_tensor(op, i) for i in op.inputs]
        for x in xs:
            if len(x.shape) != rank or any(x.shape[d] != y.shape[d] for d in range(rank) if d != axis):
                raise self.fail(op, f"input '{x.name}' has shape {list(x.shape)}, which does not "
                                    f"concatenate along axis {axis} to {list(y.shape)}")
            self._same_quantization(op, x, y)
        if sum(x.shape[axis] for x in xs) != y.shape[axis]:
            raise self.fail(op, f"has inputs of {[x.shape[axis] for x in xs]} along axis {axis}, "
                                f"which do not add up to the output's {y.shape[axis]}")
        outer = int(np.prod(y.shape[:axis], dtype=np.int64))
        inner = int(np.prod(y.shape[axis + 1 :], dtype=np.int64))
        sizes = [x.shape[axis] * inner for x in xs] + [0] * (CONCAT_MAX_INPUTS - len(xs))
        params = [("num_inputs", len(xs)), ("outer", outer),
                  ("copy_size", "{" + ", ".join(map(str, sizes)) + "}")]
        consts = [ConstArray(f"t{x.index}_const", "int8_t", np.asarray(x.data, np.int8))
                  for x in xs if x.is_const]
        return Step(op, "vad_concat_s8", "vad_concat_params_t", params, [x.index for x in xs],
                    [y.index], consts, input_list=True)

    def _same_quantization(self, op: Operator, x: Tensor, y: Tensor) -> None:
        """TFLM copies int8 concatenation inputs unchanged (no requantization), so an input
        whose scale or zero point differs from the output's would come out wrong: refuse it."""
        if np.float32(x.scale[0]) != np.float32(y.scale[0]) or int(x.zero_point[0]) != int(y.zero_point[0]):
            (xs, xz), (ys, yz) = self.qp(x), self.qp(y)
            raise self.fail(
                op, f"input '{x.name}' has scale {xs:.9g} and zero point {xz}, but its output "
                    f"'{y.name}' has scale {ys:.9g} and zero point {yz}; int8 CONCATENATION copies "
                    "bytes, so every input needs the output's quantization (the TFLite converter "
                    "inserts QUANTIZE ops for this: re-convert the model)")
