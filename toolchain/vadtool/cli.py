"""The vadtool command line: thin Click wrappers over the stage functions.

One error boundary: a VadError (a problem the user can fix) prints one line and exits 2;
--debug shows its traceback. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .errors import VadError
from .models.density import KINDS as DENSITY_KINDS, POOLINGS
from .runners import RUNTIMES

EXISTING = click.Path(exists=True, path_type=Path)
NEW = click.Path(path_type=Path)


class VadGroup(click.Group):
    """Click group whose invoke is the single place user errors become one line."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except VadError as exc:
            _close_reporter(ctx)
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            _close_reporter(ctx)
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=VadGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vadtool")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.pass_context
def cli(ctx, debug, quiet):
    """Visual anomaly detection for microcontrollers: train, quantize, evaluate, deploy."""
    ctx.ensure_object(dict)
    ctx.obj.update(debug=debug, quiet=quiet)


def reporter(ctx):
    """The command's progress reporter (one per command, closed on success and on error)."""
    from .progress import Reporter
    root = ctx.find_root()
    root.ensure_object(dict)
    if "reporter" not in root.obj:
        root.obj["reporter"] = Reporter("quiet" if root.obj.get("quiet") else None)
        root.call_on_close(root.obj["reporter"].close)
    return root.obj["reporter"]


def _close_reporter(ctx) -> None:
    if ctx.obj and ctx.obj.get("reporter") is not None:
        ctx.obj["reporter"].close()


def emit_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2))


# ---------------------------------------------------------------- data

@cli.group()
def data():
    """Check image folders and make synthetic ones."""


@data.command("check")
@click.argument("root", type=NEW)
def data_check(root):
    """Print counts per split and defect type, and every problem found."""
    from .data import check
    ds, problems = check(root)
    if ds is not None:
        click.echo(f"{root}: {ds.layout} layout, masks: {'yes' if ds.has_masks else 'no'}")
        for split, defects in ds.counts().items():
            parts = ", ".join(f"{d} {n}" for d, n in defects.items())
            click.echo(f"  {split}: {parts}")
    for p in problems:
        click.echo(f"problem: {p}")
    if problems:
        raise VadError(f"{root}: {len(problems)} problem(s) found; fix them and run data check again")
    click.echo("no problems found")


