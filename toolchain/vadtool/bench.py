"""Benchmark: runs x runtimes -> one table of metrics, training time, int8 drift and sizes."""

from __future__ import annotations

from pathlib import Path

from .errors import RenderError
from .evaluate import evaluate, save_evaluation
from .rundir import Run
from .progress import Progress, quiet

COLUMNS = [  # (key, header, format)
    ("dataset", "dataset", "{}"), ("kind", "model", "{}"), ("recipe", "recipe (search: chosen)", "{}"),
    ("input", "input WxH", "{}"), ("runtime", "runtime", "{}"),
    ("image_auroc", "image AUROC", "{:.4f}"), ("image_f1", "F1", "{:.3f}"),
    ("best_f1", "best F1", "{:.3f}"), ("cell_auroc", "cell AUROC", "{:.4f}"),
    ("pixel_auroc", "pixel AUROC", "{:.4f}"), ("ms_per_image", "ms/image (host)", "{:.1f}"),
    ("auroc_drift", "int8-float AUROC", "{:+.4f}"), ("train_seconds", "train s", "{:.1f}"),
    ("model_bytes", "int8 model B", "{:,}"), ("tflm_arena_bytes", "TFLM arena B", "{:,}"),
]


def recipe_summary(manifest: dict) -> str | None:
    """What a FOMO-AD run computes, in the search's words ("search: s8+s16 pool 7/2 knn max")."""
    if "search" in manifest:
        return f"search: {manifest['search']['chosen']}"
    recipe = manifest.get("recipe", {})
    if "density" not in recipe:
        return None
    from .search import Candidate
    layers = (recipe["backbone"]["cut"], *[l for l in recipe.get("extra_layers", []) if l != recipe["backbone"]["cut"]])
    return Candidate(layers, recipe["pool"], recipe["pool_stride"], recipe["density"], recipe["image_score"],
                     int(recipe.get("project") or 0)).name


def bench_run(run_dir: Path, runtimes: list[str], data: Path | None = None,
              limit: int | None = None, progress: Progress = quiet) -> list[dict]:
    from .tflm_arena import minimal_arena_bytes
    run = Run.open(run_dir)
    common = {"dataset": Path(run.manifest["data"]["root"]).name if data is None else Path(data).name,
              "run": str(run.path), "train_seconds": run.manifest.get("train_seconds"),
              "recipe": recipe_summary(run.manifest), "input": "{width}x{height}".format(**run.manifest["input"])
              if "height" in run.manifest.get("input", {}) else None}
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


RUNTIME_COLUMN = [key for key, _, _ in COLUMNS].index("runtime")  # where a row's note mark goes


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    notes = []
    for r in rows:
        cells = [fmt.format(r[k]) if r.get(k) is not None else "–" for k, _, fmt in COLUMNS]
        if r.get("note"):
            notes.append(r["note"])
            cells[RUNTIME_COLUMN] += f" [{len(notes)}]"
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"[{i}] {note}" for i, note in enumerate(notes, 1)] if notes else []
    return "\n".join(lines) + "\n"


