"""The TFLite Micro deployment path: a run directory -> a project for builds that have TFLM.

    write_tflm_project(run_dir, board_name, out_dir) -> dict

writes into out_dir (built in a temporary folder beside it, renamed at the end)::

    README.md, vadtool_tflm.json        what is here, what was checked
    src/   vad_model_data.c/.h          the .tflite byte for byte, 16-byte aligned, and its length
           vad_op_resolver.h            MicroMutableOpResolver<N>: exactly the model's operators
           vad_model_settings.h         shapes, quantization, grid, threshold, arena size
           vad_model.h, vad_model_tflm.cc   vadtool's model interface on the TFLM interpreter
           vad_head.c/.h                the FOMO-AD head (fomo-ad runs)
           vad_protocol.c/.h, protocol.h, vad_board.h,  the protocol server of the native firmware
           vad_config.h, vad_detector.c/.h              and its detector (network, then head)
    arduino/<sketch>/<sketch>.ino + src/   an Arduino sketch (Arduino_TensorFlowLite library)
    tflm/  main.c, board/, Makefile     a plain TFLM build for the board profile (what
                                        vadtool build runs, see vadtool.tflm_build)

The arena is measured with the TFLM interpreter (vadtool.tflm_arena, probes in subprocesses)
and a stated margin is added on top.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import jinja2
import numpy as np

from . import __version__
from .boards import FIRMWARE_TEMPLATES, Board, get_board
from .errors import RenderError
from .export import c_array_sources
from .geometry import InputGeometry
from .rundir import Run, publish_mode

SUMMARY = "vadtool_tflm.json"
SKETCH = "vadtool_tflm"
BAUD = 115200
MODEL_SYMBOL = "g_vad_model_data"
MARGIN_FRACTION = 0.10
MARGIN_MIN = 2048
MARGIN_RULE = "10 % of the measured size rounded up to whole KB, at least 2 KB"

# BuiltinOperator name -> the MicroMutableOpResolver method that registers it
# (tensorflow/lite/micro/micro_mutable_op_resolver.h).
RESOLVER_METHODS = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin", "ASSIGN_VARIABLE": "AddAssignVariable",
    "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo", "CALL_ONCE": "AddCallOnce", "CAST": "AddCast",
    "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D",
    "COS": "AddCos", "CUMSUM": "AddCumSum", "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "ELU": "AddElu", "EMBEDDING_LOOKUP": "AddEmbeddingLookup", "EQUAL": "AddEqual",
    "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill", "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv", "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected", "GATHER": "AddGather", "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual", "HARD_SWISH": "AddHardSwish",
    "IF": "AddIf", "L2_NORMALIZATION": "AddL2Normalization", "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog", "LOG_SOFTMAX": "AddLogSoftmax", "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_NOT": "AddLogicalNot", "LOGICAL_OR": "AddLogicalOr", "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D", "MAXIMUM": "AddMaximum", "MEAN": "AddMean",
    "MINIMUM": "AddMinimum", "MIRROR_PAD": "AddMirrorPad", "MUL": "AddMul", "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual", "PACK": "AddPack", "PAD": "AddPad", "PADV2": "AddPadV2",
    "PRELU": "AddPrelu", "QUANTIZE": "AddQuantize", "READ_VARIABLE": "AddReadVariable",
    "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin", "RELU": "AddRelu",
    "RELU6": "AddRelu6", "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "ROUND": "AddRound",
    "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape", "SIN": "AddSin",
    "SLICE": "AddSlice", "SOFTMAX": "AddSoftmax", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPACE_TO_DEPTH": "AddSpaceToDepth", "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV",
    "SQRT": "AddSqrt", "SQUARE": "AddSquare", "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "SQUEEZE": "AddSqueeze", "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub",
    "SUM": "AddSum", "SVDF": "AddSvdf", "TANH": "AddTanh", "TRANSPOSE": "AddTranspose",
    "TRANSPOSE_CONV": "AddTransposeConv", "UNPACK": "AddUnpack", "VAR_HANDLE": "AddVarHandle",
    "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
}

# TFLM's TARGET_ARCH for a board's -mcpu (for the Makefile's instructions).
_TFLM_ARCH = {"cortex-m4": "cortex-m4+fp", "cortex-m7": "cortex-m7+fp", "cortex-m33": "cortex-m33",
              "cortex-m0plus": "cortex-m0plus", "cortex-m55": "cortex-m55"}


def model_operators(tflite: Path) -> list[str]:
    """The distinct builtin operators of the model, in order of first use (from the flatbuffer)."""
    from .native.tflite_reader import read_tflite
    graph = read_tflite(tflite)
    names: list[str] = []
    for op in graph.operators:
        if op.name not in names:
            names.append(op.name)
    return names


def resolver_entries(ops: list[str]) -> list[dict]:
    """[{name, method}] for the op resolver; RenderError naming an op TFLM cannot register."""
    entries = []
    for name in ops:
        method = RESOLVER_METHODS.get(name)
        if method is None:
            what = "a custom operator" if name.startswith("CUSTOM") else "not in TFLite Micro's op resolver"
            raise RenderError(f"operator {name} is {what}; the model cannot run on TFLite Micro "
                              "(use the native runtime or re-export the model without it)")
        entries.append({"name": name, "method": method})
    return entries


def arena_margin(measured: int) -> int:
    return max(MARGIN_MIN, math.ceil(measured * MARGIN_FRACTION / 1024) * 1024)


def _cxx_of(cc: str) -> str:
    if cc == "cc":
        return "c++"
    return cc[:-3] + "g++" if cc.endswith("gcc") else cc + "++"


def _c_float(v: float) -> str:
    return f"{float(np.float32(v))!r}f"


def _model_context(run: Run, tflite: Path) -> dict:
    """Shapes and quantization from the flatbuffer, checked against the run manifest."""
    from .native.tflite_reader import read_tflite
    g = read_tflite(tflite)
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise RenderError(f"{tflite}: {len(g.inputs)} inputs and {len(g.outputs)} outputs; "
                          "vadtool models have one of each")
    tin, tout = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
    for t, what in ((tin, "input"), (tout, "output")):
        if t.dtype != "INT8" or t.scale.size != 1:
            raise RenderError(f"{tflite}: {what} is {t.dtype} without per-tensor quantization; "
                              "re-run vadtool quantize")
    if len(tin.shape) != 4 or tin.shape[0] != 1:
        raise RenderError(f"{tflite}: input shape {list(tin.shape)} is not (1, H, W, C)")
    m = run.manifest
    h, w = InputGeometry.from_manifest(m).shape_hw
    if tuple(tin.shape[1:3]) != (h, w):
        raise RenderError(f"{tflite}: input is {tin.shape[1]}x{tin.shape[2]} (HxW) but the run says "
                          f"{h}x{w}; re-run vadtool quantize")
    q = m.get("quantization", {})
    if "input_scale" in q and (abs(q["input_scale"] - float(tin.scale[0])) > 1e-6
                               or q["input_zero_point"] != int(tin.zero_point[0])):
        raise RenderError(f"{tflite}: input quantization differs from the manifest's; re-run vadtool quantize")
    ctx = dict(model_hash=g.model_hash, model_bytes=tflite.stat().st_size, kind=run.kind,
               in_h=tin.shape[1], in_w=tin.shape[2], in_c=tin.shape[3], input_bytes=tin.size,
               input_scale=_c_float(tin.scale[0]), input_zp=int(tin.zero_point[0]),
               output_shape=list(tout.shape), output_bytes=tout.size,
               output_scale=_c_float(tout.scale[0]), output_zp=int(tout.zero_point[0]),
               num_ops=len(g.operators), out_scale_value=float(tout.scale[0]))
    if run.kind == "fomo-ad":
        grid = list(m["output"]["grid"])
        if len(tout.shape) != 4 or list(tout.shape[1:3]) != grid:
            raise RenderError(f"{tflite}: output {list(tout.shape)} does not match the run's grid {grid}")
        threshold = m.get("threshold_int8", m["threshold"])
        source = "threshold_int8: fitted on the int8 features" if "threshold_int8" in m else "threshold"
        ctx.update(grid_h=grid[0], grid_w=grid[1], channels=tout.shape[3])
    else:
        classes = list(m["output"].get("classes", ["normal", "anomalous"]))
        threshold, source = m["threshold"], "threshold on the anomalous class probability"
        ctx.update(num_classes=len(classes), anomalous_index=classes.index("anomalous")
                   if "anomalous" in classes else len(classes) - 1)
    ctx.update(threshold=_c_float(threshold), threshold_value=float(threshold), threshold_source=source)
    return ctx


def _write_head(run: Run, ctx: dict, out_dir: Path, banner: str) -> list[str]:
    if run.kind != "fomo-ad":
        return []
    from .head_c import check_head_fits, write_head_sources
    from .models.int_head import IntHead
    path = run.file("head_int.npz")
    head = IntHead.load(path)
    check_head_fits(head, path, ctx["output_shape"], ctx["out_scale_value"], ctx["output_zp"])
    paths = write_head_sources(head, out_dir, banner)
    return [p.name for p in paths]


def _protocol_and_board(board: Board, src: Path, tflm: Path, has_head: bool) -> None:
    """The native firmware's protocol server and detector into src/, its main.c and board/
    into tflm/."""
    from .build import write_project_files
    with tempfile.TemporaryDirectory(prefix=".vadtool-project.", dir=src.parent) as tmp:
        write_project_files(tmp, board.name, has_head=has_head)
        tmp = Path(tmp)
        for name in ("vad_protocol.c", "vad_protocol.h", "vad_board.h", "protocol.h", "vad_config.h",
                     "vad_detector.c", "vad_detector.h"):
            shutil.copyfile(tmp / name, src / name)
        shutil.copyfile(tmp / "main.c", tflm / "main.c")
        shutil.copytree(tmp / "board", tflm / "board")


def write_tflm_project(run_dir: str | Path, board_name: str, out_dir: str | Path, *,
                       keep_input: bool = False) -> dict:
    """Write the TFLM project for a quantized run (see the module doc); returns its summary
    (also written to out_dir/vadtool_tflm.json). RenderError/ModelError when the run has no
    int8 model, an operator TFLM lacks, or the TFLM interpreter cannot run the model."""
    from .build import elf_name, emulator_elf_name
    from .tflm_arena import minimal_arena_bytes
    board = get_board(board_name)
    run = Run.open(run_dir)
    tflite = run.file("model_int8.tflite")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / SUMMARY).is_file())):
        raise RenderError(f"{out}: exists and is not a vadtool TFLM project; choose another --out")

    ops = resolver_entries(model_operators(tflite))
    ctx = _model_context(run, tflite)
    measured = minimal_arena_bytes(tflite)
    margin = arena_margin(measured)
    banner = (f"Generated by vadtool {__version__} from run {run.path.name} (model sha256 "
              f"{ctx['model_hash'][:16]}...) for {board.name}; do not edit, re-run vadtool render.")
    cpu = next((f.split("=", 1)[1] for f in board.cpu_flags if f.startswith("-mcpu=")), "")
    ctx.update(banner=banner, version=__version__, board=board, ops=ops, sketch=SKETCH, baud=BAUD,
               arena_measured=measured, arena_margin=margin, arena_bytes=measured + margin,
               margin_rule=MARGIN_RULE, run_dir=str(run.path), keep_input=keep_input,
               cc=board.cc, cxx=_cxx_of(board.cc), tflm_arch=_TFLM_ARCH.get(cpu, cpu),
               elf=elf_name(board), emulator_elf=emulator_elf_name(board))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FIRMWARE_TEMPLATES / "tflm")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)

    def render(template: str, path: Path) -> None:
        path.write_text(env.get_template(template).render(**ctx))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        src, tflm = tmp / "src", tmp / "tflm"
        src.mkdir()
        tflm.mkdir()
        blob = tflite.read_bytes()
        header, source = c_array_sources(blob, MODEL_SYMBOL, "vad_model_data.h", banner)
        (src / "vad_model_data.h").write_text(header)
        (src / "vad_model_data.c").write_text(source)
        render("vad_model_settings.h.j2", src / "vad_model_settings.h")
        render("vad_model.h.j2", src / "vad_model.h")
        render("vad_op_resolver.h.j2", src / "vad_op_resolver.h")
        render("vad_model_tflm.cc.j2", src / "vad_model_tflm.cc")
        head_files = _write_head(run, ctx, src, banner)
        ctx["has_c_head"] = bool(head_files)
        _protocol_and_board(board, src, tflm, has_head=ctx["has_c_head"])
        render("Makefile.j2", tflm / "Makefile")

        sketch = tmp / "arduino" / SKETCH
        shutil.copytree(src, sketch / "src")
        render("arduino/sketch.ino.j2", sketch / f"{SKETCH}.ino")
        render("arduino/vad_board_arduino.cpp.j2", sketch / "src" / "vad_board_arduino.cpp")
        render("README.md.j2", tmp / "README.md")

        summary = {
            "run": str(run.path.resolve()), "board": board.name, "kind": run.kind,
            "model_sha256": ctx["model_hash"], "model_bytes": len(blob),
            "operators": [e["name"] for e in ops],
            "resolver": f"tflite::MicroMutableOpResolver<{len(ops)}>",
            "arena": {"measured_bytes": measured, "margin_bytes": margin,
                      "bytes": measured + margin, "margin_rule": MARGIN_RULE,
                      "measured_with": "tflite_micro Python interpreter (reference kernels, 64-bit host)"},
            "input": [1, ctx["in_h"], ctx["in_w"], ctx["in_c"]],
            "output": ctx["output_shape"], "threshold": ctx["threshold_value"],
            "head": head_files,
            "builds": {"arduino": f"arduino/{SKETCH}/{SKETCH}.ino", "tflm": "tflm/Makefile"},
            "built_by": "vadtool build DIR (TFLM_DIR or --tflm-dir: a tflite-micro checkout)",
        }
        (tmp / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        for path in tmp.rglob("*"):
            publish_mode(path, directory=path.is_dir())
        publish_mode(tmp, directory=True)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except OSError as exc:
        raise RenderError(f"{out}: cannot write the project ({exc.strerror or exc})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary["out"] = str(out)
    return summary


def check_model_array(project_dir: str | Path, tflite: str | Path) -> bool:
    """Is src/vad_model_data.c the .tflite byte for byte? (parses the array back)"""
    from .export import parse_c_array
    text = (Path(project_dir) / "src" / "vad_model_data.c").read_text()
    return parse_c_array(text) == Path(tflite).read_bytes()

