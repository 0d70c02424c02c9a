"""Click commands for ONNX import, export and the TFLite Micro project (registered in cli.py).

    import_cmd   `vadtool import MODEL.onnx --out RUN [--kind backbone|classifier] [--calib DIR]`
    export       `vadtool export RUN --format onnx|tflite|c-array --out PATH`
    render_tflm  what `vadtool render RUN --runtime tflm --board B --out DIR` calls

Thin wrappers, as in cli.py: the cores never print; errors are VadError subclasses that the
CLI boundary prints as one line (exit 2).
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_types import EXISTING, OUT_ANY, OUT_DIR


def _reporter(ctx):
    from .progress import Reporter
    return Reporter("quiet" if (ctx.obj or {}).get("quiet") else None)


def render_tflm(run: Path, board: str, out: Path, keep_input: bool = False) -> dict:
    """Write the TFLite Micro project and print one summary line; returns the summary."""
    from .tflm_project import write_tflm_project
    summary = write_tflm_project(run, board, out, keep_input=keep_input)
    arena = summary["arena"]
    click.echo(f"wrote {out} (TFLite Micro) for {summary['board']}: model "
               f"{summary['model_sha256'][:12]}, {summary['model_bytes']:,} B, arena "
               f"{arena['bytes']:,} B ({arena['measured_bytes']:,} measured + {arena['margin_bytes']:,} margin), "
               f"operators {', '.join(summary['operators'])}")
    return summary


@click.command("export")
@click.argument("run", type=EXISTING)
@click.option("--format", "fmt", type=click.Choice(["onnx", "tflite", "c-array"]), required=True,
              help="onnx: the float model; tflite: the int8 model; c-array: the int8 model as C.")
@click.option("--out", "-o", type=OUT_ANY, required=True,
              help="File to write (c-array: the .c file or a folder; the .h goes beside it).")
def export(run, fmt, out):
    """Export a run's model: int8 .tflite, C array + header, or float ONNX."""
    from .export import export_model
    result = export_model(run, fmt, out)
    click.echo(f"wrote {', '.join(result['files'])} ({result['bytes']:,} bytes, {fmt})")


@click.command("import")
@click.argument("model", type=EXISTING)
@click.option("--out", "-o", type=OUT_DIR, required=True, help="Run directory to create.")
@click.option("--kind", type=click.Choice(["backbone", "classifier"]), default="backbone", show_default=True,
              help="backbone: a feature extractor for `train fomo-ad --backbone`; classifier: "
                   "class probabilities, anomalous last.")
@click.option("--calib", type=EXISTING, required=True,
              help="Folder of calibration images (normal parts): int8 calibration and the float check.")
@click.option("--preprocess", type=click.Choice(["imagenet", "unit", "raw"]), default="imagenet",
              show_default=True, help="What the ONNX model expects: imagenet = (pixel/255 - mean)/std, "
                                      "unit = pixel/255, raw = pixel 0..255.")
@click.pass_context
def import_cmd(ctx, model, out, kind, calib, preprocess):
    """Import an ONNX model (NCHW or NHWC) as float and full-int8 TFLite, checked against onnxruntime."""
    from .geometry import InputGeometry
    from .onnx_import import import_onnx
    run = import_onnx(model, out, kind=kind, calib_dir=calib, preprocess=preprocess,
                      progress=_reporter(ctx))
    m = run.manifest
    check = m["onnx"]["float_check"]
    click.echo(f"wrote {run.path}: {m['onnx']['layout']} input {InputGeometry.from_manifest(m)}, "
               f"output {m['onnx']['tflite_output']}, float vs onnxruntime max error "
               f"{check['max_abs_error']:.3g} (relative {check['relative_error']:.3g}), "
               f"int8 correlation {m['quantization']['output_correlation']:.3f}")
