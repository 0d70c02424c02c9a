"""Benchmark: runs x runtimes -> one table of metrics, training time, int8 drift and sizes."""

from __future__ import annotations

from pathlib import Path

from .evaluate import evaluate
from .rundir import Run
from .train import Progress, _quiet

COLUMNS = [  # (key, header, format)
    ("dataset", "dataset", "{}"), ("kind", "model", "{}"), ("runtime", "runtime", "{}"),
    ("image_auroc", "image AUROC", "{:.4f}"), ("image_f1", "F1", "{:.3f}"),
    ("best_f1", "best F1", "{:.3f}"), ("cell_auroc", "cell AUROC", "{:.4f}"),
    ("pixel_auroc", "pixel AUROC", "{:.4f}"), ("ms_per_image", "ms/image (host)", "{:.1f}"),
    ("auroc_drift", "int8-float AUROC", "{:+.4f}"), ("train_seconds", "train s", "{:.1f}"),
    ("model_bytes", "int8 model B", "{:,}"), ("tflm_arena_bytes", "TFLM arena B", "{:,}"),
]


def bench_run(run_dir: Path, runtimes: list[str], data: Path | None = None,
              limit: int | None = None, progress: Progress = _quiet) -> list[dict]:
    from .tflm_arena import minimal_arena_bytes
    run = Run.open(run_dir)
    common = {"dataset": Path(run.manifest["data"]["root"]).name if data is None else Path(data).name,
              "run": str(run.path), "train_seconds": run.manifest.get("train_seconds")}
    if run.has("model_int8.tflite"):
        common["model_bytes"] = run.manifest["quantization"]["model_bytes"]
        if run.manifest.get("tflm_arena_bytes") is None:
            run.manifest["tflm_arena_bytes"] = minimal_arena_bytes(run.file("model_int8.tflite"))
            run.save()
        common["tflm_arena_bytes"] = run.manifest["tflm_arena_bytes"]
    rows = []
    for runtime in runtimes:
        row = {**common, **evaluate(run_dir, data, runtime, limit=limit, progress=progress)}
        rows.append(row)
    floats = [r for r in rows if r["runtime"] == "float"]
    for r in rows:
        if floats and r["runtime"] != "float" and r["image_auroc"] is not None:
            r["auroc_drift"] = r["image_auroc"] - floats[0]["image_auroc"]
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [fmt.format(r[k]) if r.get(k) is not None else "–" for k, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