@data.command("synth")
@click.argument("out", type=NEW)
@click.option("--seed", default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--kind", type=click.Choice(["object", "texture"]), default="object", show_default=True)
@click.option("--size", default=128, show_default=True, help="Image side in pixels.")
@click.option("--train", "n_train", default=60, show_default=True, help="Normal training images.")
def data_synth(out, seed, kind, size, n_train):
    """Write a synthetic dataset in MVTec layout, with exact masks."""
    from .synth import make_dataset
    path = make_dataset(out, seed=seed, kind=kind, size=size, n_train=n_train)
    click.echo(f"wrote {path}")


# ---------------------------------------------------------------- train

@cli.group()
def train():
    """Train a model into a run directory."""


def _recipe(cls, recipe_file, overrides: dict, backbone_overrides: dict):
    """Defaults from the dataclass, then the recipe file, then command-line options. The
    input scaling follows the weights (the FOMO-AD 0.35 file expects [0, 1])."""
    from .models.backbone import BackboneSpec, default_input_scale, resolve_weights
    base = cls().to_json()
    if recipe_file:
        try:
            loaded = json.loads(Path(recipe_file).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise VadError(f"{recipe_file}: not a readable JSON recipe ({exc})") from exc
        loaded.pop("description", None)
        base.update({k: v for k, v in loaded.items() if k != "backbone"})
        base["backbone"].update(loaded.get("backbone", {}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    base["backbone"].update({k: v for k, v in backbone_overrides.items() if v is not None})
    weights = resolve_weights(BackboneSpec(**base["backbone"]))
    base["backbone"]["input_scale"] = default_input_scale(weights)
    try:
        return cls.from_json(base)
    except TypeError as exc:
        raise VadError(f"{recipe_file}: unknown recipe field ({exc}); see the recipes in models/") from exc


def _common_train_options(fn):
    fn = click.option("--threshold", type=float, help="Decision threshold (default: from held-back normal images).")(fn)
    fn = click.option("--recipe", type=EXISTING, help="JSON recipe (see models/); options override it.")(fn)
    fn = click.option("--alpha", type=float, help="Backbone width (0.35-1.0).")(fn)
    fn = click.option("--weights", help="imagenet (Keras download), a weights file or a folder; "
                      "default from $VADTOOL_WEIGHTS, else imagenet.")(fn)
    fn = click.option("--size", type=int, help="Input side in pixels.")(fn)
    fn = click.option("--out", "-o", type=NEW, required=True, help="Run directory to create.")(fn)
    return click.argument("data", type=EXISTING)(fn)


@train.command("fomo-ad")
@_common_train_options
@click.option("--cut", help="Backbone layer to cut at (block_6_expand_relu: stride 8).")
@click.option("--density", type=click.Choice(DENSITY_KINDS), help="Density of normal cells (default knn: "
              "distance to the nearest normal cell; every density runs on the device as integer C).")
@click.option("--components", type=int, help="Mixture components for --density gmm.")
@click.option("--image-score", type=click.Choice(POOLINGS), help="How cell scores pool into the image score.")
@click.option("--bank-kb", type=click.FloatRange(min=0, min_open=True),
              help="knn: the device's int8 coreset of normal cells in KB (greedy k-center; default 64).")
@click.option("--project", type=click.IntRange(min=1),
              help="Project cell features to this many whitened principal components (a 1x1 "
                   "convolution in the network): more knn cells in the same bytes.")
@click.option("--backbone", type=EXISTING, help="An imported backbone (run of `vadtool import`, or an .onnx file) instead of MobileNetV2.")
@click.option("--preprocess", type=click.Choice(["imagenet", "unit", "raw"]), default="imagenet", show_default=True,
              help="With --backbone MODEL.onnx: the input scaling the ONNX model expects.")
@click.pass_context
def train_fomo_ad(ctx, data, out, size, weights, alpha, recipe, threshold, cut, density,
                  components, image_score, bank_kb, project, backbone, preprocess):
    """FOMO-AD detector: frozen backbone cut early, density of normal cell features."""
    from .models.fomo_ad import FomoAdRecipe
    from .train import train_fomo_ad as run_training
    if backbone is not None:
        given = [name for name, v in (("--size", size), ("--weights", weights), ("--alpha", alpha),
                                      ("--cut", cut), ("--recipe", recipe)) if v is not None]
        if given:
            raise VadError(f"{given[0]} does not apply to an imported --backbone; leave it out")
        if project:
            raise VadError("--project does not apply to an imported --backbone yet; leave it out")
        from .onnx_import import fit_fomo_ad_head
        r = FomoAdRecipe(**{k: v for k, v in (("density", density), ("components", components),
                                               ("image_score", image_score), ("bank_kb", bank_kb)) if v})
        run = fit_fomo_ad_head(backbone, data, out, r, threshold=threshold, preprocess=preprocess,
                               progress=reporter(ctx))
        click.echo(f"wrote {run.path}: grid {run.manifest['output']['grid']}, "
                   f"threshold {run.manifest['threshold']:.4g} (imported backbone)")
        return
    r = _recipe(FomoAdRecipe, recipe, {"size": size, "density": density, "components": components,
                                       "image_score": image_score, "bank_kb": bank_kb,
                                       "project": project},
                {"weights": weights, "alpha": alpha, "cut": cut})
    run = run_training(data, out, r, threshold=threshold, progress=reporter(ctx))
    m = run.manifest
    click.echo(f"wrote {run.path}: grid {m['output']['grid']}, threshold {m['threshold']:.4g}, "
               f"{m['train_seconds']:.1f} s")


@train.command("classifier")
@_common_train_options
@click.option("--arch", type=click.Choice(["mobilenet_v1", "mobilenet_v2"]), help="Backbone architecture.")
@click.option("--anomaly-share", type=float, help="Share of each defect type's test images used for training (MVTec).")
@click.pass_context
def train_classifier(ctx, data, out, size, weights, alpha, recipe, threshold, arch, anomaly_share):
    """Supervised baseline: pretrained MobileNet with a small softmax head."""
    from .models.classifier import ClassifierRecipe
    from .train import train_classifier as run_training
    r = _recipe(ClassifierRecipe, recipe, {"size": size, "anomaly_share": anomaly_share},
                {"weights": weights, "alpha": alpha, "arch": arch})
    run = run_training(data, out, r, threshold=threshold, progress=reporter(ctx))
    m = run.manifest
    click.echo(f"wrote {run.path}: {len(m['train_images'])} training images, "
               f"train accuracy {m['fit']['accuracy']:.3f}, {m['train_seconds']:.1f} s")


# ---------------------------------------------------------------- quantize, evaluate, predict

@cli.command()
@click.argument("run", type=EXISTING)
@click.option("--calib", type=EXISTING, help="Folder of calibration images (default: the run's training images).")
@click.pass_context
def quantize(ctx, run, calib):
    """Write the full-int8 model (int8 input and output) and report the drift."""
    from .quantize import quantize as run_quantize
    report = run_quantize(run, calib, progress=reporter(ctx))
    drift = {k: round(v, 4) for k, v in report.items() if k.endswith("correlation")}
    click.echo(f"wrote {Path(run) / 'model_int8.tflite'} ({report['model_bytes']} bytes), "
               f"calibrated on {report['calibration']}; float vs int8 {drift}")


@cli.command()
@click.argument("run", type=EXISTING)
@click.option("--data", type=EXISTING, help="Dataset to evaluate on (default: the training dataset's test split).")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="float", show_default=True)
@click.option("--limit", type=int, help="Evaluate at most N test images.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON object.")
@click.pass_context
def evaluate(ctx, run, data, runtime, limit, as_json):
    """Image AUROC and F1, cell and pixel AUROC, latency, in one runtime."""
    from .evaluate import evaluate as run_evaluate, save_evaluation
    result = run_evaluate(run, data, runtime, limit=limit, progress=reporter(ctx), keep_scores=True)
    save_evaluation(run, result)
    del result["scores"]
    if as_json:
        emit_json(result)
        return
    for key in ("runtime", "n_images", "image_auroc", "image_f1", "best_f1", "threshold",
                "cell_auroc", "pixel_auroc", "ms_per_image"):
        value = result[key]
        click.echo(f"{key:>13}: {value:.4f}" if isinstance(value, float) else f"{key:>13}: {value}")


@cli.command()
@click.argument("run", type=EXISTING)
@click.argument("images", type=EXISTING, nargs=-1, required=True)
@click.option("--out", "-o", type=NEW, required=True, help="Folder for <stem>.json and <stem>_mask.png.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="float", show_default=True)
@click.option("--visualize", is_flag=True, help="Also write <stem>_overlay.png: image | heatmap | predicted mask and boxes.")
@click.pass_context
def predict(ctx, run, images, out, runtime, visualize):
    """Score images: label, cell grid, boxes of anomalous cells and a mask per image."""
    from .predict import predict_files
    records = predict_files(run, list(images), out, runtime, progress=reporter(ctx))
    if visualize:
        from .report import write_overlay
        for r in records:
            write_overlay(r["image"], r, Path(out) / f"{Path(r['image']).stem}_overlay.png")
    for r in records:
        flag = "ANOMALOUS" if r["anomalous"] else "normal"
        click.echo(f"{r['image']}: {flag} score {r['score']:.4g} (threshold {r['threshold']:.4g})")


@cli.command()
@click.argument("runs", type=EXISTING, nargs=-1, required=True)
@click.option("--runtime", "runtimes", default="float,litert,tflm", show_default=True,
              help="Comma-separated host runtimes: float, litert, tflm, native.")
@click.option("--port", help="Benchmark on the device at PORT instead (/dev/ttyACM0, socket://HOST:PORT, host:FIRMWARE).")
@click.option("--project", type=EXISTING, help="With --port or --emulate: the built firmware project (for its flash and RAM use).")
@click.option("--emulate", is_flag=True, help="Start QEMU with --project's firmware and benchmark over its serial port.")
@click.option("--data", type=EXISTING, help="Dataset to evaluate on (default: each run's own).")
@click.option("--limit", type=int, help="At most N test images per run.")
@click.option("--markdown", type=NEW, help="Also write the table to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON.")
@click.pass_context
def bench(ctx, runs, runtimes, port, project, emulate, data, limit, markdown, as_json):
    """Evaluate runs in host runtimes, or one run on a device, and print one table.

    On a device every output is checked against the TFLite Micro interpreter bit for bit;
    under QEMU the time is counted in instructions (-icount shift=0), on a board in cycles."""
    from .bench import bench_device, bench_run, device_table, markdown_table
    from .evaluate import save_evaluation
    from .rundir import write_bytes
    if emulate:
        if project is None or port:
            raise VadError("--emulate needs --project DIR (a built firmware project) and no --port")
        from .build import elf_name, project_board
        from .device.emulator import start_emulator
        board = project_board(project)
        with start_emulator(Path(project) / elf_name(board), board.name) as emu:
            ctx.invoke(bench, runs=runs, runtimes=runtimes, port=emu.url, project=project,
                       emulate=False, data=data, limit=limit, markdown=markdown, as_json=as_json)
        return
    if port:
        if len(runs) != 1:
            raise VadError("--port benchmarks one run; give exactly one RUN")
        result = bench_device(runs[0], port, data, limit, project, progress=reporter(ctx))
        save_evaluation(runs[0], result)
        del result["scores"]
        table = device_table([result])
        if markdown:
            write_bytes(markdown, table.encode())
        if as_json:
            emit_json(result)
        else:
            click.echo(table)
        if result["mismatches"]:
            raise VadError(f"{result['mismatches']} of {result['n_images']} device outputs differ "
                           "from the TFLite Micro interpreter")
        return
    names = [r.strip() for r in runtimes.split(",") if r.strip()]
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown:
        raise VadError(f"unknown runtime {unknown[0]!r}; choose from {', '.join(RUNTIMES)}")
    rows = []
    for run in runs:
        rows.extend(bench_run(run, names, data, limit, progress=reporter(ctx)))
    table = markdown_table(rows)
    if markdown:
        write_bytes(markdown, table.encode())
    if as_json:
        emit_json(rows)
    else:
        click.echo(table)


# ---------------------------------------------------------------- firmware

@cli.command()
@click.argument("run", type=EXISTING)
@click.option("--board", required=True, help="Board profile (see `vadtool boards`).")
@click.option("--out", "-o", type=NEW, required=True, help="Firmware project folder to write.")
@click.option("--keep-input", is_flag=True, help="Keep a copy of the input (more RAM) for warm-up and repeated runs.")
@click.option("--runtime", type=click.Choice(["native", "tflm"]), default="native", show_default=True,
              help="native: vadtool's C runtime; tflm: the .tflite as a C array for TFLite Micro builds.")
def render(run, board, out, keep_input, runtime):
    """Write a self-contained firmware project: runtime, model as C, head, board files, Makefile."""
    if runtime == "tflm":
        from .commands_onnx import render_tflm
        render_tflm(run, board, out, keep_input=keep_input)
        return
    from .render import render as run_render
    project = run_render(run, board, out, keep_input=keep_input)
    click.echo(f"wrote {out} for {project['board']}: model {project['model_hash'][:12]}, "
               f"{project['macs'] / 1e6:.2f} M MACs, arena {project['arena_bytes']:,} B, "
               f"weights {project['weights_bytes']:,} B, operators {', '.join(project['ops'])}")


@cli.command()
@click.argument("project", type=EXISTING)
def build(project):
    """Compile a rendered project and print its flash and RAM use (fails if it does not fit)."""
    from .boards import get_board
    from .build import build_project
    from .render import read_project
    from .rundir import write_json
    board = get_board(read_project(project)["board"])
    result = build_project(project)
    write_json(Path(project) / "build" / "size.json",
               {"board": result.board, "elf": str(result.elf),
                "flash_bytes": result.flash_bytes, "ram_bytes": result.ram_bytes})

    def of(have):
        return f" of {have / 1024:.0f} KB" if have else ""
    click.echo(f"built {result.elf}: flash {result.flash_bytes / 1024:.1f} KB{of(board.flash_bytes)}, "
               f"RAM {result.ram_bytes / 1024:.1f} KB{of(board.ram_bytes)}")


@cli.command()
@click.argument("project", type=EXISTING)
@click.option("--port", "tcp_port", type=int, default=0, help="TCP port for the serial endpoint (default: a free one).")
def emulate(project, tcp_port):
    """Run a built project's firmware in QEMU; prints the serial port, stops on Ctrl-C
    (or SIGTERM), and QEMU with it."""
    import signal
    import time

    from .build import elf_name, project_board
    from .device.emulator import start_emulator

    def stop(signum, frame):
        raise KeyboardInterrupt
    # A background job starts with SIGINT ignored, and Python then never raises
    # KeyboardInterrupt; `kill` sends SIGTERM. Both must stop QEMU, not orphan it.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    board = project_board(project)
    elf = Path(project) / elf_name(board)
    with start_emulator(elf, board.name, tcp_port) as emu:
        click.echo(f"{board.name} running {elf} in QEMU {board.qemu_machine}; serial port: {emu.url}")
        click.echo("press Ctrl-C to stop", err=True)
        try:
            while emu.running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            click.echo("stopping the emulator", err=True)
            return
    raise VadError(f"QEMU stopped unexpectedly running {elf}")


@cli.command()
@click.argument("project", type=EXISTING)
@click.option("--port", required=True, help="Where the device answers: /dev/ttyACM0, COM3, socket://HOST:PORT.")
@click.option("--tool", help="Flasher to use instead of the board's default (openocd, pyocd, dfu-util, bossac, stm32flash).")
@click.option("--flash-port", help="Port for the flasher, when it differs from --port.")
def flash(project, port, tool, flash_port):
    """Flash the built firmware and check, over PORT, that the device runs this project's model."""
    from .device.flash import flash as run_flash
    info = run_flash(project, port, tool=tool, flash_port=flash_port)
    click.echo(f"{info.board} at {port} runs model {info.model_hash[:12]} "
               f"(input {'x'.join(map(str, info.input_shape))}, arena {info.arena_bytes:,} B, "
               f"clock {info.clock_hz / 1e6:g} MHz)")


@cli.command()
def boards():
    """List the board profiles."""
    from .boards import BOARDS
    for b in BOARDS.values():
        mem = (f"flash {b.flash_bytes // 1024} KB, RAM {b.ram_bytes // 1024} KB"
               if b.flash_bytes else "host memory")
        emu = f", emulated ({b.qemu_machine})" if b.emulated else ""
        click.echo(f"{b.name:12s} {b.description}; {mem}; flasher {b.flasher or '-'}{emu}")


# Commands that live beside their core (commands_*.py), registered here.
from .commands_onnx import export, import_cmd  # noqa: E402
from .commands_report import report  # noqa: E402

cli.add_command(import_cmd)
cli.add_command(export)
cli.add_command(report)


def main():
    cli(prog_name="vadtool")


if __name__ == "__main__":
    sys.exit(main())
