"""The vadtool command line: thin Click wrappers over the stage functions.

One error boundary: a VadError (a problem the user can fix) prints one line and exits 2;
--debug shows its traceback. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import json
from dataclasses import replace
import sys
from pathlib import Path

import click

from . import __version__
from .errors import VadError, disk_full
from .models.density import KINDS as DENSITY_KINDS, POOLINGS
from .geometry import RESIZES
from .runners import RUNTIMES
from .commands_tracking import track_run, tracking_options

from .cli_types import COUNT, EXISTING, FINITE, NEW, OUT_DIR, OUT_FILE, SEED, TCP_PORT, FiniteFloat


class VadGroup(click.Group):
    """Click group whose invoke is the single place user errors become one line."""

    def invoke(self, ctx):
        from . import interrupts
        previous = interrupts.install()  # SIGTERM and SIGHUP clean up as Ctrl-C does
        try:
            return self._invoke(ctx, interrupts)
        finally:
            interrupts.restore(previous)

    def _invoke(self, ctx, interrupts):
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:  # a bad option or argument: the same one line as a VadError
            _close_reporter(ctx)
            where = exc.ctx.command_path if exc.ctx is not None else "vadtool"
            click.echo(f"error: {exc.format_message()} (see {where} --help)", err=True)
            ctx.exit(2)
        except VadError as exc:
            _close_reporter(ctx)
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt as exc:
            _close_reporter(ctx)
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: interrupted ({getattr(exc, 'signame', 'SIGINT')}); "
                       "nothing half-written was left behind", err=True)
            ctx.exit(interrupts.EXIT_CODE)
        except Exception as exc:
            full = disk_full(exc)
            if full is None:
                raise
            _close_reporter(ctx)
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {full}", err=True)
            ctx.exit(2)


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
    """Print counts per split and defect type, the image sizes, the input shape training would
    use, and every problem found."""
    from .data import check
    ds, problems = check(root)
    if ds is not None:
        click.echo(f"{root}: {ds.layout} layout, masks: {'yes' if ds.has_masks else 'no'}")
        for split, defects in ds.counts().items():
            parts = ", ".join(f"{d} {n}" for d, n in defects.items())
            click.echo(f"  {split}: {parts}")
        _echo_sizes(ds)
    for p in problems:
        click.echo(f"problem: {p}")
    if problems:
        raise VadError(f"{root}: {len(problems)} problem(s) found; fix them and run data check again")
    click.echo("no problems found")


def _echo_sizes(ds) -> None:
    """Image sizes per split and the input shapes the default recipes would train at."""
    from dataclasses import replace as with_fields

    from . import geometry, search
    from .models import classifier, fomo_ad
    train_paths = [s.path for s in ds.split("train") if s.label == 0]
    for split in ("train", "test"):
        paths = [s.path for s in ds.split(split)]
        if paths:
            click.echo(f"  {split} image sizes: {geometry.describe_sizes(geometry.image_sizes(paths))}")
    recipe = fomo_ad.FomoAdRecipe()
    stride = search.output_stride(recipe)
    sides = search.input_sides(recipe.size, stride)
    shapes = [geometry.resolve_recipe(with_fields(recipe, size=side), stride, train_paths)[1] for side in sides]
    click.echo(f"  train fomo-ad input: {shapes[0]}, searched against "
               f"{', '.join(f'{s.width}x{s.height}' for s in shapes[1:]) or 'no other'} (shorter sides "
               f"{'/'.join(map(str, sides))}, median aspect, multiples of {stride}; --size fixes it)")
    recipe = classifier.ClassifierRecipe()
    _, shape = geometry.resolve_recipe(recipe, classifier.output_stride(recipe), train_paths)
    click.echo(f"  train classifier input: {shape} (shorter side {recipe.size}, median aspect, "
               f"multiples of {classifier.output_stride(recipe)}; --size and --resize change it)")


@data.command("synth")
@click.argument("out", type=OUT_DIR)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--kind", type=click.Choice(["object", "texture"]), default="object", show_default=True)
@click.option("--size", default=128, show_default=True, help="Image height in pixels.")
@click.option("--aspect", type=FINITE, default=1.0, show_default=True,
              help="Width / height: 3 draws elongated parts (a bar) 3 times wider than high.")
@click.option("--train", "n_train", type=COUNT, default=60, show_default=True, help="Normal training images.")
def data_synth(out, seed, kind, size, aspect, n_train):
    """Write a synthetic dataset in MVTec layout, with exact masks."""
    from .synth import MAX_ASPECT, make_dataset
    if size < 32 or not 1 / MAX_ASPECT <= aspect <= MAX_ASPECT:
        raise VadError(f"--size {size} --aspect {aspect:g}: need a size of at least 32 px and an "
                       f"aspect within 1/{MAX_ASPECT:g}..{MAX_ASPECT:g}")
    path = make_dataset(out, seed=seed, kind=kind, size=size, n_train=n_train, aspect=aspect)
    click.echo(f"wrote {path}")


# ---------------------------------------------------------------- train

@cli.group()
def train():
    """Train a model into a run directory."""


def _recipe_input(kind: str, recipe_file, options: dict) -> dict:
    """The recipe file's keys and the recipe options, checked against the one schema
    (recipe_schema.py) before TensorFlow loads. options: recipe key -> (option name, value)."""
    from . import recipe_schema
    loaded = recipe_schema.load_file(recipe_file, kind) if recipe_file else {}
    given = {key: (option, value) for key, (option, value) in options.items() if value is not None}
    for key, (option, value) in given.items():
        recipe_schema.check_option(kind, key, value, option)
    backbone = {key.split(".")[1]: value for key, (_, value) in given.items() if key.startswith("backbone.")}
    recipe_schema.check_consistent({**loaded, "backbone": {**loaded.get("backbone", {}), **backbone}}, kind,
                                   " and ".join([str(recipe_file)] * bool(recipe_file)
                                                + [option for option, _ in given.values()]))
    return loaded


def _recipe(cls, loaded: dict, recipe_file, overrides: dict, backbone_overrides: dict, shape_fields: dict):
    """Defaults from the dataclass, then the recipe file's keys (`loaded`, checked by
    _recipe_input), then command-line options (shape_fields: --size and --resize as
    geometry.recipe_overrides gives them; --size S clears a recipe's shape). The input scaling
    follows the weights (the FOMO-AD 0.35 file expects [0, 1]). An explicit shape is checked
    against the network's output stride here, before any training."""
    from . import geometry, recipe_schema
    from .models.backbone import BackboneSpec, default_input_scale, resolve_weights
    base = cls().to_json()
    base.update({k: v for k, v in loaded.items() if k != "backbone"})
    base["backbone"].update(loaded.get("backbone", {}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    base.update(shape_fields)
    base["backbone"].update({k: v for k, v in backbone_overrides.items() if v is not None})
    given = [f"--{k}" for k, v in backbone_overrides.items() if v is not None]
    recipe_schema.check_consistent(base, "classifier" if "anomaly_share" in base else "fomo-ad",
                                   " and ".join(filter(None, [str(recipe_file or ""), *given])) or "the recipe")
    weights = resolve_weights(BackboneSpec(**base["backbone"]))
    base["backbone"]["input_scale"] = default_input_scale(weights)
    recipe = cls.from_json(base)
    if recipe.shape:
        from .models import classifier, fomo_ad
        stride = (fomo_ad if cls is fomo_ad.FomoAdRecipe else classifier).output_stride(recipe)
        geometry.check_shape(recipe.shape, stride, "--size" if "shape" in shape_fields else f"{recipe_file}: shape")
    return recipe


def _common_train_options(fn):
    fn = click.option("--threshold", type=FINITE, help="Decision threshold (default: best F1 on the validation set).")(fn)
    fn = click.option("--recipe", type=EXISTING, help="JSON recipe (see models/); options override it.")(fn)
    fn = click.option("--alpha", type=float, help="Backbone width (0.35-1.0).")(fn)
    fn = click.option("--weights", help="imagenet (Keras download), a weights file or a folder; "
                      "default from $VADTOOL_WEIGHTS, else imagenet.")(fn)
    fn = click.option("--resize", type=click.Choice(RESIZES), help="How an image meets the input shape: "
                      "squash (stretch), fit (keep the aspect, pad) or crop (keep the aspect, centre-crop); "
                      "default squash.")(fn)
    fn = click.option("--size", help="Input size: one side in pixels (the shorter; the other follows the "
                      "training images' median aspect ratio) or WIDTHxHEIGHT (e.g. 160x400).")(fn)
    fn = click.option("--out", "-o", type=OUT_DIR, required=True, help="Run directory to create.")(fn)
    return click.argument("data", type=EXISTING)(fn)


@train.command("fomo-ad")
@tracking_options
@_common_train_options
@click.option("--cut", help="Backbone layer to cut at (block_6_expand_relu: stride 8).")
@click.option("--density", type=click.Choice(DENSITY_KINDS), help="Density of normal cells (default knn: "
              "distance to the nearest normal cell; every density runs on the device as integer C).")
@click.option("--components", type=int, help="Mixture components for --density gmm.")
@click.option("--image-score", type=click.Choice(POOLINGS), help="How cell scores pool into the image score.")
@click.option("--bank-kb", type=FiniteFloat(min=0, min_open=True),
              help="knn: the device's int8 coreset of normal cells in KB (greedy k-center; default 64).")
@click.option("--project", type=click.IntRange(min=1),
              help="Project cell features to this many whitened principal components (a 1x1 "
                   "convolution in the network): more knn cells in the same bytes.")
@click.option("--backbone", type=EXISTING, help="An imported backbone (run of `vadtool import`, or an .onnx file) instead of MobileNetV2.")
@click.option("--preprocess", type=click.Choice(["imagenet", "unit", "raw"]), default="imagenet", show_default=True,
              help="With --backbone MODEL.onnx: the input scaling the ONNX model expects.")
@click.option("--search/--no-search", default=None,
              help="Choose layers, pooling, density and image score on the validation set "
                   "[default: on, unless --recipe or one of those options is given].")
@click.option("--val", "val_dir", type=click.Path(file_okay=False),
              help="Your own validation images: DIR/good/ and DIR/<defect>/ (masks as <stem>_mask.png); "
                   "the search and the threshold use them beside the synthetic anomalies.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Held-back split and synthetic anomalies.")
@click.option("--board", help="Keep to what fits this board (see `vadtool boards`): per backbone, the two "
                              "largest input sizes of the board's list that fit, compared on validation; the "
                              "candidates that fit its flash, RAM and latency budget; a knn bank as large as "
                              "its flash and latency budget allow.")
@click.option("--max-instructions", type=click.FloatRange(min=0), metavar="MILLIONS",
              help="With --board: the latency budget, millions of Cortex-M4 instructions per image "
                   "(network and head; 0: none) [default: the board's, see `vadtool boards`].")
@click.pass_context
def train_fomo_ad(ctx, data, out, size, resize, weights, alpha, recipe, threshold, cut, density,
                  components, image_score, bank_kb, project, backbone, preprocess, search, val_dir, seed,
                  board, max_instructions):
    """FOMO-AD detector: frozen backbone cut early, density of normal cell features.

    By default the recipe is searched: part of the normal training images is held back, synthetic
    defects are painted on them, and the candidate with the best validation AUROC is kept; the
    threshold is the one with the best F1 on that validation set. Test images are never read."""
    from .geometry import recipe_overrides
    from .rundir import check_out
    check_out(out)  # before TensorFlow loads and before any work
    from .data import discover
    discover(data)  # so does a dataset that is not one
    shape_fields = recipe_overrides(size, resize)  # a bad --size fails before TensorFlow loads
    if val_dir is not None:
        from .validation import user_folder
        user_folder(Path(val_dir))  # a --val without anomalies fails before TensorFlow loads
    explicit = [name for name, v in (("--recipe", recipe), ("--cut", cut), ("--density", density),
                                     ("--components", components), ("--image-score", image_score),
                                     ("--project", project)) if v is not None]
    if search and explicit:
        raise VadError(f"--search chooses what {explicit[0]} sets; leave one of them out")
    search = not explicit if search is None else search
    loaded = _recipe_input("fomo-ad", recipe, {"components": ("--components", components),
                                               "backbone.alpha": ("--alpha", alpha),
                                               "backbone.cut": ("--cut", cut)})
    if board is not None:
        from .boards import get_board
        get_board(board)  # an unknown board fails before TensorFlow loads
    elif max_instructions is not None:
        raise VadError("--max-instructions is a board's latency budget; give --board too")
    from .models.fomo_ad import FomoAdRecipe
    from .train import train_fomo_ad as run_training
    if backbone is not None and board is not None:
        raise VadError("--board does not apply to an imported --backbone yet; leave it out")
    if backbone is not None:
        given = [name for name, v in (("--size", size), ("--resize", resize), ("--weights", weights), ("--alpha", alpha),
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
        track_run(ctx, run.path)
        return
    r = _recipe(FomoAdRecipe, loaded, recipe, {"density": density, "components": components,
                                       "image_score": image_score, "bank_kb": bank_kb,
                                       "project": project},
                {"weights": weights, "alpha": alpha, "cut": cut}, shape_fields)
    if search and bank_kb is None:
        # no board to fit: the host scores the int8 head, so a searched knn bank stays whole
        # (KNN_BANK_CELLS cells); --bank-kb asks for a coreset of that many KB
        r = replace(r, bank_kb=0)
    run = run_training(data, out, r, threshold=threshold, progress=reporter(ctx), search=search,
                       val_dir=Path(val_dir) if val_dir else None, seed=seed, board=board,
                       fixed_bank=bank_kb is not None, fixed_size=size is not None,
                       max_instructions=None if max_instructions is None else int(max_instructions * 1e6))
    m = run.manifest
    if "search" in m:
        chosen = next(c for c in m["search"]["candidates"] if c.get("chosen"))
        click.echo(f"search: {len(m['search']['candidates'])} candidates in {m['search']['seconds']:.0f} s; "
                   f"chose {chosen['candidate']} (validation AUROC {chosen['rank_key']:.3f}, "
                   f"{chosen['head_params']:,} head parameters)")
    if "board" in m:
        _echo_board_choice(m)
    click.echo(f"wrote {run.path}: input {_input_text(m)}, grid {m['output']['grid']}, "
               f"threshold {m['threshold']:.4g} ({m['threshold_source']}), {m['train_seconds']:.1f} s")
    track_run(ctx, run.path)


def _echo_board_choice(m) -> None:
    b, e = m["board"], m["board"]["estimate"]
    excluded = sum("excluded" in c for c in m.get("search", {}).get("candidates", []))
    for t in b["not_fitting"]:
        click.echo(f"board {b['name']}: {t['option']} does not fit: {t['reason']}")
    for c in b.get("compared", []):  # one search per base, the best on validation kept
        click.echo(f"board {b['name']}: {'chose' if c['chosen'] else 'compared'} {c['option']} "
                   f"({c['input'][1]}x{c['input'][0]}): best {c['candidate'].split(' @ ')[0]}, validation AUROC "
                   f"{c['val_auroc']:.3f}, ~{c['instructions'] / 1e6:.1f} M instructions")
    click.echo(f"board {b['name']}: {b['base']}, {m['recipe']['density']} head"
               + (f" ({m['recipe']['bank_kb']:g} KB bank)" if m["recipe"]["density"] == "knn" else "")
               + f"; estimated {(e['macs'] + e['head_macs']) / 1e6:.1f} M MACs (head {e['head_macs'] / 1e6:.1f} M), "
               f"weights {e['weights_bytes'] / 1024:.0f} KB + head {e['head_flash_bytes'] / 1024:.0f} KB, "
               f"arena {e['arena_bytes'] / 1024:.0f} KB"
               + (f"; {excluded} candidates did not fit" if excluded else ""))


def _input_text(manifest) -> str:
    from .geometry import InputGeometry
    return str(InputGeometry.from_manifest(manifest))


@train.command("classifier")
@tracking_options
@_common_train_options
@click.option("--arch", type=click.Choice(["mobilenet_v1", "mobilenet_v2"]), help="Backbone architecture.")
@click.option("--anomaly-share", type=float, help="Share of each defect type's test images used for training (MVTec).")
@click.pass_context
def train_classifier(ctx, data, out, size, resize, weights, alpha, recipe, threshold, arch, anomaly_share):
    """Supervised baseline: pretrained MobileNet with a small softmax head."""
    from .geometry import recipe_overrides
    from .rundir import check_out
    check_out(out)  # before TensorFlow loads and before any work
    from .data import discover
    discover(data)  # so does a dataset that is not one
    shape_fields = recipe_overrides(size, resize)  # a bad --size fails before TensorFlow loads
    loaded = _recipe_input("classifier", recipe, {"anomaly_share": ("--anomaly-share", anomaly_share),
                                                  "backbone.alpha": ("--alpha", alpha)})
    from .models.classifier import ClassifierRecipe
    from .train import train_classifier as run_training
    r = _recipe(ClassifierRecipe, loaded, recipe, {"anomaly_share": anomaly_share},
                {"weights": weights, "alpha": alpha, "arch": arch}, shape_fields)
    run = run_training(data, out, r, threshold=threshold, progress=reporter(ctx))
    m = run.manifest
    click.echo(f"wrote {run.path}: input {_input_text(m)}, {len(m['train_images'])} training images, "
               f"train accuracy {m['fit']['accuracy']:.3f}, {m['train_seconds']:.1f} s")
    track_run(ctx, run.path)


# ---------------------------------------------------------------- quantize, evaluate, predict

@cli.command()
@tracking_options
@click.argument("run", type=EXISTING)
@click.option("--calib", type=EXISTING, help="Folder of calibration images (default: the run's training images).")
@click.pass_context
def quantize(ctx, run, calib):
    """Write the full-int8 model (int8 input and output) and report the drift. A run made by
    `vadtool import` is int8 already: nothing to do (exit 0), so `make quantize` over a folder
    of runs goes on."""
    from .rundir import Run
    opened = Run.open(run)  # a broken run fails here, before TensorFlow loads
    if opened.imported and calib is None:
        click.echo(f"{run}: already int8 ({opened.path / 'model_int8.tflite'}, written by vadtool import); "
                   "nothing to do")
        return
    from .locking import writing
    with writing(run, "quantize"):  # a busy run fails before TensorFlow loads
        from .quantize import quantize as run_quantize
        report = run_quantize(run, calib, progress=reporter(ctx))
    drift = {k: round(v, 4) for k, v in report.items() if k.endswith("correlation")}
    click.echo(f"wrote {Path(run) / 'model_int8.tflite'} ({report['model_bytes']} bytes), "
               f"calibrated on {report['calibration']}; float vs int8 {drift}")
    track_run(ctx, run)


@cli.command()
@tracking_options
@click.argument("run", type=EXISTING)
@click.option("--data", type=EXISTING, help="Dataset to evaluate on (default: the training dataset's test split).")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="float", show_default=True)
@click.option("--limit", type=COUNT, help="Evaluate at most N test images.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON object.")
@click.pass_context
def evaluate(ctx, run, data, runtime, limit, as_json):
    """Image AUROC and F1, cell and pixel AUROC, latency, in one runtime."""
    from .evaluate import evaluate as run_evaluate, save_evaluation
    result = run_evaluate(run, data, runtime, limit=limit, progress=reporter(ctx), keep_scores=True)
    save_evaluation(run, result)
    track_run(ctx, run)
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
@click.option("--out", "-o", type=OUT_DIR, required=True, help="Folder for <stem>.json and <stem>_mask.png.")
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


# QEMU under -icount runs the firmware at the host's pace: on a loaded machine an answer that
# takes milliseconds on a board can take seconds
EMULATED_REPLY_TIMEOUT_S = 30.0


@cli.command()
@tracking_options
@click.argument("runs", type=EXISTING, nargs=-1, required=True)
@click.option("--runtime", "runtimes", default="float,litert,tflm", show_default=True,
              help="Comma-separated host runtimes: float, litert, tflm, native.")
@click.option("--port", help="Benchmark on the device at PORT instead (/dev/ttyACM0, socket://HOST:PORT, host:FIRMWARE).")
@click.option("--project", type=EXISTING, help="With --port or --emulate: the built firmware project (for its flash and RAM use).")
@click.option("--emulate", is_flag=True, help="Start QEMU with --project's firmware and benchmark over its serial port.")
@click.option("--reply-timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="With --port or --emulate: how long to wait for the device's answer to each "
                   "frame it is sent [default: 5 s on a port, 30 s under --emulate, where QEMU on "
                   "a busy machine may pause for seconds].")
@click.option("--data", type=EXISTING, help="Dataset to evaluate on (default: each run's own).")
@click.option("--limit", type=COUNT, help="At most N test images per run.")
@click.option("--markdown", type=OUT_FILE, help="Also write the table to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON.")
@click.pass_context
def bench(ctx, runs, runtimes, port, project, emulate, reply_timeout, data, limit, markdown, as_json):
    """Evaluate runs in host runtimes, or one run on a device, and print one table.

    On a device every output is checked against the TFLite Micro interpreter bit for bit;
    under QEMU the time is counted in instructions (-icount shift=0), on a board in cycles."""
    from .bench import bench_device, bench_run, device_table, markdown_table
    from .evaluate import save_evaluation
    from .rundir import write_bytes
    if emulate:
        if project is None or port:
            raise VadError("--emulate needs --project DIR (a built firmware project) and no --port")
        from .build import emulator_elf_name, project_board
        from .device.emulator import start_emulator
        board = project_board(project)
        with start_emulator(Path(project) / emulator_elf_name(board), board.name) as emu:
            ctx.invoke(bench, runs=runs, runtimes=runtimes, port=emu.url, project=project,
                       emulate=False, reply_timeout=reply_timeout or EMULATED_REPLY_TIMEOUT_S, data=data,
                       limit=limit, markdown=markdown, as_json=as_json)
        return
    if port:
        if len(runs) != 1:
            raise VadError("--port benchmarks one run; give exactly one RUN")
        result = bench_device(runs[0], port, data, limit, project, progress=reporter(ctx),
                              reply_timeout=reply_timeout)
        save_evaluation(runs[0], result)
        del result["scores"]
        table = device_table([result])
        if markdown:
            write_bytes(markdown, table.encode())
        track_run(ctx, runs[0], {"bench": markdown} if markdown else None)
        if as_json:
            emit_json(result)
        else:
            click.echo(table)
        if result["mismatches"]:
            which = ", ".join(f"{k} {v}" for k, v in result["mismatch_counts"].items() if v)
            raise VadError(f"{result['mismatches']} of {result['n_images']} device answers differ from "
                           f"the host's (TFLite Micro output, integer head): {which}")
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
    for run in runs:
        track_run(ctx, run, {"bench": markdown} if markdown else None)
    if as_json:
        emit_json(rows)
    else:
        click.echo(table)


# ---------------------------------------------------------------- firmware

@cli.command()
@click.argument("run", type=EXISTING)
@click.option("--board", required=True, help="Board profile (see `vadtool boards`).")
@click.option("--out", "-o", type=OUT_DIR, required=True, help="Firmware project folder to write.")
@click.option("--keep-input", is_flag=True, help="Keep a copy of the input (more RAM) for warm-up and repeated runs.")
@click.option("--runtime", type=click.Choice(["native", "tflm"]), default="native", show_default=True,
              help="native: vadtool's C runtime; tflm: the .tflite as a C array for TFLite Micro builds.")
@click.option("--mode", type=click.Choice(["serve", "standalone", "both"]), default="serve", show_default=True,
              help="serve: the serial protocol; standalone: image source -> detector -> one UART line per "
                   "image and the board's LED; both: the protocol, whose STANDALONE request starts the loop.")
@click.option("--source", type=click.Choice(["protocol", "semihosting", "camera"]), default="protocol",
              show_default=True, help="The standalone loop's images: pushed with LOAD_INPUT, read from a "
                                      "file by semihosting (QEMU), or a camera driver you implement.")
@click.option("--streaming", type=click.Choice(["fit", "auto", "off"]), default="fit", show_default=True,
              help="Native memory plan: stream a convolution into its depthwise layer (a smaller arena, "
                   "more instructions) only if the plain plan does not fit the board's RAM (fit), "
                   "wherever that lowers the arena (auto), or never (off: the plain plan).")
@click.option("--patching", type=click.Choice(["fit", "auto", "off"]), default="fit", show_default=True,
              help="Native memory plan: run the first layers in bands (halo rows computed again, more "
                   "instructions) only if the plan does not fit the board's RAM without them (fit: the "
                   "fewest extra MACs that fit), wherever that lowers the arena (auto), or never (off).")
def render(run, board, out, keep_input, runtime, mode, source, streaming, patching):
    """Write a self-contained firmware project: runtime, model as C, head, board files, Makefile."""
    if runtime == "tflm":
        if mode != "serve":
            raise VadError("--mode standalone/both is for the native runtime; the TFLM project serves the protocol")
        from .commands_onnx import render_tflm
        render_tflm(run, board, out, keep_input=keep_input)
        return
    from .render import render as run_render
    project = run_render(run, board, out, keep_input=keep_input, mode=mode, source=source,
                         streaming=streaming, patching=patching)
    head = project.get("head")
    click.echo(f"wrote {out} for {project['board']}: model {project['model_hash'][:12]}, "
               f"{project['macs'] / 1e6:.2f} M MACs, arena {project['arena_bytes']:,} B, "
               f"weights {project['weights_bytes']:,} B, operators {', '.join(project['ops'])}; "
               + (f"{head['kind']} head on the device" if head else "no head on the device")
               + (f"; {mode} ({source} images)" if mode != "serve" else ""))
    click.echo(f"memory plan: {project['patching']['note']}")


@cli.command()
@click.argument("project", type=EXISTING)
@click.option("--tflm-dir", type=click.Path(file_okay=False, path_type=Path),
              help="TFLite Micro project: the tflite-micro checkout to build against (default: $TFLM_DIR).")
@click.option("--kernels", type=click.Choice(["cmsis_nn", "reference"]),
              help="TFLite Micro project: CMSIS-NN (the Cortex-M default) or reference kernels.")
def build(project, tflm_dir, kernels):
    """Compile a rendered project and print its flash and RAM use (fails if it does not fit)."""
    from .build import build_project, project_board
    from .rundir import write_json
    from .locking import writing
    from .tflm_build import build_tflm_project, is_tflm_project
    manifest = {}
    with writing(project, "build"):
        if is_tflm_project(project):
            result, kernels = build_tflm_project(project, tflm_dir=tflm_dir, kernels=kernels)
        else:
            from .render import read_project
            manifest = read_project(project)  # a firmware project, or one line saying how to make one
            if tflm_dir or kernels:
                raise VadError("--tflm-dir and --kernels are for TFLite Micro projects (render --runtime tflm)")
            result = build_project(project)
        write_json(Path(project) / "build" / "size.json",
                   {"board": result.board, "elf": str(result.elf), "flash_bytes": result.flash_bytes,
                    "ram_bytes": result.ram_bytes, "ccm_bytes": result.ccm_bytes,
                    **({"tflm_kernels": kernels} if kernels else {})})
    board = project_board(project)

    def of(have):
        return f" of {have / 1024:.0f} KB" if have else ""
    click.echo(f"built {result.elf}{f' (TFLite Micro, {kernels} kernels)' if kernels else ''}: "
               f"flash {result.flash_bytes / 1024:.1f} KB{of(board.flash_bytes)}, "
               f"RAM {result.ram_bytes / 1024:.1f} KB{of(board.ram_bytes)}"
               + (f", CCM {result.ccm_bytes / 1024:.1f} KB{of(board.ccm_bytes)}" if board.ccm_bytes else ""))
    if manifest.get("patching"):  # what the memory planner chose (render)
        click.echo(f"memory plan: {manifest['patching']['note']}")


@cli.command()
@click.argument("project", type=EXISTING)
@click.option("--port", "tcp_port", type=TCP_PORT, default=0, help="TCP port for the serial endpoint (default: a free one).")
@click.option("--images", type=EXISTING, help="A standalone firmware (render --mode standalone --source "
                                              "semihosting): run it on this folder's images and print its line per image.")
def emulate(project, tcp_port, images):
    """Run a built project's firmware in QEMU; prints the serial port, stops on Ctrl-C
    (or SIGTERM), and QEMU with it. With --images, runs a standalone firmware on a folder of
    images (read by semihosting) and prints what it decided for each."""
    import time

    from .build import emulator_elf_name, project_board
    from .device.emulator import start_emulator
    if images is not None:
        _emulate_images(project, images)
        return

    # Ctrl-C, SIGTERM and SIGHUP arrive as KeyboardInterrupt (interrupts.install) and stop QEMU
    board = project_board(project)
    elf = Path(project) / emulator_elf_name(board)
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


def _emulate_images(project: Path, folder: Path) -> None:
    from .build import emulator_elf_name, project_board
    from .device import standalone
    from .render import read_project
    manifest = read_project(project)
    if manifest.get("mode") != "standalone" or manifest.get("source") != "semihosting":
        raise VadError(f"{project}: --images needs a standalone firmware reading files: render it with "
                       "--mode standalone --source semihosting")
    board = project_board(project)
    files = standalone.image_files(folder)
    lines = standalone.run_emulated(Path(project) / emulator_elf_name(board), board.name,
                                    standalone.image_inputs(project, files))
    for path, line in zip(files, lines):
        click.echo(f"{path.name}: {line}")


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
               f"clock {info.clock_hz / 1e6:g} MHz, head {info.head_kind.lower().replace('_', '-')})")


@cli.command()
@click.option("--defaults", is_flag=True, help="Also the FOMO-AD recipe `train fomo-ad DATA --board B` starts "
                                               "from on square images (builds each candidate's graph: a few seconds).")
def boards(defaults):
    """List the board profiles: clock, memory, what a model may use (after the fit margin),
    emulator, LED and flasher."""
    from .boards import BOARDS, MARGIN, budget
    rows = [("board", "clock", "flash", "RAM", f"budget ({MARGIN:.0%} margin)", "per image", "emulated by",
             "LED", "flasher")]
    for b in BOARDS.values():
        ccm = f" + CCM {b.ccm_bytes // 1024}" if b.ccm_bytes else ""
        rows.append((b.name, f"{b.clock_hz / 1e6:g} MHz",
                     f"{b.flash_bytes // 1024} KB" if b.flash_bytes else "host",
                     f"{b.ram_bytes // 1024}{ccm} KB" if b.ram_bytes else "host",
                     budget(b).describe(),
                     f"{b.max_instructions / 1e6:g} M instr" if b.max_instructions else "-",
                     f"QEMU {b.qemu_machine}" if b.emulated else "-", b.led,
                     b.flasher or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    if defaults:
        _echo_board_defaults([b for b in BOARDS.values() if b.flash_bytes is not None])


def _echo_board_defaults(board_list) -> None:
    """Per board, the base recipe train --board would start from on square images, the
    first fitting candidate's estimated cost and the knn bank it would get."""
    from . import board_fit
    from .models.fomo_ad import FomoAdRecipe
    recipe = _recipe(FomoAdRecipe, {}, None, {}, {}, {})
    click.echo("\ntrain fomo-ad --board B on square images starts from:")
    for b in board_list:
        base = board_fit.choose_base(b, recipe, [], search=True)
        cost = board_fit.recipe_cost(base.recipe, board=b)
        knn = board_fit.bank_kb_for(b, base.recipe)
        h, w = base.recipe.shape
        click.echo(f"  {b.name}: {base.option.name} ({w}x{h}); first candidate that fits: {cost.describe()}; "
                   f"knn bank {knn:g} KB")


# Commands that live beside their core (commands_*.py), registered here.
from .commands_onnx import export, import_cmd  # noqa: E402
from .commands_report import report  # noqa: E402
from .commands_tracking import runs, track  # noqa: E402
from .commands_serve import serve, shadow, store  # noqa: E402

cli.add_command(import_cmd)
cli.add_command(export)
cli.add_command(report)
cli.add_command(runs)
cli.add_command(track)
for command in (serve, shadow, store):
    cli.add_command(command)


def main():
    cli(prog_name="vadtool")


if __name__ == "__main__":
    sys.exit(main())
