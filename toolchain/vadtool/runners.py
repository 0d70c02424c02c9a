"""Runners: the same uint8 images in, the network's output out, in every runtime.

An int8 runner's core is `run_int8`, int8 input (pixel - 128) to int8 output, so that
runtimes can be compared bit for bit; `outputs` dequantizes for scoring.
"""

from __future__ import annotations

import numpy as np

from .errors import ModelError
from .rundir import Run

RUNTIMES = ("float", "litert", "tflm", "native")
INT8_RUNTIMES = ("litert", "tflm", "native", "device")


def to_int8(images: np.ndarray) -> np.ndarray:
    """uint8 pixels to the int8 model input (scale 1, zero point -128)."""
    return (images.astype(np.int16) - 128).astype(np.int8)


class FloatRunner:
    name = "float"

    def __init__(self, run: Run):
        from .tfenv import keras
        path = run.file("model.keras")
        try:
            self.model = keras.models.load_model(path, compile=False)
        except Exception as exc:  # Keras raises many types for a damaged archive
            raise ModelError(f"{path}: cannot be loaded ({type(exc).__name__}); retrain the run") from exc

    def outputs(self, images: np.ndarray) -> np.ndarray:
        outs = [np.asarray(self.model(images[i:i + 32].astype(np.float32), training=False))
                for i in range(0, len(images), 32)]
        return np.concatenate(outs)


class Int8Runner:
    """Base for runners of the int8 .tflite: subclasses implement run_int8 on one batch."""

    name = "int8"

    def __init__(self, tflite_path):
        from .quantize import tensor_quantization
        self.path = tflite_path
        self.input_q, self.output_q = tensor_quantization(tflite_path)

    def run_int8(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def outputs(self, images: np.ndarray) -> np.ndarray:
        scale, zero = self.output_q
        return (self.run_int8(to_int8(images)).astype(np.float32) - zero) * scale


class LiteRTRunner(Int8Runner):
    """LiteRT with its reference kernels (BUILTIN_REF): the golden int8 arithmetic, bit-exact
    with TFLite Micro. reference=False uses the default optimized (XNNPACK) path instead."""

    name = "litert"

    def __init__(self, tflite_path, reference: bool = True):
        super().__init__(tflite_path)
        from ai_edge_litert import interpreter as litert
        resolver = (litert.OpResolverType.BUILTIN_REF if reference
                    else litert.OpResolverType.AUTO)
        self.interp = litert.Interpreter(model_path=str(tflite_path),
                                         experimental_op_resolver_type=resolver)
        self.interp.allocate_tensors()
        self.inp = self.interp.get_input_details()[0]["index"]
        self.out = self.interp.get_output_details()[0]["index"]

    def run_int8(self, x: np.ndarray) -> np.ndarray:
        outs = []
        for one in x:
            self.interp.set_tensor(self.inp, one[None])
            self.interp.invoke()
            outs.append(self.interp.get_tensor(self.out)[0].copy())
        return np.stack(outs)


class TFLMRunner(Int8Runner):
    """The TFLite Micro interpreter (the microcontroller's arithmetic, on the host)."""

    name = "tflm"

    def __init__(self, tflite_path, arena_size: int | None = None):
        super().__init__(tflite_path)
        from tflite_micro.python.tflite_micro import runtime
        kwargs = {"arena_size": arena_size} if arena_size else {}
        self.interp = runtime.Interpreter.from_file(str(tflite_path), **kwargs)

    def run_int8(self, x: np.ndarray) -> np.ndarray:
        outs = []
        for one in x:
            self.interp.set_input(one[None], 0)
            self.interp.invoke()
            outs.append(np.array(self.interp.get_output(0))[0])
        return np.stack(outs)


class NativeInt8Runner(Int8Runner):
    """The generated C runtime, compiled for the host (what gets flashed, run here); with an
    IntHead, the C head too, whose scores run_with_head returns."""

    name = "native"

    def __init__(self, tflite_path, head=None):
        super().__init__(tflite_path)
        from .native.runner import NativeRunner
        self.native = NativeRunner(tflite_path, head=head)
        if head is not None:
            self.run_with_head = self.native.run_with_head

    def run_int8(self, x: np.ndarray) -> np.ndarray:
        return self.native.run_int8(x)


def make_runner(run: Run, runtime: str):
    if runtime == "float":
        if run.imported:
            from .onnx_import import FloatTFLiteRunner
            return FloatTFLiteRunner(run)
        return FloatRunner(run)
    tflite = run.file("model_int8.tflite")
    if runtime == "litert":
        return LiteRTRunner(tflite)
    if runtime == "tflm":
        return TFLMRunner(tflite)
    if runtime == "native":
        head = None
        if run.kind == "fomo-ad":
            from .models.int_head import IntHead
            head = IntHead.load(run.file("head_int.npz"))
        return NativeInt8Runner(tflite, head=head)
    raise ModelError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
