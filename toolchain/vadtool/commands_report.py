"""`vadtool report`: the Click wrapper over vadtool.report.build_report.

Registered in cli.py with `cli.add_command(report)`.
"""

from __future__ import annotations

from pathlib import Path

import click

from .commands_tracking import track_run, tracking_options
from .errors import VadError

REPORT_RUNTIMES = ("float", "litert", "tflm", "native", "device")


def _runtimes(values: tuple[str, ...]) -> list[str]:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in REPORT_RUNTIMES]
    if unknown:
        raise VadError(f"unknown runtime {unknown[0]!r}; choose from {', '.join(REPORT_RUNTIMES)}")
    return names


@click.command("report")
@tracking_options
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True,
              help="Folder for index.html and its images (created; files of an earlier report are replaced).")
@click.option("--data", type=click.Path(exists=True, path_type=Path),
              help="Dataset the report is about (default: the run's training dataset's test split).")
@click.option("--runtime", "runtimes", multiple=True,
              help="Runtime(s) to show, comma-separated or repeated: float, litert, tflm, native, device. "
                   "Stored evaluations (RUN/evaluations/) are used; the others are evaluated now. "
                   "The first one is plotted. Default: every stored evaluation (float if none).")
@click.option("--gallery", default=24, show_default=True, type=click.IntRange(min=0),
              help="Test images in the gallery, the most wrong first.")
@click.pass_context
def report(ctx, run, out, data, runtimes, gallery):
    """Write a static HTML report of a run: metrics per runtime, curves, gallery, manifest."""
    from .cli import reporter
    from .report import build_report
    progress = reporter(ctx)
    try:
        index = build_report(run, out, data=data, runtimes=_runtimes(runtimes) or None,
                             gallery=gallery, progress=progress)
    finally:
        close = getattr(progress, "close", None)
        if close is not None:
            close()
    click.echo(str(index))
    track_run(ctx, run, {"report": out})
