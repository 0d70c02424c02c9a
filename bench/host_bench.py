"""make bench: train, quantize and benchmark models on each dataset given.

--models names fomo-ad, classifier and FOMO-AD recipes in models/.

Writes OUT/bench.md (dataset x model x runtime -> metrics, training time, int8 drift,
model size, TFLM arena) and OUT/bench.json. Each stage runs through the real `vadtool`
command, so the training time includes TensorFlow's start-up, as a user sees it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

VADTOOL = [sys.executable, "-m", "vadtool.cli", "-q"]
RECIPES = Path(__file__).resolve().parents[1] / "models"


def step(*args) -> float:
    started = time.perf_counter()
    done = subprocess.run(VADTOOL + [str(a) for a in args])
    if done.returncode != 0:
        sys.exit(f"bench: `vadtool {' '.join(map(str, args))}` failed")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument("--models", default="fomo-ad,fomo-ad-gaussian,classifier",
                        help="fomo-ad, classifier, or the name of a recipe in models/ (a FOMO-AD recipe)")
    parser.add_argument("--runtimes", default="float,tflm,native",
                        help="litert is bit-exact with tflm (tested), so it is left out by default")
    args = parser.parse_args()
    from vadtool.bench import bench_run, markdown_table

    rows, walls = [], {}
    for data in args.datasets:
        for model in args.models.split(","):
            run = args.out / "runs" / f"{data.name}-{model}"
            if not (run / "vadtool.json").exists():
                recipe = RECIPES / f"{model}.json"
                if recipe.is_file():
                    wall = step("train", "fomo-ad", data, "--out", run, "--recipe", recipe)
                else:
                    wall = step("train", model, data, "--out", run)
                step("quantize", run)
                print(f"{data.name} {model}: trained in {wall:.1f} s wall (TensorFlow start-up included)",
                      flush=True)
                walls[str(run)] = wall
            for row in bench_run(run, args.runtimes.split(",")):
                row["kind"] = model
                row["train_wall_s"] = walls.get(str(run))
                rows.append(row)
            print(markdown_table(rows[-len(args.runtimes.split(",")):]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.md").write_text(markdown_table(rows))
    (args.out / "bench.json").write_text(json.dumps(rows, indent=2))
    print(markdown_table(rows))
    print(f"wrote {args.out / 'bench.md'}")


if __name__ == "__main__":
    main()
