"""MobileNet layer names, their strides and the input scalings, without TensorFlow: the
recipe schema checks a recipe's layers and the models compute their grids from the same
tables.
"""

from __future__ import annotations

import re

from ..errors import ModelError

ARCHS = ("mobilenet_v2", "mobilenet_v1")
# Widths Keras builds for each architecture (its ImageNet weights exist for these).
ALPHAS = {"mobilenet_v2": (0.35, 0.5, 0.75, 1.0, 1.3, 1.4), "mobilenet_v1": (0.25, 0.5, 0.75, 1.0)}
# Input scaling after the Rescaling layer: unit = [0, 1], symmetric = [-1, 1].
SCALES = {"unit": (1 / 255.0, 0.0), "symmetric": (1 / 127.5, -1.0)}
_V2_BLOCKS = 16  # block_1 .. block_16
_V1_CONVS = 13  # conv_dw_1 .. conv_dw_13

# Layers that halve the resolution: MobileNetV2 blocks whose depthwise convolution has stride
# 2 (a block's "expand" layers come before it, at the block's input stride), MobileNetV1
# depthwise layers with stride 2; both begin with a stride-2 convolution.
_V2_STRIDE2_BLOCKS = (1, 3, 6, 13)
_V1_STRIDE2_DW = (2, 4, 6, 12)


def layer_stride(spec, layer: str | None) -> int:
    """Input pixels per output pixel at a layer of spec.arch (None: the whole network, 32);
    ModelError for a layer the network does not have."""
    if layer is None or layer in ("Conv_1", "Conv_1_bn", "out_relu", "conv_pw_13", "conv_pw_13_bn",
                                  "conv_pw_13_relu"):
        return 32
    if spec.arch == "mobilenet_v2":
        m = re.fullmatch(r"block_(\d+)_(expand|expand_BN|expand_relu|pad|depthwise|depthwise_BN|"
                         r"depthwise_relu|project|project_BN|add)", layer)
        if m and 1 <= int(m.group(1)) <= _V2_BLOCKS:
            block, part = int(m.group(1)), m.group(2)
            before = sum(b < block for b in _V2_STRIDE2_BLOCKS)
            after = before + (block in _V2_STRIDE2_BLOCKS and not part.startswith(("expand", "pad")))
            return 2 * 2 ** after
        if layer.startswith(("Conv1", "bn_Conv1", "expanded_conv")):
            return 2
    elif spec.arch == "mobilenet_v1":
        m = re.fullmatch(r"conv_(dw|pw|pad)_(\d+)(_bn|_relu)?", layer)
        if m and 1 <= int(m.group(2)) <= _V1_CONVS:
            kind, n = m.group(1), int(m.group(2))
            passed = sum(d < n or (d == n and kind != "pad") for d in _V1_STRIDE2_DW)
            return 2 * 2 ** passed
        if layer.startswith("conv1"):
            return 2
    raise ModelError(f"{spec.arch} has no layer {layer!r} vadtool knows the stride of; "
                     "cut at a block_N_... (v2) or conv_pw_N_relu (v1) layer")
