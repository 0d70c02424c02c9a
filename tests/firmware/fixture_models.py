"""Build the fixture int8 models the way vadtool's quantize stage does.

Used by conftest.py (session-scoped, cached) and by bench/native_ops.py.
"""

from __future__ import annotations

import glob
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

WEIGHTS = "/work/shared/weights"
DATA = "/work/shared/data"


def real_images(size: int, n: int, seed: int = 0) -> np.ndarray:
    """Up to n real training images resized to size x size, uint8 (N,S,S,3); empty if none."""
    from PIL import Image

    paths = sorted(glob.glob(os.path.join(DATA, "*", "train", "good", "*.png")))
    if not paths:
        return np.zeros((0, size, size, 3), np.uint8)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(paths), size=min(n, len(paths)), replace=False)
    out = []
    for i in pick:
        im = Image.open(paths[i]).convert("RGB").resize((size, size), Image.BILINEAR)
        out.append(np.asarray(im, np.uint8))
    return np.stack(out)


def calibration_images(size: int, n: int = 16, seed: int = 0) -> np.ndarray:
    imgs = real_images(size, n, seed)
    if len(imgs) < n:
        rng = np.random.default_rng(seed)
        extra = rng.integers(0, 256, (n - len(imgs), size, size, 3), dtype=np.uint8)
        imgs = np.concatenate([imgs, extra]) if len(imgs) else extra
    imgs = imgs.copy()
    imgs[0, 0, 0, 0] = 0
    imgs[0, 0, 0, 1] = 255
    return imgs


def _backbone(size: int, alpha: float):
    import keras

    base = keras.applications.MobileNetV2(
        alpha=alpha, include_top=False, weights=None, input_shape=(size, size, 3)
    )
    if alpha == 0.35:
        cut = keras.Model(base.input, base.get_layer("block_6_expand_relu").output)
        cut.load_weights(os.path.join(WEIGHTS, "mobilenet_v2_0.35_block_6_expand_relu_bnfolded.weights.h5"))
        scale, offset = 1.0 / 255.0, 0.0
    else:
        base.load_weights(os.path.join(WEIGHTS, "mobilenet_v2_1.0_imagenet_no_top.weights.h5"))
        cut = keras.Model(base.input, base.get_layer("block_6_expand_relu").output)
        scale, offset = 1.0 / 127.5, -1.0
    inp = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(scale, offset)(inp)
    x = cut(x)
    x = keras.layers.AveragePooling2D(3, strides=2, padding="same")(x)
    return keras.Model(inp, x)


def _classifier(size: int, seed: int = 0):
    """MobileNet v1 0.25 (ImageNet weights when present) + GAP + Dense(2, softmax)."""
    import keras

    keras.utils.set_random_seed(seed)
    base = keras.applications.MobileNet(
        alpha=0.25, include_top=False, weights=None, input_shape=(size, size, 3)
    )
    wpath = os.path.join(WEIGHTS, "mobilenet_v1_0.25_224_imagenet.h5")
    if os.path.exists(wpath):
        full = keras.applications.MobileNet(alpha=0.25, weights=None)
        full.load_weights(wpath)
        names = {layer.name for layer in full.layers}
        for layer in base.layers:
            if layer.name in names and layer.get_weights():
                layer.set_weights(full.get_layer(layer.name).get_weights())
    inp = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1.0 / 127.5, -1.0)(inp)
    x = base(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(
        2, activation="softmax", kernel_initializer=keras.initializers.RandomNormal(stddev=0.3)
    )(x)
    return keras.Model(inp, x)


def _hard_swish(size: int):
    import keras

    inp = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1.0 / 255.0)(inp)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = keras.layers.Activation("hard_swish")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, x)


