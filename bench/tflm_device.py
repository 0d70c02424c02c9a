"""One run on the emulated Cortex-M4 three ways: vadtool's native runtime, TFLite Micro with
CMSIS-NN and TFLite Micro with its reference kernels (QEMU mps2-an386, -icount shift=0).

    TFLM_DIR=/path/to/tflite-micro .venv/bin/python bench/tflm_device.py RUN [RUN ...] \
        [--limit 4] [--out DIR] [--markdown FILE]

For each run: `vadtool render` (native, then --runtime tflm), `vadtool build` (the TFLM
project with --kernels cmsis_nn, then reference) and `vadtool bench --project --emulate`,
whose answers are checked against the host's TFLM interpreter and integer head bit for bit.
Prints one markdown row per (run, runtime): instructions per inference (network and head),
arena, flash, RAM and mismatches. Build times depend on the cache (~/.cache/vadtool/tflm).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VADTOOL = [sys.executable, "-m", "vadtool.cli", "-q"]
BOARD = "qemu-an386"


def vadtool(*args) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "toolchain")}
    done = subprocess.run(VADTOOL + [str(a) for a in args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"vadtool {' '.join(map(str, args))}: {done.stderr.strip()}")
    return done.stdout


def measure(run: Path, out: Path, limit: int) -> list[dict]:
    rows = []
    native, tflm = out / f"{run.name}_native", out / f"{run.name}_tflm"
    vadtool("render", run, "--board", BOARD, "--out", native)
    vadtool("render", run, "--runtime", "tflm", "--board", BOARD, "--out", tflm)
    arena = json.loads((tflm / "vadtool_tflm.json").read_text())["arena"]
    for runtime, project, build_args in (("native", native, []),
                                         ("tflm cmsis_nn", tflm, ["--kernels", "cmsis_nn"]),
                                         ("tflm reference", tflm, ["--kernels", "reference"])):
        vadtool("build", project, *build_args)
        bench = json.loads(vadtool("bench", run, "--project", project, "--emulate", "--limit", limit, "--json"))
        rows.append({"run": run.name, "runtime": runtime, "n_images": bench["n_images"],
                     "instructions": bench["instructions_per_inference"],
                     "head_instructions": bench["head_instructions_per_inference"],
                     "arena_bytes": bench["arena_bytes"], "flash_bytes": bench["flash_bytes"],
                     "ram_bytes": bench["ram_bytes"], "mismatches": bench["mismatches"],
                     "arena_measured_bytes": arena["measured_bytes"] if runtime != "native" else None})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| run | runtime | instructions / inference | of which head | arena B | flash B | RAM B | mismatches |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['runtime']} | {r['instructions']:,} | {r['head_instructions']:,} | "
                     f"{r['arena_bytes']:,} | {r['flash_bytes']:,} | {r['ram_bytes']:,} | "
                     f"{r['mismatches']} of {r['n_images']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--limit", type=int, default=4, help="test images per run")
    ap.add_argument("--out", type=Path, help="where the projects go (default: a temporary folder)")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    if not os.environ.get("TFLM_DIR"):
        sys.exit("set TFLM_DIR to a tflite-micro checkout (see README: On the device)")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        rows = [row for run in args.runs for row in measure(run, out, args.limit)]
    text = table(rows)
    print(text, end="")
    if args.markdown:
        args.markdown.write_text(text)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
