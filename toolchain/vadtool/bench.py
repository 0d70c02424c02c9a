"""Benchmark: runs x runtimes -> one table of metrics, training time, int8 drift and sizes."""

from __future__ import annotations

from pathlib import Path

from .errors import RenderError
from .evaluate import evaluate, save_evaluation
from .rundir import Run
from .progress import Progress, quiet

COLUMNS = [  # (key, header, format)
    ("dataset", "dataset", "{}"), ("kind", "model", "{}"), ("runtime", "runtime", "{}"),
    ("image_auroc", "image AUROC", "{:.4f}"), ("image_f1", "F1", "{:.3f}"),
    ("best_f1", "best F1", "{:.3f}"), ("cell_auroc", "cell AUROC", "{:.4f}"),
    ("pixel_auroc", "pixel AUROC", "{:.4f}"), ("ms_per_image", "ms/image (host)", "{:.1f}"),
    ("auroc_drift", "int8-float AUROC", "{:+.4f}"), ("train_seconds", "train s", "{:.1f}"),
    ("model_bytes", "int8 model B", "{:,}"), ("tflm_arena_bytes", "TFLM arena B", "{:,}"),
]


def bench_run(run_dir: Path, runtimes: list[str], data: Path | None = None,
              limit: int | None = None, progress: Progress = quiet) -> list[dict]:
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
        try:
            result = evaluate(run_dir, data, runtime, limit=limit, progress=progress, keep_scores=True)
        except RenderError as exc:  # e.g. an operator the native runtime lacks: say so, go on
            rows.append({**common, "kind": run.kind, "runtime": runtime, "note": str(exc)})
            continue
        save_evaluation(run_dir, result)
        del result["scores"]
        rows.append({**common, **result})
    floats = [r for r in rows if r["runtime"] == "float"]
    for r in rows:
        if floats and r["runtime"] != "float" and r.get("image_auroc") is not None:
            r["auroc_drift"] = r["image_auroc"] - floats[0]["image_auroc"]
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    notes = []
    for r in rows:
        cells = [fmt.format(r[k]) if r.get(k) is not None else "–" for k, _, fmt in COLUMNS]
        if r.get("note"):
            notes.append(r["note"])
            cells[2] += f" [{len(notes)}]"
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"[{i}] {note}" for i, note in enumerate(notes, 1)] if notes else []
    return "\n".join(lines) + "\n"


def bench_device(run_dir: Path, port: str, data: Path | None = None, limit: int | None = None,
                 project: Path | None = None, progress: Progress = quiet) -> dict:
    """Evaluate on the device over `port`, check every output against TFLM bit for bit, and
    report the device's own timing and the firmware's flash and RAM."""
    import json

    import numpy as np

    from .boards import get_board
    from .device.runner import DeviceRunner
    from .runners import TFLMRunner

    run = Run.open(run_dir)
    tflite = run.file("model_int8.tflite")
    runner = DeviceRunner(tflite, port)
    try:
        result = evaluate(run_dir, data, "device", limit=limit, runner=runner,
                          progress=progress, keep_scores=True)
    finally:
        runner.close()
    golden = TFLMRunner(tflite)
    mismatches = 0
    for i, (x, out) in enumerate(zip(runner.inputs, runner.outputs_int8)):
        mismatches += int(not np.array_equal(golden.run_int8(x[None]).ravel(), out.ravel()))
        progress("compare with tflm", i + 1, len(runner.inputs))
    board = get_board(runner.info.board)
    ticks = float(np.median(runner.ticks))
    per_run = ticks * 1e9 / runner.info.clock_hz if board.emulated else None  # -icount shift=0
    if runner.info.timer == "host_ns":  # the firmware as a host program: wall nanoseconds
        cycles, ms = None, ticks / 1e6
    else:
        cycles = None if board.emulated else int(ticks)
        ms = (per_run if board.emulated else ticks) / board.clock_hz * 1e3
    sizes = {}
    if project is not None:
        size_file = Path(project) / "build" / "size.json"
        if size_file.is_file():
            sizes = json.loads(size_file.read_text())
    result.update({
        "board": board.name, "port": port, "mismatches": mismatches,
        "timer": runner.info.timer,
        "cycles_per_inference": cycles,
        "instructions_per_inference": None if per_run is None else int(round(per_run)),
        "ms_per_inference_at_clock": ms,
        "clock_hz": board.clock_hz,
        "flash_bytes": sizes.get("flash_bytes"), "ram_bytes": sizes.get("ram_bytes"),
        "arena_bytes": runner.info.arena_bytes,
    })
    return result


DEVICE_COLUMNS = [
    ("board", "board", "{}"), ("kind", "model", "{}"), ("n_images", "images", "{}"),
    ("image_auroc", "image AUROC", "{:.4f}"), ("image_f1", "F1", "{:.3f}"),
    ("pixel_auroc", "pixel AUROC", "{:.4f}"), ("mismatches", "outputs ≠ tflm", "{}"),
    ("instructions_per_inference", "instructions (QEMU)", "{:,}"),
    ("cycles_per_inference", "cycles", "{:,}"),
    ("ms_per_inference_at_clock", "ms at board clock", "{:.1f}"),
    ("flash_bytes", "flash B", "{:,}"), ("ram_bytes", "RAM B", "{:,}"),
]


def device_table(rows: list[dict]) -> str:
    """The on-device table; under QEMU, ms at the board clock assume one instruction a cycle."""
    lines = ["| " + " | ".join(h for _, h, _ in DEVICE_COLUMNS) + " |",
             "|" + "---|" * len(DEVICE_COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(fmt.format(r[k]) if r.get(k) is not None else "–"
                                       for k, _, fmt in DEVICE_COLUMNS) + " |")
    return "\n".join(lines) + "\n"