def bench_device(run_dir: Path, port: str, data: Path | None = None, limit: int | None = None,
                 project: Path | None = None, progress: Progress = quiet,
                 reply_timeout: float | None = None) -> dict:
    """Evaluate on the device over `port` from its own answers (with a head on the device: its
    image scores and decisions), check every answer against the host bit for bit (the
    network's output against TFLM; the device head's image score, decision and cell scores
    against the run's IntHead on TFLM's output), and report the device's own timing and the
    firmware's flash and RAM. ``mismatches`` counts images with any difference,
    ``mismatch_counts`` which part differed. reply_timeout: seconds to wait for the answer to
    each frame (Timeouts.frame; HELLO waits at least as long); None: Timeouts' defaults."""
    import json

    import numpy as np

    from .boards import get_board
    from .device.runner import DeviceRunner
    from .runners import TFLMRunner

    run = Run.open(run_dir)
    tflite = run.file("model_int8.tflite")
    head = None
    if run.kind == "fomo-ad":
        from .models.int_head import IntHead
        head = IntHead.load(run.file("head_int.npz"))
    from dataclasses import replace

    from .device.client import Timeouts
    timeouts = Timeouts() if reply_timeout is None else replace(Timeouts(), frame=reply_timeout,
                                                               hello=max(Timeouts().hello, reply_timeout))
    runner = DeviceRunner(tflite, port, head=head, timeouts=timeouts)
    try:
        result = evaluate(run_dir, data, "device", limit=limit, runner=runner,
                          progress=progress, keep_scores=True)
    finally:
        runner.close()
    on_device = runner.info.has_head
    counts = compare_with_host(runner, TFLMRunner(tflite), head if on_device else None, progress)
    board = get_board(runner.info.board)
    per_image = [int(t) for t in runner.ticks]
    ticks = float(np.median(per_image))
    head_ticks = float(np.median(runner.head_ticks)) if on_device else None

    def instructions(t):  # QEMU -icount shift=0: one instruction per virtual nanosecond
        return None if t is None or not board.emulated else int(round(t * 1e9 / runner.info.clock_hz))
    per_run = ticks * 1e9 / runner.info.clock_hz if board.emulated else None
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
        "board": board.name, "port": port,
        "mismatches": counts.pop("images"), "mismatch_counts": counts,
        "head_on_device": on_device, "head_kind": runner.info.head_kind.lower().replace("_", "-"),
        "timer": runner.info.timer,
        "cycles_per_inference": cycles,
        "instructions_per_inference": instructions(ticks),
        "head_instructions_per_inference": instructions(head_ticks),
        "head_cycles_per_inference": (None if board.emulated or head_ticks is None
                                      or runner.info.timer == "host_ns" else int(head_ticks)),
        "ms_per_inference_at_clock": ms,
        "clock_hz": board.clock_hz,
        "flash_bytes": sizes.get("flash_bytes"), "ram_bytes": sizes.get("ram_bytes"),
        "ccm_bytes": sizes.get("ccm_bytes"),
        "arena_bytes": runner.info.arena_bytes,
    })
    return result


def compare_with_host(runner, golden, head, progress: Progress = quiet) -> dict:
    """Count the images whose device answers differ from the host's: the network's output
    (against `golden`, the TFLM interpreter) and, with a head on the device, its image score,
    decision and cell scores (against `head`, the IntHead, on the golden output)."""
    import numpy as np

    counts = {"images": 0, "output": 0, "image_score": 0, "decision": 0, "cells": 0}
    for i, x in enumerate(runner.inputs):
        want = golden.run_int8(x[None])
        differ = {"output": not np.array_equal(want.ravel(), runner.outputs_int8[i].ravel())}
        if head is not None:
            cells, image = head.score(want.reshape((1,) + tuple(want.shape[1:])))
            decision = "ANOMALY" if int(image[0]) > int(head.threshold) else "NORMAL"
            differ.update(image_score=int(image[0]) != runner.image_ints[i],
                          decision=decision != runner.decisions[i],
                          cells=not np.array_equal(cells[0], runner.cell_ints[i]))
        for key, bad in differ.items():
            counts[key] += int(bad)
        counts["images"] += int(any(differ.values()))
        progress("compare with the host", i + 1, len(runner.inputs))
    return counts


DEVICE_COLUMNS = [
    ("board", "board", "{}"), ("kind", "model", "{}"), ("n_images", "images", "{}"),
    ("image_auroc", "image AUROC", "{:.4f}"), ("image_f1", "F1", "{:.3f}"),
    ("pixel_auroc", "pixel AUROC", "{:.4f}"), ("head_kind", "head on device", "{}"),
    ("mismatches", "answers ≠ host", "{}"),
    ("instructions_per_inference", "instructions (QEMU)", "{:,}"),
    ("head_instructions_per_inference", "of which head", "{:,}"),
    ("cycles_per_inference", "cycles", "{:,}"),
    ("ms_per_inference_at_clock", "ms at board clock", "{:.1f}"),
    ("flash_bytes", "flash B", "{:,}"), ("ram_bytes", "RAM B", "{:,}"), ("ccm_bytes", "CCM B", "{:,}"),
]


def device_table(rows: list[dict]) -> str:
    """The on-device table; under QEMU, ms at the board clock assume one instruction a cycle."""
    lines = ["| " + " | ".join(h for _, h, _ in DEVICE_COLUMNS) + " |",
             "|" + "---|" * len(DEVICE_COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(fmt.format(r[k]) if r.get(k) is not None else "–"
                                       for k, _, fmt in DEVICE_COLUMNS) + " |")
    return "\n".join(lines) + "\n"
