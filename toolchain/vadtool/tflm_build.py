"""Build a TFLite Micro project (vadtool render --runtime tflm) against a real TFLM checkout.

    tflm_root(option)                        -> the checkout (--tflm-dir, else $TFLM_DIR)
    library_sources(root, ops, kernels, board) -> the TFLM sources this model needs
    build_library(root, ops, kernels, board)   -> libtflm-<...>.a in the cache
    build_tflm_project(project, ...)           -> BuildResult (same fit check as native)

Only the sources the model's operators need are compiled: TFLM's framework (interpreter,
allocator, planners, flatbuffer glue), the kernel file that defines each operator's
``Register_<OP>`` (and its ``_common.cc``), and with CMSIS-NN the CMSIS-NN functions those
kernels call, found by following the objects' undefined ``arm_*`` symbols. The whole library
takes 21 minutes on a loaded 2-core machine; a small model's subset about a tenth of that.

Objects are cached outside the project, in ``$VADTOOL_CACHE/tflm/<snapshot>-<flags>/``
(default ``~/.cache/vadtool``), keyed by the checkout (its git commit, or its path), the
compiler and the flags; a source newer than its object (or any header it includes) is
recompiled. A lock file serialises builds that share a cache folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .boards import Board, get_board
from .build import first_error, need_tool
from .errors import BuildError

TFLM_REPO = "https://github.com/tensorflow/tflite-micro"
TFLM_COMMIT = "90b983c2b3f1480642e040bbd2ddb37b998f3424"  # the snapshot vadtool is tested with
KERNELS = ("cmsis_nn", "reference")
TFLM_SUMMARY = "vadtool_tflm.json"  # what tflm_project writes at the project's root

_MICRO = "tensorflow/lite/micro"
_DL = f"{_MICRO}/tools/make/downloads"
# TFLM framework folders compiled whole (as TFLM's sources.inc lists them) ...
_CORE_DIRS = (_MICRO, f"{_MICRO}/arena_allocator", f"{_MICRO}/memory_planner", f"{_MICRO}/tflite_bridge")
# ... less what only tests and the recording allocator use
_NOT_NEEDED = re.compile(r"(_test|test_helpers?|test_helper_custom_ops|fake_micro_context|"
                         r"mock_micro_graph|recording_\w+)\.cc$")
# kernel helpers every kernel may call
_KERNEL_HELPERS = ("kernel_util.cc", "micro_tensor_utils.cc")
# TFLite's shared sources (sources.inc: TFL_CC_SRCS, less array.cc under TF_LITE_STATIC_MEMORY)
_TFL_DIRS = ("tensorflow/lite", "tensorflow/compiler")
_TFL_SKIP = ("tensorflow/lite/micro", "tensorflow/lite/experimental", "tensorflow/lite/array.cc")

_WARN = ("-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-type-limits")
# TFLM's Makefile flags; -DNDEBUG as its BUILD_TYPE=release_with_logs ("preferable for
# profiling and benchmarking": the reference kernels' index checks go, error logs stay)
_COMMON = ("-fno-unwind-tables", "-fno-asynchronous-unwind-tables", "-ffunction-sections",
           "-fdata-sections", "-fmessage-length=0", "-DTF_LITE_STATIC_MEMORY",
           "-DTF_LITE_DISABLE_X86_NEON", "-DKERNELS_OPTIMIZED_FOR_SPEED", "-DNDEBUG")
_CXX_ONLY = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
_C_ONLY = ("-std=c17",)
_CORE_OPT, _KERNEL_OPT = "-Os", "-O2"  # TFLM's Makefile: CORE_/KERNEL_OPTIMIZATION_LEVEL
_CMSIS_NN_FLAGS = ("-DCMSIS_NN", "-DARM_NN_ENABLE_F16=0", "-DARM_NN_ENABLE_F32=0")
_ARM_SYMBOL = re.compile(r"^\s+U (arm_\w+)$", re.M)


def cache_root() -> Path:
    base = os.environ.get("VADTOOL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "vadtool")
    return Path(base) / "tflm"


def how_to_get_tflm() -> str:
    return (f"get TFLite Micro: git clone {TFLM_REPO} && git -C tflite-micro checkout "
            f"{TFLM_COMMIT} && make -C tflite-micro -f tensorflow/lite/micro/tools/make/Makefile "
            "third_party_downloads, then set TFLM_DIR=$PWD/tflite-micro (or pass --tflm-dir)")


def tflm_root(option: str | Path | None = None) -> Path:
    """The TFLM checkout from --tflm-dir or $TFLM_DIR; BuildError saying how to get one."""
    given = option or os.environ.get("TFLM_DIR")
    if not given:
        raise BuildError(f"this is a TFLite Micro project and TFLM_DIR is not set: {how_to_get_tflm()}")
    root = Path(given).expanduser().resolve()
    what = "--tflm-dir" if option else "TFLM_DIR"
    if not (root / _MICRO / "micro_interpreter.h").is_file():
        raise BuildError(f"{what}={given} is not a tflite-micro checkout (no {_MICRO}/micro_interpreter.h): "
                         f"{how_to_get_tflm()}")
    if not (root / _DL / "flatbuffers" / "include").is_dir():
        raise BuildError(f"{what}={given} has no third-party downloads ({_DL}/flatbuffers): run make -C {root} "
                         "-f tensorflow/lite/micro/tools/make/Makefile third_party_downloads")
    return root


def unpack_snapshot(tarball: Path) -> Path:
    """A TFLM source snapshot (a .tar.xz of a checkout with its downloads, as
    ../shared/tflm has on the development machines) unpacked once into the cache, beside the
    objects; the checkout. Unpacked into a temporary folder and renamed: a parallel caller
    either wins or finds it complete."""
    import shutil
    import tarfile
    import tempfile
    dest = cache_root() / "src" / tarball.name.removesuffix(".tar.xz")
    if not (dest / _MICRO / "micro_interpreter.h").is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        try:
            tmp.rename(dest)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def snapshot_id(root: Path) -> str:
    """The checkout's git commit (short), else its folder name: the cache key's readable part."""
    head = root / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref = (root / ".git" / ref[5:]).read_text().strip()
        return ref[:12]
    except OSError:
        return re.sub(r"[^\w.-]", "_", root.name)[:40]


def _tools(board: Board) -> tuple[str, str, str, str]:
    """(cc, c++, ar, nm) for the board."""
    if board.hosted:
        return need_tool("cc"), need_tool("c++"), need_tool("ar"), need_tool("nm")
    cc = need_tool(board.cc)
    prefix = cc[: -len("gcc")]
    return cc, need_tool(prefix + "g++"), need_tool(prefix + "ar"), need_tool(prefix + "nm")


def _includes(root: Path, kernels: str) -> list[str]:
    dl = root / _DL
    incs = [root, dl / "flatbuffers" / "include", dl / "gemmlowp", dl / "ruy"]
    if kernels == "cmsis_nn":
        incs += [dl / "cmsis", dl / "cmsis" / "CMSIS" / "Core" / "Include", dl / "cmsis_nn",
                 dl / "cmsis_nn" / "Include"]
    return [f"-I{p}" for p in incs]


def _flags(board: Board) -> tuple[str, ...]:
    flags = list(_COMMON) + list(_WARN) + list(board.cflags)
    if board.hosted:
        flags.append("-DTF_LITE_USE_CTIME")
    else:
        flags += ["-DTF_LITE_MCU_DEBUG_LOG", "-funsigned-char", "-fomit-frame-pointer"]
    return tuple(flags)


def _registrations(kernel_dir: Path) -> dict[str, Path]:
    """Operator -> the kernel file that defines its Register_<OP>() (read from the sources)."""
    found: dict[str, Path] = {}
    pattern = re.compile(r"^TFLMRegistration\*?\s+Register_(\w+)\s*\(", re.M)
    for path in sorted(kernel_dir.glob("*.cc")):
        if not path.name.endswith("_test.cc"):
            for op in pattern.findall(path.read_text(errors="replace")):
                found.setdefault(op, path)
    return found


def library_sources(root: Path, ops: list[str], kernels: str, board: Board) -> list[tuple[Path, str, str]]:
    """[(source, optimisation level, variant)]: TFLM's framework and TFLite's shared sources
    (variant "core": no file of them includes a kernel header, so both kernel sets share
    their objects), and the kernels of these operators (variant = kernels; CMSIS-NN's version
    of a kernel where it has one). The CMSIS-NN library's own sources are added later, from
    what the kernels call (build_library)."""
    if kernels not in KERNELS:
        raise BuildError(f"unknown --kernels {kernels!r}; choose {', '.join(KERNELS)}")
    micro = root / _MICRO
    core: list[Path] = []
    for folder in _CORE_DIRS:
        core += [p for p in sorted((root / folder).glob("*.cc")) if not _NOT_NEEDED.search(p.name)]
    if not board.hosted:  # TFLM's cortex_m_generic debug log (a callback the application may register)
        core = [micro / "cortex_m_generic" / "debug_log.cc" if p.name == "debug_log.cc" and p.parent == micro
                else p for p in core]
    for top in _TFL_DIRS:
        for p in sorted((root / top).rglob("*.c*")):
            rel = p.relative_to(root).as_posix()
            if p.suffix in (".c", ".cc") and not rel.startswith(_TFL_SKIP) and not p.name.endswith("_test.cc"):
                core.append(p)
    kdir = micro / "kernels"
    regs = _registrations(kdir)
    chosen: list[Path] = [kdir / name for name in _KERNEL_HELPERS]
    for op in ops:
        path = regs.get(op)
        if path is None:
            raise BuildError(f"{root}: no TFLite Micro kernel registers operator {op} (Register_{op})")
        for candidate in (path, path.with_name(path.stem + "_common.cc")):
            if candidate.is_file() and candidate not in chosen:
                chosen.append(candidate)
    if kernels == "cmsis_nn":  # TFLM's specialize_files.py: an optimized file replaces its namesake
        chosen = [kdir / "cmsis_nn" / p.name if (kdir / "cmsis_nn" / p.name).is_file() else p for p in chosen]
    return [(p, _CORE_OPT, "core") for p in core] + [(p, _KERNEL_OPT, kernels) for p in chosen]


class _ObjectCache:
    """Objects of one (checkout, compiler, flags) in one cache folder: obj/core/ (the
    framework) and obj/<kernels>/ (the kernels, with CMSIS-NN's defines for cmsis_nn)."""

    def __init__(self, root: Path, board: Board, kernels: str, jobs: int):
        self.root, self.board, self.kernels, self.jobs = root, board, kernels, jobs
        self.cc, self.cxx, self.ar, self.nm = _tools(board)
        self.flags = _flags(board)
        self.includes = _includes(root, kernels)
        version = subprocess.run([self.cc, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        key = hashlib.sha256("\n".join([str(root), snapshot_id(root), self.cc, self.cxx, version,
                                        *self.flags]).encode()).hexdigest()[:10]
        arch = "host" if board.hosted else next(
            (f.split("=", 1)[1] for f in board.cflags if f.startswith("-mcpu=")), board.name)
        self.dir = cache_root() / f"{snapshot_id(root)}-{arch}-{key}"
        self.log: list[str] = []

    def object_of(self, src: Path, variant: str) -> Path:
        rel = src.relative_to(self.root)
        return self.dir / "obj" / variant / rel.with_suffix(rel.suffix + ".o")

    def _fresh(self, src: Path, obj: Path) -> bool:
        dep = obj.with_suffix(".d")
        if not obj.is_file() or not dep.is_file():
            return False
        built = obj.stat().st_mtime
        text = dep.read_text().replace("\\\n", " ")
        for name in text.split(":", 1)[-1].split():
            try:
                if Path(name).stat().st_mtime > built:
                    return False
            except OSError:
                return False
        return True

    def _compile(self, item: tuple[Path, str, str]) -> str | None:
        src, opt, variant = item
        obj = self.object_of(src, variant)
        flags = self.flags + (_CMSIS_NN_FLAGS if variant == "cmsis_nn" else ())
        if self._fresh(src, obj):
            return None
        obj.parent.mkdir(parents=True, exist_ok=True)
        tmp = obj.with_name(obj.name + f".{os.getpid()}.tmp")
        compiler, lang = (self.cc, _C_ONLY) if src.suffix == ".c" else (self.cxx, _CXX_ONLY)
        cmd = [compiler, *lang, opt, *flags, *self.includes, "-MMD", "-MF", str(tmp.with_suffix(".d")),
               "-c", str(src), "-o", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            return f"{src.relative_to(self.root)}: {proc.stderr.strip()}"
        tmp.with_suffix(".d").replace(obj.with_suffix(".d"))
        tmp.replace(obj)
        return None

    def compile_all(self, items: list[tuple[Path, str, str]]) -> list[Path]:
        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
            errors = [e for e in pool.map(self._compile, items) if e]
        if errors:
            log = self.dir / "build.log"
            log.write_text("\n\n".join(errors) + "\n")
            raise BuildError(f"compiling TFLite Micro for {self.board.name} failed: {first_error(errors[0])} "
                             f"(full log: {log})")
        return [self.object_of(src, variant) for src, _, variant in items]

    def cmsis_nn_closure(self, objects: list[Path]) -> list[Path]:
        """The CMSIS-NN sources that define the arm_* functions these objects call, and theirs,
        until nothing new is called (CMSIS-NN names each file after the function it defines;
        a function defined elsewhere is found by grepping for its definition)."""
        source_dir = self.root / _DL / "cmsis_nn" / "Source"
        by_stem = {p.stem: p for p in source_dir.rglob("*.c")}
        chosen: list[Path] = []
        pending = list(objects)
        while pending:
            out = subprocess.run([self.nm, *map(str, pending)], capture_output=True, text=True).stdout
            wanted = set(_ARM_SYMBOL.findall(out))
            new = []
            for sym in sorted(wanted):
                path = by_stem.get(sym) or _defining_file(sym, by_stem.values())
                if path is not None and path not in chosen and path not in new:
                    new.append(path)
            chosen += new
            pending = self.compile_all([(p, _KERNEL_OPT, "cmsis_nn") for p in new]) if new else []
        return chosen

    def archive(self, objects: list[Path]) -> Path:
        digest = hashlib.sha256("\n".join(sorted(map(str, objects))).encode()).hexdigest()[:10]
        lib = self.dir / "lib" / f"libtflm-{digest}.a"
        newest = max(o.stat().st_mtime for o in objects)
        if lib.is_file() and lib.stat().st_mtime >= newest:
            return lib
        lib.parent.mkdir(parents=True, exist_ok=True)
        tmp = lib.with_name(lib.name + f".{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        proc = subprocess.run([self.ar, "rcs", str(tmp), *map(str, objects)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"{self.ar} failed: {proc.stderr.strip()}")
        tmp.replace(lib)
        return lib


def _defining_file(symbol: str, files) -> Path | None:
    """The C file whose line starts a definition of symbol (not a call or a declaration)."""
    pattern = re.compile(rf"^[\w\s\*]*\b{re.escape(symbol)}\s*\([^;]*$", re.M)
    for path in files:
        text = path.read_text(errors="replace")
        if symbol in text and pattern.search(text):
            return path
    return None


def build_library(root: Path, ops: list[str], kernels: str, board: Board, *, jobs: int = 2) -> tuple[Path, dict]:
    """Compile (or find cached) what this model needs of TFLM into one archive; returns it and
    {sources, compiled, cache} for the build's record."""
    cache = _ObjectCache(root, board, kernels, jobs)
    cache.dir.mkdir(parents=True, exist_ok=True)
    with open(cache.dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two builds sharing this folder take turns
        items = library_sources(root, ops, kernels, board)
        objects = cache.compile_all(items)
        extra: list[Path] = []
        if kernels == "cmsis_nn":
            extra = cache.cmsis_nn_closure(objects)
            objects += [cache.object_of(p, "cmsis_nn") for p in extra]
        lib = cache.archive(objects)
    return lib, {"sources": len(items) + len(extra), "cache": str(cache.dir), "library": str(lib)}


def is_tflm_project(project: str | Path) -> bool:
    return (Path(project) / TFLM_SUMMARY).is_file()


def build_tflm_project(project_dir: str | Path, *, tflm_dir: str | Path | None = None,
                       kernels: str | None = None, jobs: int = 2, timeout_s: float = 900):
    """Build the TFLM project's firmware (tflm/Makefile) against the checkout, the ELF into the
    project's build/ (where emulate and bench look), measure it and check it fits the board, as
    build.build_project does for the native runtime. kernels: cmsis_nn (default on Cortex-M) or
    reference (the host's default)."""
    from .build import BuildResult, elf_name, measure_and_check, run_make
    project = Path(project_dir).resolve()
    summary = json.loads((project / TFLM_SUMMARY).read_text())
    board = get_board(summary["board"])
    kernels = kernels or ("reference" if board.hosted else "cmsis_nn")
    if kernels not in KERNELS:
        raise BuildError(f"unknown --kernels {kernels!r}; choose {', '.join(KERNELS)}")
    if kernels == "cmsis_nn" and board.hosted:
        raise BuildError("--kernels cmsis_nn is for Cortex-M boards; the host build uses reference")
    root = tflm_root(tflm_dir)
    need_tool("make")
    lib, record = build_library(root, summary["operators"], kernels, board, jobs=jobs)
    build = project / "build"
    build.mkdir(exist_ok=True)
    # the plain Makefile would otherwise keep objects of another kernel set or checkout
    for old in build.glob("*.o"):
        old.unlink()
    run_make(project / "tflm", board, build / "build.log", timeout_s, jobs,
             [f"TFLM_DIR={root}", f"TFLM_LIB={lib}", f"BUILD={build}"])
    result = measure_and_check(board, project / elf_name(board))
    (build / "tflm_library.json").write_text(json.dumps({**record, "kernels": kernels,
                                                         "tflm_dir": str(root)}, indent=2) + "\n")
    return BuildResult(result.elf, result.flash_bytes, result.ram_bytes, board.name, result.ccm_bytes), kernels
