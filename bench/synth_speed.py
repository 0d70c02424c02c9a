"""How long `vadtool data synth` takes for the default set (a figure, not a test: wall time
on a shared machine says little alone, so the CPU time is printed too)."""

import sys
import tempfile
import time
from pathlib import Path

from vadtool.synth import make_dataset


def main(repeats: int = 3) -> None:
    for i in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu = time.perf_counter(), time.process_time()
            make_dataset(Path(tmp) / "ds", seed=i)
            print(f"make_dataset (defaults), run {i + 1}: {time.perf_counter() - wall:.2f} s wall, "
                  f"{time.process_time() - cpu:.2f} s CPU")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
