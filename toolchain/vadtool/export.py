"""Export a run's model for other tools: the int8 .tflite, a C array, or a float ONNX model.

    export_model(run_dir, fmt, out) -> dict      fmt: "tflite", "c-array", "onnx"

tflite   a copy of model_int8.tflite (its sha256 checked against the manifest first)
c-array  model.c + model.h: the .tflite byte for byte as a 16-byte aligned const array and
         its length (the .c compiles as C99 and as C++)
onnx     the float network (model.keras) through tf2onnx, NHWC input like the Keras model

Every file is written atomically; a failed export leaves nothing behind.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import ModelError, VadError
from .rundir import Run, atomic_path, sha256, write_bytes

FORMATS = ("tflite", "c-array", "onnx")
ONNX_OPSET = 13
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExportError(VadError):
    """The model cannot be exported in the asked format."""


# ---------------------------------------------------------------- C arrays

def c_array_sources(blob: bytes, symbol: str, header_name: str, banner: str) -> tuple[str, str]:
    """(header, source) for `blob` as `const unsigned char symbol[]` aligned to 16 bytes, and
    `const unsigned int symbol_len`. The source compiles as C99 and C++ (extern "C")."""
    if not _IDENT.match(symbol):
        raise ExportError(f"{symbol!r} is not a C identifier; choose another name")
    guard = re.sub(r"[^A-Za-z0-9]", "_", header_name).upper()
    header = (
        f"/* {header_name}: {banner} */\n"
        f"#ifndef {guard}\n#define {guard}\n\n"
        "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
        f"#define {symbol.upper()}_LEN {len(blob)}u\n"
        f"extern const unsigned char {symbol}[];\n"
        f"extern const unsigned int {symbol}_len;\n\n"
        "#ifdef __cplusplus\n}\n#endif\n\n"
        f"#endif /* {guard} */\n"
    )
    rows = []
    for i in range(0, len(blob), 16):
        rows.append("  " + ", ".join(f"0x{b:02x}" for b in blob[i:i + 16]) + ",")
    source = (
        f"/* {banner} */\n"
        f"#include \"{header_name}\"\n\n"
        "/* 16-byte alignment: TFLite Micro reads the flatbuffer's tables in place. */\n"
        "#if defined(__cplusplus) && __cplusplus >= 201103L\n"
        "#define VAD_ALIGN16 alignas(16)\n"
        "#elif defined(__GNUC__) || defined(__clang__) || defined(__ICCARM__) || defined(__CC_ARM)\n"
        "#define VAD_ALIGN16 __attribute__((aligned(16)))\n"
        "#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L\n"
        "#define VAD_ALIGN16 _Alignas(16)\n"
        "#else\n#define VAD_ALIGN16\n#endif\n\n"
        f"VAD_ALIGN16 const unsigned char {symbol}[{max(len(blob), 1)}] = {{\n"
        + ("\n".join(rows) if rows else "  0x00,") + "\n};\n"
        f"const unsigned int {symbol}_len = {len(blob)}u;\n"
    )
    return header, source


_HEX = re.compile(r"0x([0-9a-fA-F]{2})")


def parse_c_array(source: str) -> bytes:
    """The bytes of the first brace-delimited array in a source written by c_array_sources."""
    start, end = source.index("{", source.index("VAD_ALIGN16 const")), source.index("};")
    return bytes(int(h, 16) for h in _HEX.findall(source[start:end]))


# ---------------------------------------------------------------- export

def _int8_model(run: Run) -> Path:
    return run.file("model_int8.tflite")  # checks presence and sha256


def export_tflite(run: Run, out: Path) -> dict:
    src = _int8_model(run)
    blob = src.read_bytes()
    write_bytes(out, blob)
    return {"format": "tflite", "files": [str(out)], "bytes": len(blob), "sha256": sha256(out)}


def export_c_array(run: Run, out: Path, symbol: str = "g_vad_model_data") -> dict:
    """out is the .c file (or a folder: <folder>/model.c and model.h); the header sits beside it."""
    src = _int8_model(run)
    blob = src.read_bytes()
    out = Path(out)
    if out.is_dir() or out.suffix == "":
        out = out / "model.c"
    if out.suffix not in (".c", ".cc", ".cpp"):
        raise ExportError(f"{out}: give a .c (or .cc) file name, or a folder, for --format c-array")
    header_path = out.with_suffix(".h")
    banner = f"{src.name} of run {run.path.name} (sha256 {sha256(src)}), written by vadtool"
    header, source = c_array_sources(blob, symbol, header_path.name, banner)
    write_bytes(header_path, header.encode())
    write_bytes(out, source.encode())
    return {"format": "c-array", "files": [str(out), str(header_path)], "bytes": len(blob),
            "symbol": symbol}


def export_onnx(run: Run, out: Path, opset: int = ONNX_OPSET) -> dict:
    """The float Keras model as ONNX via tf2onnx (NHWC float input, pixels 0..255)."""
    source = run.manifest.get("onnx")
    if source and not run.has("model.keras"):
        raise ExportError(f"{run.path} was imported from {source['file']} (sha256 "
                          f"{source['sha256'][:12]}...); that file is its float ONNX model")
    keras_path = run.file("model.keras")
    try:
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        raise ExportError("ONNX export needs tf2onnx: pip install tf2onnx==1.17.0") from exc
    from .tfenv import captured_output, keras, tf
    try:
        model = keras.models.load_model(keras_path, compile=False)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise ModelError(f"{keras_path}: cannot be loaded ({type(exc).__name__}); retrain the run") from exc
    shape = tuple(model.input.shape)
    spec = (tf.TensorSpec((1,) + tuple(shape[1:]), tf.float32, name="image"),)
    fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
    import warnings
    try:
        with captured_output(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=opset)
    except Exception as exc:  # tf2onnx raises anything from its graph rewriting
        raise ExportError(f"ONNX export with tf2onnx failed: {str(exc).splitlines()[0][:200]}; "
                          "export --format tflite instead") from exc
    with atomic_path(Path(out)) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return {"format": "onnx", "files": [str(out)], "bytes": Path(out).stat().st_size,
            "opset": opset, "input": [1] + list(shape[1:]), "layout": "NHWC"}


def export_model(run_dir: Path, fmt: str, out: Path) -> dict:
    run = Run.open(run_dir)
    if fmt == "tflite":
        return export_tflite(run, Path(out))
    if fmt == "c-array":
        return export_c_array(run, Path(out))
    if fmt == "onnx":
        return export_onnx(run, Path(out))
    raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
