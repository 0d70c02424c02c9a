"""Render stage: a quantized run in, a self-contained firmware project out.

The project holds the board files, protocol server, detector and (--mode standalone/both)
the standalone loop (build.write_project_files), the model as C (native.write_model_sources),
the FOMO-AD integer head as C (head_c, from head_int.npz; it runs on the device after the
network), and vadtool_project.json saying what it was rendered from. It is rendered into a
temporary folder and renamed into place, so an interrupted render leaves the old project intact.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import __version__
from .errors import RenderError, naming_disk_full
from .locking import writing
from .rundir import Run, publish_mode, write_json

PROJECT_MANIFEST = "vadtool_project.json"


def _replace_dir(staged: Path, out: Path) -> None:
    if out.exists():
        if not (out / PROJECT_MANIFEST).is_file() and any(out.iterdir()):
            raise RenderError(f"{out}: exists and is not a vadtool firmware project; "
                              "choose another --out or empty it")
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        staged.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staged.rename(out)


INT_HEAD = "head_int.npz"  # the integer head quantize writes when the density has a C form


def render(run_dir: Path, board_name: str, out: Path, *, keep_input: bool = False,
           mode: str = "serve", source: str = "protocol", streaming: str = "fit",
           patching: str = "fit") -> dict:
    """Write the native firmware project for `board_name`; returns its project manifest.
    mode: serve (the protocol), standalone (image source -> detector -> UART line and LED)
    or both; source: the standalone loop's image source (build.SOURCES); streaming: the memory
    plan's convolution-into-depthwise streaming (native.build_plan: fit, the default: the plain
    schedule, fastest, where its arena fits the board's RAM, else streamed where that lowers the
    arena; auto: streamed wherever that lowers the arena; off: the plain schedule); patching:
    the first layers run in bands (native/patch.py) only where the plan without them does not
    fit the board's RAM (fit, the default: the option with the fewest extra MACs that fits),
    where that lowers the arena at all (auto), or never (off); the manifest's "streaming" and
    "patching" say what the planner chose. Holds out's write lock
    (locking.writing) throughout."""
    with writing(out, "render"):
        return _render(run_dir, board_name, out, keep_input, mode, source, streaming, patching)


def _render(run_dir: Path, board_name: str, out: Path, keep_input: bool, mode: str, source: str,
            streaming: str, patching: str = "fit") -> dict:
    from .boards import get_board
    run = Run.open(run_dir)
    tflite = run.file("model_int8.tflite")
    board = get_board(board_name)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        with naming_disk_full(out):
            project = _render_into(staged, run, board, tflite, keep_input, mode, source, streaming,
                                   patching)
        publish_mode(staged, directory=True)
        _replace_dir(staged, out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return project


def _render_into(staged: Path, run: Run, board, tflite: Path, keep_input: bool, mode: str, source: str,
                 streaming: str = "fit", patching: str = "fit") -> dict:
    """Write the project's files into staged; its manifest."""
    from .boards import arena_limit
    from .build import arena_budget, write_project_files
    from .native import write_model_sources
    has_head = run.kind == "fomo-ad"  # every density has an integer head in C
    write_project_files(staged, board.name, keep_input=keep_input, mode=mode, source=source,
                        has_head=has_head)
    # streaming and patching fit: the arena the board leaves beside the head's memory and the
    # I/O buffers
    budget = None
    if "fit" in (patching, streaming):
        head = None
        if has_head:
            from .models.int_head import IntHead
            head = IntHead.load(run.file(INT_HEAD))
        budget = arena_budget(board, tflite, head, keep_input=keep_input)
    # on a board with CCM, what of the arena the main RAM cannot hold goes there
    info = write_model_sources(tflite, staged, version=__version__, arena_limit=arena_limit(board),
                               arena2_section=".ccm", streaming=streaming, patching=patching,
                               arena_budget=budget)
    project = {
        "vadtool_version": __version__, "board": board.name, "runtime": "native",
        "run": str(run.path.resolve()), "kind": run.kind, "model_hash": info.model_hash,
        "input_shape": list(info.input_shape), "output_shape": list(info.output_shape),
        "arena_bytes": info.arena_bytes, "arena_ccm_bytes": info.arena2_bytes,
        "weights_bytes": info.weights_bytes,
        "macs": info.macs, "ops": sorted(set(info.ops)), "keep_input": keep_input,
        "mode": mode, "source": source if mode != "serve" else None,
        "streaming": {"mode": streaming, "pairs": [list(p) for p in info.streamed]},
        "patching": {"mode": patching, "arena_budget_bytes": budget, "note": info.patch_note,
                     **({"bands": info.patch["bands"], "split_op": info.patch["split_op"],
                         "extra_macs": info.patch["extra_macs"],
                         "arena_unpatched_bytes": info.patch["arena_unpatched"]} if info.patch else {})},
    }
    if run.kind == "fomo-ad":
        project["head"] = _render_head(run, staged, info)
    write_json(staged / PROJECT_MANIFEST, project)
    return project


def _render_head(run: Run, out: Path, info) -> dict:
    """The integer head's sources (it runs on the device after the network); what the
    project manifest says of it."""
    from .device.protocol import head_kind_code
    from .head_c import check_head_fits, write_head_sources
    from .models.int_head import IntHead
    head_path = run.file(INT_HEAD)
    head = IntHead.load(head_path)
    head_kind_code(head.kind)  # a kind the protocol can name, or ProtocolError
    check_head_fits(head, head_path, info.output_shape, info.output_scale, info.output_zero_point)
    banner = f"Generated by vadtool {__version__} from model {info.model_hash}. Do not edit."
    write_head_sources(head, out, banner)
    return {**head.describe(), "c_head": True, "on_device": True}


def read_project(project_dir: Path) -> dict:
    path = Path(project_dir) / PROJECT_MANIFEST
    if not path.is_file():
        raise RenderError(f"{project_dir}: not a firmware project (no {PROJECT_MANIFEST}); "
                          "create one with vadtool render RUN --board BOARD --out DIR")
    return json.loads(path.read_text())
