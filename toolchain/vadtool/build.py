"""Firmware projects: write the board and protocol files, compile, measure, check the fit.

A firmware project is one folder::

    Makefile  main.c  vad_config.h  protocol.h  vad_protocol.c/.h      <- write_project_files()
    vad_board.h  vad_detector.c/.h (network, head, decision)
    vad_standalone.c/.h  vad_image_source.h  vad_source_<source>.c   (--mode standalone|both)
    board/    board_config.h, firmware.ld and the board's sources      <- write_project_files()
    vad_model.h, vad_model.c, runtime sources                          <- vadtool.native
    vad_head.h, vad_head.c (a model with a head on the device)         <- vadtool.head_c
    build/    firmware.elf (firmware on the host), firmware.bin, build.log; firmware_qemu.elf
              where QEMU lacks the board's CCM (emulator_elf_name)

``make`` compiles every .c file in it with -std=c99 -Wall -Wextra -Werror.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from .boards import FIRMWARE_TEMPLATES, Board, get_board
from .device.protocol import write_header
from .errors import BuildError, RenderError
from .interrupts import run_child

_APT = {"arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi",
        "arm-none-eabi-size": "binutils-arm-none-eabi", "cc": "gcc", "make": "make",
        "size": "binutils"}
_BOARD_NAME = re.compile(r'#define\s+BOARD_NAME\s+"([^"]+)"')
_OVERFLOW = re.compile(r"region `(FLASH|RAM|CCM)' overflowed by (\d+) bytes")

MODES = ("serve", "standalone", "both")
SOURCES = {"protocol": "vad_source_protocol.c", "semihosting": "vad_source_semihost.c",
           "camera": "vad_source_camera.c"}  # image sources of the standalone loop
_APP = FIRMWARE_TEMPLATES / "app"


@dataclass(frozen=True)
class BuildResult:
    elf: Path          # the linked program (ELF; on the host the executable)
    flash_bytes: int   # text + data
    ram_bytes: int     # data + bss in the main RAM, stack included unless it is in CCM
    board: str
    ccm_bytes: int = 0  # core-coupled RAM used (stack and small buffers), boards that have it

    @property
    def emulator_elf(self) -> Path:
        """What QEMU runs (see emulator_elf_name)."""
        return self.elf.parent.parent / emulator_elf_name(get_board(self.board))


def _render(env: jinja2.Environment, name: str, out: Path, **ctx) -> None:
    from . import __version__
    out.write_text(env.get_template(name).render(version=__version__, **ctx))


def elf_name(board: Board) -> str:
    return "build/firmware" if board.hosted else "build/firmware.elf"


def emulator_elf_name(board: Board) -> str:
    """The ELF QEMU runs: the board's own, or where QEMU lacks the chip's CCM, the same
    objects linked with the CCM sections moved to RAM QEMU has (firmware_qemu.ld)."""
    return "build/firmware_qemu.elf" if board.qemu_ccm_origin else elf_name(board)


def write_project_files(project_dir: str | Path, board_name: str, *, keep_input: bool = False,
                        mode: str = "serve", source: str = "protocol", has_head: bool = False) -> Path:
    """Write everything but the model into project_dir: Makefile, main.c, vad_config.h, the
    protocol server and its generated protocol.h, the detector (network then head), for
    mode standalone/both the standalone loop and its image source, and board/ with the
    board's sources, board_config.h and (Cortex-M) firmware.ld. Returns project_dir. The
    model's sources come from vadtool.native, the head's (has_head) from vadtool.head_c.

    The server loads the input into the model's arena; keep_input=True gives it its own copy
    (input-size more RAM) so that one input allows warm-up and repeated timed runs."""
    board = get_board(board_name)
    if mode not in MODES:
        raise RenderError(f"unknown --mode {mode!r}; choose {', '.join(MODES)}")
    if source not in SOURCES:
        raise RenderError(f"unknown --source {source!r}; choose {', '.join(SOURCES)}")
    if mode != "serve" and not has_head:
        raise RenderError(f"--mode {mode} needs a head that runs on the device, and this model has "
                          "none (its output is scored on the host): render with --mode serve")
    out = Path(project_dir)
    shutil.rmtree(out / "board", ignore_errors=True)  # no sources left from another board
    (out / "board").mkdir(parents=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FIRMWARE_TEMPLATES / "project")),
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    _render(env, "Makefile.j2", out / "Makefile", board=board, elf=elf_name(board),
            emulator_elf=emulator_elf_name(board), keep_input=keep_input)
    _render(env, "main.c.j2", out / "main.c", board=board, mode=mode, source=source)
    _render(env, "vad_config.h.j2", out / "vad_config.h", board=board, mode=mode, source=source,
            has_head=has_head)
    _render(env, "board_config.h.j2", out / "board" / "board_config.h", board=board)
    if not board.hosted:
        _render(env, "firmware.ld.j2", out / "board" / "firmware.ld", board=board,
                script="firmware.ld", ccm_origin=board.ccm_origin, emulated_copy=False)
    if board.qemu_ccm_origin:
        _render(env, "firmware.ld.j2", out / "board" / "firmware_qemu.ld", board=board,
                script="firmware_qemu.ld", ccm_origin=board.qemu_ccm_origin, emulated_copy=True)
    for name in ("vad_protocol.c", "vad_protocol.h", "vad_board.h"):
        shutil.copyfile(FIRMWARE_TEMPLATES / "protocol" / name, out / name)
    for name in ("vad_detector.c", "vad_detector.h"):
        shutil.copyfile(_APP / name, out / name)
    for name in ("vad_standalone.c", "vad_standalone.h", "vad_image_source.h", *SOURCES.values()):
        (out / name).unlink(missing_ok=True)  # no loop or source left from another mode
    if mode != "serve":
        for name in ("vad_standalone.c", "vad_standalone.h", "vad_image_source.h"):
            shutil.copyfile(_APP / name, out / name)
        shutil.copyfile(_APP / "sources" / SOURCES[source], out / SOURCES[source])
    write_header(out)
    for folder in board.source_dirs:
        for src in sorted((FIRMWARE_TEMPLATES / "boards" / folder).iterdir()):
            if src.is_file():
                shutil.copyfile(src, out / "board" / src.name)
    return out


def project_board(project_dir: str | Path) -> Board:
    """The board a project was written for (from its board/board_config.h; a TFLite Micro
    project keeps it in tflm/board/)."""
    cfg = Path(project_dir) / "board" / "board_config.h"
    if not cfg.is_file() and (Path(project_dir) / "tflm" / "board" / "board_config.h").is_file():
        cfg = Path(project_dir) / "tflm" / "board" / "board_config.h"
    match = _BOARD_NAME.search(cfg.read_text()) if cfg.is_file() else None
    if not match:
        raise BuildError(f"{project_dir} is not a firmware project: {cfg} is missing or names no board")
    return get_board(match.group(1))


def need_tool(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BuildError(f"{tool} not found: install it (apt install {_APT.get(tool, tool)})")
    return path


def _kb_message(what: str, need: int, board: Board) -> str:
    have = {"flash": board.flash_bytes, "RAM": board.ram_bytes, "CCM": board.ccm_bytes}[what]
    return f"needs {math.ceil(need / 1024)} KB of {what}, {board.name} has {have // 1024} KB"


def check_fit(board: Board, flash_bytes: int, ram_bytes: int, ccm_bytes: int = 0) -> None:
    """BuildError in kilobytes when the image does not fit the board's flash, RAM or CCM
    (the core-coupled RAM is counted apart from the main RAM)."""
    if board.flash_bytes is not None and flash_bytes > board.flash_bytes:
        raise BuildError(_kb_message("flash", flash_bytes, board))
    if board.ram_bytes is not None and ram_bytes > board.ram_bytes:
        raise BuildError(_kb_message("RAM", ram_bytes, board))
    if ccm_bytes > board.ccm_bytes:
        raise BuildError(_kb_message("CCM", ccm_bytes, board))


def parse_size(output: str) -> tuple[int, int]:
    """(flash, RAM) bytes from Berkeley-format ``size`` output: text+data, data+bss."""
    for line in output.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and all(f.isdigit() for f in fields[:3]):
            text, data, bss = (int(f) for f in fields[:3])
            return text + data, data + bss
    raise BuildError(f"cannot read the size tool's output: {output.strip()[:200]!r}")


def arena_budget(board: Board | str, tflite_path: str | Path, head=None, *,
                 keep_input: bool = False) -> int | None:
    """The arena the board leaves this model beside its IntHead's working memory and the
    firmware's I/O buffers (boards.arena_room): render's budget for patching "fit"."""
    from .boards import arena_room, io_bytes
    from .native.tflite_reader import read_tflite
    board = get_board(board) if isinstance(board, str) else board
    g = read_tflite(tflite_path)
    tin, tout = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
    cells = int(head.cells) if head is not None else 0
    return arena_room(board, head_ram_bytes=int(head.ram_bytes) if head is not None else 0,
                      io_bytes=io_bytes(int(tout.size), cells, int(tin.size) if keep_input else 0))


def model_fit(board: Board | str, tflite_path: str | Path, head=None, *, keep_input: bool = False,
              patching: str = "fit") -> str | None:
    """Does a quantized model (and its IntHead) fit the board, with boards.MARGIN to spare?
    None, or the reason in one line in kilobytes (boards.fits). The arena and weights come from
    the native runtime's own plan for this board as render makes it (split into CCM where the
    board has it; streaming "fit": the plain schedule if it fits, else streamed; patching
    "fit": layers run in bands only if the plan needs them to fit), so the search can ask
    before anything is rendered or built."""
    from .boards import arena_limit, fits, io_bytes
    from .native.codegen import build_plan
    board = get_board(board) if isinstance(board, str) else board
    budget = arena_budget(board, tflite_path, head, keep_input=keep_input)
    info = build_plan(tflite_path, arena_limit=arena_limit(board), streaming="fit", patching=patching,
                      arena_budget=budget).info
    output_bytes = int(np.prod(info.output_shape))
    cells = int(head.cells) if head is not None else 0
    return fits(board, weights_bytes=info.weights_bytes, arena_bytes=info.arena_bytes,
                head_bytes=int(head.flash_bytes) if head is not None else 0,
                head_ram_bytes=int(head.ram_bytes) if head is not None else 0,
                io_bytes=io_bytes(output_bytes, cells, int(np.prod(info.input_shape)) if keep_input else 0))


def ccm_bytes_of(sections_output: str, board: Board) -> int:
    """Bytes of the sections placed in the board's CCM, from ``size -A`` output."""
    if not board.ccm_bytes:
        return 0
    total = 0
    for line in sections_output.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
            size, addr = int(fields[1]), int(fields[2])
            if board.ccm_origin <= addr < board.ccm_origin + board.ccm_bytes:
                total += size
    return total


