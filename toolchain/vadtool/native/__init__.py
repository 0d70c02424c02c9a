"""Native C99 int8 runtime generator: .tflite -> C, bit-exact with TFLite Micro's reference kernels.

    write_model_sources(tflite_path, out_dir, version=...) -> ModelInfo
    NativeRunner(tflite_path).run_int8(x)
"""

from .codegen import ModelInfo, build_plan, write_model_sources
from .lower import SUPPORTED as SUPPORTED_OPS

__all__ = ["ModelInfo", "NativeRunner", "SUPPORTED_OPS", "build_plan", "write_model_sources"]


def __getattr__(name):  # lazy: the runner pulls in subprocess/compiler helpers
    if name == "NativeRunner":
        from .runner import NativeRunner

        return NativeRunner
    raise AttributeError(name)