def _zoo(size: int, seed: int):
    """Every operator and kernel variant in one chain: explicit PAD, strided 5x5 conv on 3
    channels, valid 3x3 conv on 5 channels (K not a multiple of 4), 1x1 conv on 6 channels
    (im2col path), odd channel counts, strided and 5x5 depthwise, ADD, depth multiplier 2,
    average pool, MEAN with and without kept dims,
    FULLY_CONNECTED, 10-way SOFTMAX."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input((size, size, 3))
    x = L.Rescaling(1.0 / 255.0)(inp)
    x = L.ZeroPadding2D(((1, 2), (2, 1)))(x)
    x = L.Conv2D(5, 5, strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(7, 3, padding="valid", activation="relu")(x)
    x = L.Conv2D(6, 1)(x)
    x = L.Conv2D(12, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    y = L.DepthwiseConv2D(5, padding="same")(x)
    x = L.Add()([x, y])
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    x = L.Conv2D(9, 3, padding="same", activation="relu")(x)
    x = L.AveragePooling2D(2, padding="valid")(x)
    x = L.GlobalAveragePooling2D(keepdims=True)(x)
    x = L.Conv2D(16, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(10, activation="softmax", kernel_initializer=keras.initializers.RandomNormal(stddev=4.0))(x)
    return keras.Model(inp, x)


def _concat(size: int, seed: int = 0):
    """Branches joined by CONCATENATION: two conv branches stacked along H (axis 1) into a
    strided conv, then three branches of different depths joined on channels as the model
    output, one of them pooled from a tensor that has to stay alive across the others."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input((size, size, 3))
    x = L.Rescaling(1.0 / 255.0)(inp)
    c1 = L.Conv2D(5, 3, strides=2, padding="same", activation="relu")(x)
    c2 = L.Conv2D(5, 1, strides=2)(x)
    h = L.Concatenate(axis=1)([c1, c2])
    y = L.Conv2D(8, 3, strides=(2, 1), padding="same", activation="relu")(h)
    p1 = L.AveragePooling2D(2, padding="same")(y)
    p2 = L.Conv2D(3, 3, strides=2, padding="same")(y)
    p3 = L.AveragePooling2D(2, padding="same")(c1)
    return keras.Model(inp, L.Concatenate()([p1, p2, p3]))


def _wide_k(size: int, seed: int = 0):
    """Convolutions with K = k_h*k_w*in_c above the old 512-byte limit of the fast path, every
    CONV_2D fast-path form: im2col 3x3 on 64 channels (K 576), im2col 1x1 on 578 channels
    (K not a multiple of 4, kpad 580), direct 1x1 on 576 channels (FOMO-AD's block_13_expand)
    and on 1040, strided 1x1 (im2col) on 1040. 5x5 and 3x3 maps: odd pixel counts."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input((size, size, 3))
    x = L.Rescaling(1.0 / 255.0)(inp)
    x = L.Conv2D(64, 3, strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(40, 3, padding="same", activation="relu")(x)
    x = L.Conv2D(578, 1, activation="relu6")(x)
    x = L.Conv2D(40, 1, activation="relu")(x)
    x = L.Conv2D(576, 1, activation="relu6")(x)
    x = L.Conv2D(48, 1, activation="relu")(x)
    x = L.Conv2D(1040, 1, activation="relu6")(x)
    a = L.Conv2D(24, 1)(x)
    b = L.Conv2D(24, 1, strides=2)(x)
    a = L.AveragePooling2D(2, padding="same")(a)
    return keras.Model(inp, L.Add()([a, b]))


def _conv_paths(size: int, channels: int, seed: int = 0):
    """Every CONV_2D fast-path form on a 1-channel (grayscale) or 3-channel input: strided 3x3
    first convolution with padding (K 9 or 27), direct 1x1 on 8 and 16 channels, odd output
    channel counts (the lone last channel), 1x1 on 21 channels (im2col, kpad 24), 3x3 on 19
    channels, strided 1x1; odd pixel counts (a lone last pixel)."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input((size, size, channels))
    x = L.Rescaling(1.0 / 255.0)(inp)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 1)(x)
    x = L.Conv2D(21, 1, activation="relu")(x)
    x = L.Conv2D(20, 1, activation="relu6")(x)
    x = L.Conv2D(19, 3, padding="same", activation="relu")(x)
    x = L.Conv2D(24, 1, strides=2)(x)
    x = L.Conv2D(33, 1)(x)
    return keras.Model(inp, x)