def first_error(log: str) -> str:
    for line in log.splitlines():
        if re.search(r"\berror:|undefined reference|\*\*\*", line):
            return line.strip()
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _remove_firmware(root: Path, board: Board) -> None:
    """A build that does not succeed leaves no firmware: emulate or flash would run an old
    program, or one that does not fit, as if it were this project's."""
    for name in {elf_name(board), emulator_elf_name(board), "build/firmware.bin", "build/size.json"}:
        (root / name).unlink(missing_ok=True)


def build_project(project_dir: str | Path, *, jobs: int = 4, timeout_s: float = 900,
                  extra_cflags: str = "", extra_ldflags: str = "") -> BuildResult:
    """Compile the project with make for the board it was written for, measure the ELF with
    ``size`` and check it fits: BuildError on a missing tool, a compile error, or a model
    too big for the board ("needs 312 KB of RAM, nano33ble has 256 KB")."""
    root = Path(project_dir).resolve()
    board = project_board(root)
    if not (root / "vad_model.h").is_file():
        raise BuildError(f"{root} has no model (vad_model.h): write it with "
                         "vadtool.native.write_model_sources first")
    need_tool("make")
    (root / "build").mkdir(exist_ok=True)
    _remove_firmware(root, board)  # make keeps the previous link when a compile fails
    args = []
    if extra_cflags:
        args.append(f"EXTRA_CFLAGS={extra_cflags}")
    if extra_ldflags:
        args.append(f"EXTRA_LDFLAGS={extra_ldflags}")
    run_make(root, board, root / "build" / "build.log", timeout_s, jobs, args)
    try:
        return measure_and_check(board, root / elf_name(board))
    except BuildError:  # linked, but too big for the board: nothing runnable stays
        _remove_firmware(root, board)
        raise


