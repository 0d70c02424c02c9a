"""Build and run the protocol fuzzers.

    python tests/fuzz/fuzz.py --runs 1000000          # make fuzz: a campaign per harness
    python tests/fuzz/fuzz.py --seconds 30            # bounded (what CI runs)

Harnesses (libFuzzer, clang -fsanitize=fuzzer,address,undefined), both on the firmware's
protocol server (firmware_templates/protocol/vad_protocol.c) with the test fixtures' fake
model and head, input kept, --mode both (so every request type has a path):

    fuzz_server_bytes    plain bytes
    fuzz_server_frames   plus a structure-aware mutator (frames re-encoded with valid CRCs)

Oracle: ASan, UBSan, and every reply written is one well-formed frame (fuzz_server.c).
Each campaign starts from the checked-in seeds (tests/fuzz/seeds/) and keeps what it finds
new in OUT/corpus-NAME; a finding is written to OUT/ as crash-* / leak-* and printed.
Prints, per harness, executions, coverage and findings; exits 1 if anything was found.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SEEDS = HERE / "seeds"
HARNESSES = {"fuzz_server_bytes": [], "fuzz_server_frames": ["-DVAD_FUZZ_FRAMES"]}
SANITIZE = ["-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer", "-g", "-O1"]


@dataclass
class Campaign:
    harness: str
    executions: int
    seconds: int
    coverage: int
    findings: list[str]
    log_tail: str


def clang() -> str | None:
    return shutil.which("clang")


def build(out: Path) -> dict[str, Path]:
    """Compile every harness into out/; {name: executable}."""
    sys.path.insert(0, str(REPO / "toolchain"))
    from vadtool.build import write_project_files
    from vadtool.device.protocol import ERROR_CODES
    project = out / "project"
    write_project_files(project, "host", keep_input=True, has_head=True, mode="both", source="protocol")
    fixtures = REPO / "tests" / "device"
    for src in ("fake_model/vad_model.c", "fake_model/vad_model.h", "fake_head/vad_head.c", "fake_head/vad_head.h"):
        shutil.copyfile(fixtures / src, project / Path(src).name)
    sources = [HERE / "fuzz_server.c", project / "vad_detector.c", project / "vad_model.c", project / "vad_head.c"]
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function", f"-I{project}",
             "-DVAD_SERVER_INPUT_COPY=1", "-DVAD_FAKE_FAIL",
             f"-DVAD_FUZZ_MAX_ERROR_CODE={max(e.value for e in ERROR_CODES)}u"]
    built = {}
    for name, extra in HARNESSES.items():
        exe = out / name
        proc = subprocess.run([clang(), *SANITIZE, *flags, *extra, *map(str, sources), "-o", str(exe)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"building {name} failed:\n{proc.stderr}")
        built[name] = exe
    return built


def run(name: str, exe: Path, out: Path, runs: int | None = None, seconds: int | None = None) -> Campaign:
    """One campaign: until runs executions or seconds of fuzzing, or the first finding."""
    corpus = out / f"corpus-{name}"
    corpus.mkdir(parents=True, exist_ok=True)
    args = [str(exe), str(corpus), str(SEEDS), f"-artifact_prefix={out}/{name}-", "-print_final_stats=1",
            "-max_len=2048", "-timeout=10", "-rss_limit_mb=4096"]
    args.append(f"-runs={runs}" if runs is not None else f"-max_total_time={seconds}")
    proc = subprocess.run(args, capture_output=True, text=True, cwd=out)
    log = proc.stderr
    done = re.search(r"Done (\d+) runs in (\d+) second", log)
    execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    cov = re.findall(r"\bcov: (\d+)", log)
    findings = sorted(str(p) for p in out.glob(f"{name}-*"))
    if proc.returncode != 0 and not findings:
        findings = [f"exit {proc.returncode}"]
    return Campaign(name, int(execs.group(1)) if execs else int(done.group(1)) if done else 0,
                    int(done.group(2)) if done else 0, int(cov[-1]) if cov else 0, findings,
                    "\n".join(log.splitlines()[-30:]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--runs", type=int, help="executions per harness")
    group.add_argument("--seconds", type=int, help="seconds per harness")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "fuzz")
    args = ap.parse_args(argv)
    if clang() is None:
        print("fuzz: clang not found: apt-get install clang", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    found = 0
    for name, exe in build(args.out).items():
        c = run(name, exe, args.out, runs=args.runs, seconds=args.seconds)
        print(f"{name}: {c.executions:,} executions in {c.seconds} s, coverage {c.coverage} edges, "
              f"{len(c.findings)} findings" + "".join(f"\n  {f}" for f in c.findings), flush=True)
        if c.findings:
            print(c.log_tail)
        found += len(c.findings)
    print(f"fuzz: {found} findings")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