def _dw3_paths(size: int, channels: int, seed: int = 0):
    """The 3x3 depthwise path (vad_dw3_fast.c) in every form, in one chain whose output is the
    last depthwise layer itself (nothing averaged away), on a 1- or 3-channel input with a
    strided first 3x3 convolution. At size 101: stride 1 with padding (51 pixels, 7 channels:
    odd width and channel count; strip rows 32 words apart), stride 2 without padding (25),
    stride 1 without (23; strip rows 16 words apart), stride 2 with padding (12), stride 1 on
    10 channels after a 1x1 expansion (12; strip rows 8 words apart), stride 2 on a small map
    after a 1x1 expansion (6 pixels, streamed with it where asked), stride 1 on it (6), and
    stride 2 down to 3 pixels, below lower.DW3_MIN_W (the generic path)."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input((size, size, channels))
    x = L.Rescaling(1.0 / 255.0)(inp)
    x = L.Conv2D(7, 3, strides=2, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu")(x)
    x = L.DepthwiseConv2D(3, padding="valid")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(10, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(3, padding="same")(x)
    x = L.Conv2D(14, 1, activation="relu6")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(3, padding="same")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same")(x)
    return keras.Model(inp, x)


def _dw3_quads(size: int, channels: int, seed: int = 0):
    """The 3x3 depthwise path's maps on channels in fours (vad_dw3_fast.c, d3_strip4: strip
    rows 8, 16 or 32 words apart, C a multiple of 4). At size 26 (rows 8 words apart):
    stride 1 without padding (11 pixels, odd width) and with (11), stride 2
    with padding (6), then 12 channels (three groups of four) on 6 pixels; at size 50 the same
    at 23, 23, 12 pixels (16 words apart) and 12 (8); at 98 at 47, 47, 24 (32 words apart) and
    24 (16); several blocks of rows at 50 and 98."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input((size, size, channels))
    x = L.Rescaling(1.0 / 255.0)(inp)
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(3, padding="valid", activation="relu6")(x)
    x = L.DepthwiseConv2D(3, padding="same")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(12, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(3, padding="same")(x)
    return keras.Model(inp, x)


def _dw3_tiny(size: int, channels: int, seed: int = 0):
    """Maps 3 pixels wide on the 3x3 depthwise path (vad_dw3_fast.c, d3_tiny: lower.DW3_TINY_W)
    in every form, on a 1- or 3-channel input: stride 2 into 3 pixels (size 24: from 6 pixels,
    "same" padding on the right and bottom only; 20: from 5, one pixel each side; 28: from 7,
    "valid"; relu6 at 24, the full int8 range else), then stride 1 with padding on 16 channels (groups of four, the full int8 range),
    on 14 (channel pairs, relu) and on 7 (pairs and a last lone channel, relu6), each after a 1x1
    expansion (streamed into it where asked)."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input((size, size, channels))
    x = L.Rescaling(1.0 / 255.0)(inp)
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    m = (size + 1) // 2
    m = (m + 1) // 2
    x = L.DepthwiseConv2D(3, strides=2, padding="same" if (m + 1) // 2 == 3 else "valid",
                          activation="relu6" if size == 24 else None)(x)
    x = L.DepthwiseConv2D(3, padding="same")(x)
    x = L.Conv2D(14, 1, activation="relu6")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.Conv2D(7, 1)(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    return keras.Model(inp, x)


def _first_convs(size: int, channels: int, seed: int = 0):
    """3x3 convolutions on 1 to 3 input channels (vad_conv_first.c) in every form, chained so
    that each reads at most 3 channels: stride 1 and 2 on 1, 2 and 3 input channels, padded
    ("same") and not, 1, 2 and 3 output channels (a lone last channel), rows longer than a
    chunk (61 pixels: chunks of 24, 24 and 13) and ending in a partial block of 4 (61, 31, 14,
    6, 3, 2 pixels). At size 61 on a 1- or 3-channel input."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input((size, size, channels))
    x = L.Rescaling(1.0 / 255.0)(inp)
    x = L.Conv2D(3, 3, padding="same", activation="relu6")(x)  # s1 on `channels`
    x = L.Conv2D(2, 3, strides=2, padding="same")(x)  # s2 on 3
    x = L.Conv2D(2, 3, strides=2, padding="same", activation="relu")(x)  # s2 on 2
    x = L.Conv2D(3, 3, padding="valid")(x)  # s1 on 2
    x = L.Conv2D(3, 3, padding="same", activation="relu6")(x)  # s1 on 3
    x = L.Conv2D(1, 3, strides=2, padding="valid")(x)  # s2 on 3, one output channel
    x = L.Conv2D(3, 3, padding="same", activation="relu6")(x)  # s1 on 1
    x = L.Conv2D(1, 3, strides=2, padding="same")(x)  # s2 on 3
    x = L.Conv2D(2, 3, strides=2, padding="same")(x)  # s2 on 1
    return keras.Model(inp, x)


def _pointwise(size: int, seed: int = 0, rect: bool = False):
    """1x1 CONV_2D layers for the pointwise kernels' forms: input channels 16, 13 (odd, im2col),
    24, 160 (large), 20 (kq odd), 132 (large, kq odd), 12 (kq 3), 32 (kq 8), 48 (kq 12), 16 again (kq 4), 4 (kq 1) and 8 (kq 2), 8 and 16 with odd and even output channels; output channels odd and even; channels whose TFLM shift
    is 0 (ReLU6 in and out with weights near 80: multiplier in [0.5, 1)), positive (weights
    near 200: the generic requantization), a dead channel (zero weights, a bias) and the rest
    ordinary; an odd pixel count and row width (blocks of 4 pixels plus 1-3). rect: the first
    layer 3x1 without padding, so the maps are (size - 2) x size (pixel counts n^2 - 2n: 2 or 5
    left after the blocks of 6 where square maps leave 0, 1, 3 or 4)."""
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    L = keras.layers
    inp = keras.Input((size, size, 3))
    x = L.Rescaling(1.0 / 255.0)(inp)
    x = L.Conv2D(16, (3, 1) if rect else 1, activation="relu6")(x)
    layers = []
    for n, act in ((13, "relu6"), (24, "relu6"), (160, "relu6"), (20, "relu6"), (132, "relu6"), (12, "relu6"), (32, "relu6"), (48, "relu6"), (16, "relu6"), (4, "relu6"), (8, "relu6"), (16, "relu6"), (9, "relu6"), (8, "relu6"), (7, None)):
        conv = L.Conv2D(n, 1, activation=act)
        x = conv(x)
        layers.append(conv)
    model = keras.Model(inp, x)
    for i, conv in enumerate(layers):
        w, b = conv.get_weights()
        n = w.shape[-1]
        if i in (0, 1, 3):  # ReLU6 in and out: magnitudes giving shift 0 and shift < 0
            w = w / np.abs(w).max(axis=(0, 1, 2)) * np.where(np.arange(n) % 2, 90.0, 0.4)
            w[..., 1] = 0.0  # a dead channel: its output is relu6(bias) whatever the input
            b = rng.uniform(-1, 1, n).astype(np.float32)
            b[1] = 3.0
            if i == 0:  # one channel with a multiplier >= 1 (positive shift: generic path)
                w[..., 2] *= 3000.0 / np.abs(w[..., 2]).max()
        conv.set_weights([w.astype(np.float32), b.astype(np.float32)])
    return model


def _fomo_multiscale(size: int):
    """vadtool's FOMO-AD network with a second, deeper feature map (models/fomo-ad-multiscale.json)."""
    from vadtool.models.backbone import BackboneSpec
    from vadtool.models.fomo_ad import FomoAdRecipe, build_network

    recipe = FomoAdRecipe(backbone=BackboneSpec(weights=WEIGHTS), size=size,
                          extra_layers=["block_13_expand_relu"])
    return build_network(recipe)


def convert(model, calib: np.ndarray) -> bytes:
    import tensorflow as tf

    def rep():
        for im in calib:
            yield [im[None].astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def build(kind: str, size: int, path: str) -> str:
    """kind: backbone035, backbone100, classifier, hardswish, concat, widek, fomo_multiscale,
    convpaths<channels>, dw3paths<channels>, dw3quads<channels>, dw3tiny<channels>,
    firstconvs<channels>, pointwise, pointwiserect, zoo<seed>.
    Writes path, returns it."""
    if kind == "backbone035":
        model = _backbone(size, 0.35)
    elif kind == "backbone100":
        model = _backbone(size, 1.0)
    elif kind == "classifier":
        model = _classifier(size)
    elif kind == "hardswish":
        model = _hard_swish(size)
    elif kind == "concat":
        model = _concat(size)
    elif kind == "widek":
        model = _wide_k(size)
    elif kind == "fomo_multiscale":
        model = _fomo_multiscale(size)
    elif kind.startswith("dw3paths"):
        model = _dw3_paths(size, int(kind[8:]))
    elif kind.startswith("convpaths"):
        model = _conv_paths(size, int(kind[9:]))
    elif kind.startswith("dw3quads"):
        model = _dw3_quads(size, int(kind[8:]))
    elif kind.startswith("dw3tiny"):
        model = _dw3_tiny(size, int(kind[7:]))
    elif kind.startswith("firstconvs"):
        model = _first_convs(size, int(kind[10:]))
    elif kind == "pointwise":
        model = _pointwise(size)
    elif kind == "pointwiserect":
        model = _pointwise(size, rect=True)
    elif kind.startswith("zoo"):
        model = _zoo(size, int(kind[3:] or 0))
    else:
        raise ValueError(kind)
    calib = calibration_images(size)
    if model.input_shape[-1] == 1:
        calib = calib.mean(axis=-1, keepdims=True)
        calib[0, 0, :2, 0] = (0, 255)  # the full pixel range, as in the colour set
    data = convert(model, calib)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    import sys

    build(sys.argv[1], int(sys.argv[2]), sys.argv[3])