def run_make(folder: Path, board: Board, log_path: Path, timeout_s: float, jobs: int, args: list[str]) -> None:
    """make in folder, the log to log_path; BuildError naming the first error, or a region
    overflow in kilobytes ("needs 312 KB of RAM, nano33ble has 256 KB")."""
    need_tool(board.cc)
    cmd = ["make", "-C", str(folder), "--no-print-directory", f"-j{jobs}", *args]
    try:
        proc = run_child(cmd, timeout_s)  # make and its compilers stop with vadtool
    except subprocess.TimeoutExpired:
        raise BuildError(f"firmware build in {folder} took longer than {timeout_s:.0f} s") from None
    log = proc.stdout + proc.stderr
    log_path.write_text(log)
    if proc.returncode != 0:
        over = {m.group(1): int(m.group(2)) for m in _OVERFLOW.finditer(log)}
        if "RAM" in over and board.ram_bytes is not None:
            raise BuildError(_kb_message("RAM", board.ram_bytes + over["RAM"], board))
        if "CCM" in over:
            raise BuildError(_kb_message("CCM", board.ccm_bytes + over["CCM"], board))
        if "FLASH" in over and board.flash_bytes is not None:
            raise BuildError(_kb_message("flash", board.flash_bytes + over["FLASH"], board))
        raise BuildError(f"firmware build for {board.name} failed: {first_error(log)} "
                         f"(full log: {log_path})")


def measure_and_check(board: Board, elf: Path) -> BuildResult:
    """Flash, RAM and CCM use of a linked ELF (``size``), checked against the board."""
    size_tool = need_tool("size" if board.hosted else "arm-none-eabi-size")
    size = subprocess.run([size_tool, "-B", str(elf)], capture_output=True, text=True)
    if size.returncode != 0:
        raise BuildError(f"{Path(size_tool).name} failed on {elf}: {size.stderr.strip()}")
    flash_bytes, ram_bytes = parse_size(size.stdout)
    ccm_bytes = 0
    if board.ccm_bytes:  # Berkeley's bss counts the CCM sections too: take them out
        sections = subprocess.run([size_tool, "-A", "-d", str(elf)], capture_output=True, text=True)
        ccm_bytes = ccm_bytes_of(sections.stdout, board)
        ram_bytes -= ccm_bytes
    check_fit(board, flash_bytes, ram_bytes, ccm_bytes)
    return BuildResult(elf, flash_bytes, ram_bytes, board.name, ccm_bytes)
