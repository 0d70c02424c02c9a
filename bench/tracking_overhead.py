"""What MLflow tracking adds to a vadtool command (a figure, not a test).

A tracked command runs the same work as an untracked one, then `tracking.check_store` (before
the work) and `tracking.sync` (after it); this script times exactly those, each in a fresh
Python process as a command pays them (the MLflow import included), on a copy of RUN:

  python bench/tracking_overhead.py RUN [REPEATS]

RUN: a trained run directory (quantized and evaluated, for the sync to have everything;
a searched one to count its candidates as child runs). Prints wall and CPU seconds per
step: the import of vadtool.cli (tracking off), the first sync (a new store: MLflow creates
its tables; the MLflow run and the search's child runs), a sync into an existing store as a
new run (what train pays), and a later sync of the same run (what quantize, evaluate, bench pay).
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = """
import resource, sys, time
wall = time.perf_counter()
{body}
wall = time.perf_counter() - wall
ru = resource.getrusage(resource.RUSAGE_SELF)
print(f"{{wall:.2f}} {{ru.ru_utime + ru.ru_stime:.2f}}")
"""
SYNC = ("from vadtool import tracking; s = tracking.Settings(uri={uri!r}); "
        "tracking.check_store(s); tracking.sync({run!r}, s)")


def timed(body: str, cwd: Path) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(body=body)], capture_output=True,
                         text=True, cwd=cwd, check=True)
    wall, cpu = out.stdout.split()[-2:]
    return float(wall), float(cpu)


def main(run: str, repeats: int = 3) -> None:
    rows = {"import vadtool.cli (tracking off)": [], "import vadtool.cli + mlflow": [],
            "sync, new store (tables, run, child runs)": [], "sync, new run in an existing store (train)": [],
            "sync, same run again (quantize/evaluate/bench)": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            uri = f"sqlite:///{tmp / 'mlflow.db'}"
            rows["import vadtool.cli (tracking off)"].append(timed("import vadtool.cli", tmp))
            rows["import vadtool.cli + mlflow"].append(timed("import vadtool.cli, mlflow", tmp))
            for i, key in enumerate(("sync, new store (tables, run, child runs)",
                                     "sync, new run in an existing store (train)")):
                copy = tmp / f"run{i}"
                shutil.copytree(run, copy)
                _untrack(copy)
                rows[key].append(timed(SYNC.format(uri=uri, run=str(copy)), tmp))
            rows["sync, same run again (quantize/evaluate/bench)"].append(
                timed(SYNC.format(uri=uri, run=str(tmp / "run1")), tmp))
    print(f"{'step':48} {'wall s (median)':>16} {'CPU s (median)':>15}")
    for key, values in rows.items():
        walls, cpus = sorted(v[0] for v in values), sorted(v[1] for v in values)
        print(f"{key:48} {walls[len(walls) // 2]:16.2f} {cpus[len(cpus) // 2]:15.2f}")


def _untrack(run: Path) -> None:
    import json
    manifest = json.loads((run / "vadtool.json").read_text())
    manifest.pop("mlflow", None)
    (run / "vadtool.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
