"""Run the generated C on the host: a cached batch program fed through stdin/stdout."""

from __future__ import annotations

import hashlib
import re
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import BuildError, DeviceError
from .codegen import RUNTIME_FILES, ModelInfo, runtime_dir, write_model_sources
from .tflite_reader import read_tflite

HOST_CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")
HOST_MAIN = "vad_host_main.c"


def default_cache_dir() -> Path:
    base = os.environ.get("VADTOOL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "vadtool"
    )
    return Path(base) / "native"


def _runtime_digest(cc: str, cflags: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    rt = runtime_dir()
    for name in RUNTIME_FILES + (HOST_MAIN,):
        h.update((rt / name).read_bytes())
    for name in sorted(os.listdir(rt / "templates")):
        h.update((rt / "templates" / name).read_bytes())
    h.update(__version__.encode())
    h.update(" ".join((cc,) + cflags).encode())
    return h.hexdigest()[:12]


def compile_c(sources: list[Path], output: Path, *, cc: str = "cc", cflags=HOST_CFLAGS,
              include: list[Path] = (), extra=()) -> None:
    """Compile and link; BuildError with the first compiler error line on failure."""
    cmd = [cc, *cflags, *(f"-I{p}" for p in include), *map(str, sources), "-o", str(output), *extra]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise BuildError(f"compiler '{cc}' not found; install a C compiler or set CC") from exc
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).splitlines()
        first = next((ln for ln in lines if re.search(r"\b(fatal )?error\b:", ln)),
                     lines[0] if lines else "unknown error")
        raise BuildError(f"compiling {output.name} failed: {first.strip()}")


class NativeRunner:
    """Host build of the generated C for one .tflite; run_int8 batches through one process."""

    def __init__(self, tflite_path, work_dir=None, *, cc: str | None = None, cflags=HOST_CFLAGS):
        self.tflite_path = Path(tflite_path)
        self.cc = cc or os.environ.get("CC", "cc")
        self.cflags = tuple(cflags)
        graph = read_tflite(self.tflite_path)
        key = f"{graph.model_hash[:16]}-{_runtime_digest(self.cc, self.cflags)}"
        self.work_dir = Path(work_dir) if work_dir else default_cache_dir() / key
        self.exe = self.work_dir / "vad_host"
        self.info: ModelInfo = self._build(key)

    def _build(self, key: str) -> ModelInfo:
        stamp = self.work_dir / "build.key"
        src = self.work_dir / "src"
        if self.exe.exists() and stamp.exists() and stamp.read_text() == key:
            # cached build: re-derive the metadata without compiling
            from .codegen import build_plan

            return build_plan(self.tflite_path).info
        self.work_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.work_dir, prefix=".build-"))
        try:
            info = write_model_sources(self.tflite_path, tmp, version=__version__)
            shutil.copy(runtime_dir() / HOST_MAIN, tmp / HOST_MAIN)
            sources = sorted(tmp.glob("*.c"))
            exe_tmp = tmp / "vad_host"
            compile_c(sources, exe_tmp, cc=self.cc, cflags=self.cflags, include=[tmp], extra=["-lm"])
            os.replace(exe_tmp, self.exe)
            old = self.work_dir / f".old-{os.getpid()}"
            try:  # keep the sources next to the binary; tolerate a concurrent builder
                if src.exists():
                    src.rename(old)
                tmp.rename(src)
            except OSError:
                pass
            shutil.rmtree(old, ignore_errors=True)
            stamp.write_text(key)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return info

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.info.input_shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.info.output_shape

    def run_int8(self, x: np.ndarray, timeout: float | None = None) -> np.ndarray:
        x = np.asarray(x)
        in_shape = tuple(self.info.input_shape[1:])
        if x.dtype != np.int8:
            raise ValueError(f"run_int8 needs int8 input, got {x.dtype}")
        if x.ndim == len(in_shape):
            x = x[None]
        if tuple(x.shape[1:]) != in_shape:
            raise ValueError(f"input shape {x.shape[1:]} does not match the model's {in_shape}")
        n = x.shape[0]
        proc = subprocess.run(
            [str(self.exe)], input=np.ascontiguousarray(x).tobytes(), capture_output=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise DeviceError(f"native host program failed (exit {proc.returncode}): "
                              f"{proc.stderr.decode(errors='replace').strip()}")
        out_shape = tuple(self.info.output_shape[1:]) if len(self.info.output_shape) > 1 else tuple(self.info.output_shape)
        expect = n * int(np.prod(out_shape))
        y = np.frombuffer(proc.stdout, np.int8)
        if y.size != expect:
            raise DeviceError(f"native host program wrote {y.size} bytes, expected {expect}")
        return y.reshape((n,) + out_shape).copy()
