"""Pretrained MobileNet backbones, cut early, with their weights resolved offline or online.

Every network vadtool builds takes raw pixels (float 0..255, RGB) and does its own input
scaling in a first Rescaling layer, so the int8 model's input is simply `pixel - 128`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ModelError
from ..tfenv import keras
from .layers import ARCHS, SCALES, layer_stride  # noqa: F401 - re-exported for the models

WEIGHTS_ENV = "VADTOOL_WEIGHTS"



@dataclass(frozen=True)
class BackboneSpec:
    arch: str = "mobilenet_v2"  # mobilenet_v2 | mobilenet_v1
    alpha: float = 1.0
    cut: str | None = "block_6_expand_relu"  # None: the whole network without top
    weights: str = "imagenet"  # "imagenet" or a file or folder of weight files
    input_scale: str = "symmetric"

    def to_json(self) -> dict:
        return asdict(self)


# Weight files we know how to load, by (arch, alpha, cut): candidate file names in a folder.
# The Keras download names come first so a folder of Keras' own cache files works too.
def _candidate_names(spec: BackboneSpec) -> list[str]:
    a = _alpha_str(spec.alpha)
    if spec.arch == "mobilenet_v2":
        names = [f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{a}_224_no_top.h5",
                 f"mobilenet_v2_{a}_imagenet_no_top.weights.h5"]
        if spec.cut:
            names.insert(0, f"mobilenet_v2_{a}_{spec.cut}_bnfolded.weights.h5")
        return names
    if spec.arch == "mobilenet_v1":
        keras_alpha = {0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0"}.get(spec.alpha, a)
        return [f"mobilenet_{keras_alpha}_224_tf_no_top.h5", f"mobilenet_{keras_alpha}_224_tf.h5",
                f"mobilenet_v1_{a}_224_imagenet.h5"]
    raise ModelError(f"unknown backbone architecture {spec.arch!r}; use {' or '.join(ARCHS)}")


def _alpha_str(alpha: float) -> str:
    return f"{alpha:.2f}".rstrip("0").rstrip(".") if alpha != 1 else "1.0"


def resolve_weights(spec: BackboneSpec) -> str | Path:
    """Return "imagenet" (Keras download) or the weights file to load for `spec`."""
    source = spec.weights
    if source == "imagenet" and os.environ.get(WEIGHTS_ENV):
        source = os.environ[WEIGHTS_ENV]
    if source == "imagenet":
        return "imagenet"
    path = Path(source)
    if path.is_file():
        return path
    if path.is_dir():
        names = _candidate_names(spec)
        for name in names:
            if (path / name).is_file():
                return path / name
        raise ModelError(
            f"{path}: no weights for {spec.arch} alpha {spec.alpha}; put one of "
            f"{', '.join(names)} there, or pass --weights FILE")
    raise ModelError(f"{path}: weights file or folder not found; pass --weights FILE|DIR "
                     f"or set {WEIGHTS_ENV}, or use --weights imagenet on a machine with internet")


def _keras_app(spec: BackboneSpec, shape_hw: tuple[int, int], weights):
    shape = (*shape_hw, 3)
    if spec.arch == "mobilenet_v2":
        return keras.applications.MobileNetV2(alpha=spec.alpha, include_top=False,
                                              weights=weights, input_shape=shape)
    return keras.applications.MobileNet(alpha=spec.alpha, include_top=False,
                                        weights=weights, input_shape=shape)


def build_backbone(spec: BackboneSpec, shape_hw: int | tuple[int, int],
                   outputs: list[str] | None = None) -> keras.Model:
    """The pretrained feature extractor: raw pixels (H, W, 3) in (an int: square), features at
    the cut out (or, with outputs, the features of each of those layers)."""
    shape_hw = (shape_hw, shape_hw) if isinstance(shape_hw, int) else \
        tuple(None if v is None else int(v) for v in shape_hw)  # None: any size
    weights = resolve_weights(spec)
    try:
        with warnings.catch_warnings():  # non-square inputs: Keras warns the weights are for 224x224
            warnings.simplefilter("ignore")
            base = _keras_app(spec, shape_hw, "imagenet" if weights == "imagenet" else None)
    except ValueError as exc:  # Keras rejects unsupported alpha / size combinations
        raise ModelError(f"cannot build {spec.arch} alpha {spec.alpha}: {exc}") from exc
    except Exception as exc:  # the Keras download fails offline with many exception types
        raise ModelError(
            f"could not download the ImageNet weights for {spec.arch} alpha {spec.alpha} "
            f"({type(exc).__name__}); offline, pass --weights with a weights file or folder "
            f"(or set {WEIGHTS_ENV}); file names looked for: {', '.join(_candidate_names(spec))}"
        ) from exc
    names = outputs or ([spec.cut] if spec.cut else [])
    try:
        out = [base.get_layer(n).output for n in names] if outputs else (
            base.get_layer(spec.cut).output if spec.cut else base.output)
    except ValueError as exc:
        raise ModelError(f"{spec.arch} has no layer named one of {names}; "
                         "see the layer names of keras.applications") from exc
    cut = keras.Model(base.input, out)
    if weights != "imagenet":
        try:
            _load_weights(spec, base, cut, Path(weights))
        except ModelError as exc:
            if len(names) > 1:  # a file cut early cannot feed a deeper layer (extra_layers)
                raise ModelError(f"{exc}; this recipe reads layers {', '.join(names)}: a file "
                                 "cut before the deepest has no weights for it (use a recipe "
                                 "with \"extra_layers\": [], e.g. models/fomo-ad-tiny.json)") from exc
            raise
    scale, offset = SCALES[spec.input_scale]
    inp = keras.Input((*shape_hw, 3), name="pixels")
    x = keras.layers.Rescaling(scale, offset, name="input_scaling")(inp)
    return keras.Model(inp, cut(x), name="backbone")


def _load_weights(spec: BackboneSpec, base, cut, path: Path) -> None:
    """Load a file saved from the whole network, the cut network, or the network with its
    ImageNet top (then copied layer by layer: convolution weights do not depend on size)."""
    errors = []
    for model in (cut, base) if "bnfolded" in path.name or "block_" in path.name else (base, cut):
        try:
            with warnings.catch_warnings():  # a failed attempt warns once per layer it skips
                warnings.simplefilter("ignore")
                model.load_weights(path)
            return
        except Exception as exc:  # Keras raises ValueError / KeyError / OSError on mismatch
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    try:
        full = _keras_app_with_top(spec, path)
        by_name = {layer.name: layer for layer in full.layers}
        for layer in base.layers:
            if layer.weights:
                layer.set_weights(by_name[layer.name].get_weights())
        return
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    raise ModelError(f"{path}: does not hold weights for this backbone ({errors[0]}); "
                     "check the architecture and width match the file")


def _keras_app_with_top(spec: BackboneSpec, path: Path):
    app = keras.applications.MobileNetV2 if spec.arch == "mobilenet_v2" else keras.applications.MobileNet
    full = app(alpha=spec.alpha, include_top=True, weights=None, input_shape=(224, 224, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full.load_weights(path)
    return full


def default_input_scale(weights_path: str | Path) -> str:
    """The FOMO-AD 0.35 backbone file was trained on [0, 1]; ImageNet weights on [-1, 1]."""
    return "unit" if "bnfolded" in str(weights_path) else "symmetric"
