"""Run the generated C on the host: a cached batch program fed through stdin/stdout.

With an IntHead the program also runs the rendered C head (head_c) on each output and
returns its int32 cell and image scores: what a device computes, on the host."""

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


def _head_digest(head) -> str:
    from ..boards import FIRMWARE_TEMPLATES
    h = hashlib.sha256(head.digest().encode())
    for path in sorted((FIRMWARE_TEMPLATES / "head").iterdir()):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


class NativeRunner:
    """Host build of the generated C for one .tflite; run_int8 batches through one process."""

    def __init__(self, tflite_path, work_dir=None, *, cc: str | None = None, cflags=HOST_CFLAGS,
                 head=None):
        self.tflite_path = Path(tflite_path)
        self.cc = cc or os.environ.get("CC", "cc")
        self.cflags = tuple(cflags)
        self.head = head
        graph = read_tflite(self.tflite_path)
        key = f"{graph.model_hash[:16]}-{_runtime_digest(self.cc, self.cflags)}"
        if head is not None:
            key += f"-head{_head_digest(head)}"
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
            cflags = self.cflags
            if self.head is not None:
                from ..head_c import write_head_sources
                write_head_sources(self.head, tmp, banner=f"vadtool {__version__} host build")
                cflags = cflags + ("-DVAD_HOST_HEAD",)
            sources = sorted(tmp.glob("*.c"))
            exe_tmp = tmp / "vad_host"
            compile_c(sources, exe_tmp, cc=self.cc, cflags=cflags, include=[tmp], extra=["-lm"])
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
        return self.run_with_head(x, timeout)[0] if self.head is not None else self._run(x, timeout)[0]

    def run_with_head(self, x: np.ndarray, timeout: float | None = None):
        """(int8 outputs, int32 cell scores (N, Gh, Gw), int32 image scores (N,)) from the C
        model and the C head; needs a runner made with head=."""
        if self.head is None:
            raise ValueError("this native runner was built without a head")
        y, tail = self._run(x, timeout)
        cells = self.head.cells
        scores = tail.reshape(len(y), cells + 1)
        return y, scores[:, :cells].reshape(len(y), *self.head.grid).copy(), scores[:, cells].copy()

    def _run(self, x: np.ndarray, timeout: float | None):
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
        out_bytes = int(np.prod(out_shape))
        head_bytes = 4 * (self.head.cells + 1) if self.head is not None else 0
        expect = n * (out_bytes + head_bytes)
        raw = np.frombuffer(proc.stdout, np.uint8)
        if raw.size != expect:
            raise DeviceError(f"native host program wrote {raw.size} bytes, expected {expect}")
        raw = raw.reshape(n, out_bytes + head_bytes)
        y = raw[:, :out_bytes].view(np.int8).reshape((n,) + out_shape).copy()
        return y, np.ascontiguousarray(raw[:, out_bytes:]).view(np.int32)
