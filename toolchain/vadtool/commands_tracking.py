"""Tracking on the command line: --tracking-uri/--no-track on the tracked commands, the
warning when the store fails, and `vadtool runs` / `vadtool track`.

The tracked commands (train, quantize, evaluate, bench, report) take `@tracking_options`
and call `track_run(ctx, RUN)` once their work is in the run directory. A bad URI fails
before the work starts (exit 2); a store that fails afterwards (a server down) warns in one
line and the command still succeeds: the run directory is complete, and `vadtool track RUN`
logs it once the store answers. Registered in cli.py.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import click

from . import tracking
from .errors import TrackingError

URI_HELP = ("MLflow store: a server (http://HOST:5000), sqlite:///FILE.db or a folder "
            "[default: $MLFLOW_TRACKING_URI, else the run's own store, else ./mlflow.db].")


def tracking_options(fn):
    """--tracking-uri and --no-track (also $VADTOOL_NO_TRACK=1); the store's URI is checked
    before the command's work."""
    @click.option("--tracking-uri", "tracking_uri", metavar="URI", help=URI_HELP)
    @click.option("--no-track", "no_track", is_flag=True, envvar=tracking.NO_TRACK_ENV,
                  help=f"Do not log to MLflow (also ${tracking.NO_TRACK_ENV}=1).")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        settings = tracking.Settings(enabled=not kwargs.pop("no_track", False),
                                     uri=kwargs.pop("tracking_uri", None))
        root = click.get_current_context().find_root().ensure_object(dict)
        # bench --emulate invokes bench again, with the options' defaults: the first call's stand
        if "tracking" not in root:
            root["tracking"] = settings
            tracking.check_store(settings)
        return fn(*args, **kwargs)
    return wrapper


def track_run(ctx, run_dir: Path, artifacts: dict[str, Path] | None = None) -> None:
    """Log the run directory to its MLflow run; a failure is one warning line, not an error."""
    root = ctx.find_root().ensure_object(dict)
    settings = root.get("tracking", tracking.Settings(enabled=False))
    try:
        tracking.sync(run_dir, settings, artifacts)
    except TrackingError as exc:
        if root.get("debug"):
            import traceback
            traceback.print_exc()
        click.echo(f"warning: not tracked: {exc}; {run_dir} is complete, log it later with "
                   f"`vadtool track {run_dir}`", err=True)


@click.command("track")
@click.argument("runs", type=click.Path(exists=True, path_type=Path), nargs=-1, required=True)
@click.option("--tracking-uri", "tracking_uri", metavar="URI", help=URI_HELP)
def track(runs, tracking_uri):
    """Log run directories to MLflow now: runs made with --no-track, or while the store was down."""
    settings = tracking.Settings(uri=tracking_uri)
    tracking.check_store(settings)
    for run in runs:
        run_id = tracking.sync(run, settings)
        click.echo(f"{run}: MLflow run {run_id} in {tracking.store_uri(settings, _manifest(run))}")


def _manifest(run: Path) -> dict:
    from .rundir import Run
    return Run.open(run).manifest


# The key metrics `vadtool runs` shows: (header, metric names tried in order, format).
KEY_METRICS = (
    ("float AUROC", ("float/image_auroc",), "{:.4f}"),
    ("int8 AUROC (runtime)", ("tflm/image_auroc", "native/image_auroc", "litert/image_auroc"), "{:.4f}"),
    ("device AUROC", ("device/image_auroc",), "{:.4f}"),
    ("int8 model B", ("model_bytes",), "{:,.0f}"),
    ("arena B", ("device/arena_bytes", "tflm_arena_bytes"), "{:,.0f}"),
    ("M instr./inference", ("device/instructions_per_inference",), "{:.1f}"),
)


@click.command("runs")
@click.option("--tracking-uri", "tracking_uri", metavar="URI", help=URI_HELP)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="The newest N runs.")
@click.option("--json", "as_json", is_flag=True, help="Print every run's metrics as JSON.")
def runs(tracking_uri, limit, as_json):
    """List the tracked runs (newest first) and their key metrics from the MLflow store."""
    uri, found = tracking.list_runs(tracking.Settings(uri=tracking_uri), limit)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in found], indent=2))
        return
    if not found:
        click.echo(f"no vadtool runs in {uri}")
        return
    rows = [("run", "created", "kind", *(h for h, _, _ in KEY_METRICS), "MLflow run", "run directory")]
    for r in found:
        cells = []
        for header, names, fmt in KEY_METRICS:
            value = next((r.metrics[n] for n in names if n in r.metrics), None)
            if value is not None and header.startswith("M instr"):
                value /= 1e6
            runtime = next((n.split("/")[0] for n in names if n in r.metrics), "")
            text = "-" if value is None else fmt.format(value)
            cells.append(f"{text} ({runtime})" if value is not None and len(names) > 1 and "AUROC" in header else text)
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.start_time / 1000))
        rows.append((r.name, created, r.kind, *cells, r.run_id[:12], r.run_dir))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    click.echo(f"{uri}:")
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
