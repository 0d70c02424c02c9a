"""The host's side of the standalone firmware: what its UART lines mean, what they should
say, and running it in QEMU on a folder of images read by semihosting.

The firmware (firmware_templates/app/vad_standalone.c) prints one line per image::

    OK 0.83
    ANOMALY 1.42 cells 3,5 4,5     row,col of every cell whose score is above the threshold
    ERROR model 7                  the model returned a non-zero status
    END 12 images                  the image source has no more

The score is the head's integer score / 2**frac_bits, rounded to two decimals, half away
from zero: :func:`score_text` formats it the same way from the host's integer head.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DeviceError, DeviceTimeout

FRAMES_FILE = "vad_frames.bin"  # VAD_FRAMES_FILE in vad_source_semihost.c
_LINE = re.compile(r"^(OK|ANOMALY) (-?\d+\.\d\d)((?: cells(?: \d+,\d+)+)?)$")
_END = re.compile(r"^END (\d+) images$")


@dataclass(frozen=True)
class Verdict:
    """One standalone line, parsed."""

    decision: str                  # "OK" or "ANOMALY"
    score_text: str                # as printed, e.g. "1.42"
    cells: tuple[tuple[int, int], ...]  # (row, col) above the threshold (ANOMALY only)


def score_text(score: int, frac_bits: int) -> str:
    """score / 2**frac_bits with two decimals, rounded half away from zero, as the firmware
    prints it (integer arithmetic only, so host and device agree on every digit)."""
    mag = abs(int(score))
    hundredths = (mag * 100 + (1 << (frac_bits - 1))) >> frac_bits if frac_bits > 0 else mag * 100
    sign = "-" if score < 0 and hundredths else ""
    return f"{sign}{hundredths // 100}.{hundredths % 100:02d}"


def expected_line(image_score: int, cells: np.ndarray, threshold: int, frac_bits: int) -> str:
    """The line the firmware prints for an image the host's integer head scored."""
    if image_score <= threshold:
        return f"OK {score_text(image_score, frac_bits)}"
    rows, cols = np.nonzero(np.asarray(cells) > threshold)
    listed = "".join(f" {r},{c}" for r, c in zip(rows.tolist(), cols.tolist()))
    return f"ANOMALY {score_text(image_score, frac_bits)}" + (f" cells{listed}" if listed else "")


def parse_line(line: str) -> Verdict:
    match = _LINE.match(line.strip())
    if not match:
        raise DeviceError(f"standalone firmware printed {line.strip()[:80]!r}, not OK/ANOMALY <score>")
    cells = tuple(tuple(int(v) for v in pair.split(",")) for pair in match.group(3).split()[1:])
    return Verdict(match.group(1), match.group(2), cells)


def write_frames(inputs_int8: np.ndarray, path: Path) -> Path:
    """The semihosting image source's file: the int8 inputs back to back."""
    Path(path).write_bytes(np.ascontiguousarray(inputs_int8, dtype=np.int8).tobytes())
    return Path(path)


def read_lines(stream, count: int, timeout_s: float) -> list[str]:
    """The next `count` image lines from a UART stream (a file object; bytes that are no line
    of the standalone loop, such as a boot banner, are skipped), then its END line;
    DeviceError if the counts disagree, DeviceTimeout if the lines do not come."""
    import select
    buf, lines = b"", []
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([stream], [], [], min(left, 0.5))[0]:
            continue
        chunk = os.read(stream.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            raw, buf = buf.split(b"\n", 1)
            text = raw.decode("ascii", "replace").strip()
            end = _END.match(text)
            if end:
                if int(end.group(1)) != count or len(lines) != count:
                    raise DeviceError(f"standalone firmware ended after {end.group(1)} images, "
                                      f"{count} were given")
                return lines
            if _LINE.match(text) or text.startswith("ERROR "):
                lines.append(text)
    raise DeviceTimeout(f"standalone firmware printed {len(lines)} of {count} lines within {timeout_s:g} s")


def run_emulated(elf: str | Path, board: str, inputs_int8: np.ndarray, timeout_s: float = 300) -> list[str]:
    """Run a standalone firmware whose image source is semihosting in QEMU on these int8
    inputs (written to FRAMES_FILE in a temporary folder QEMU runs in); return its line per
    image. The UART is QEMU's stdout, so no line is printed before anyone listens."""
    from .emulator import emulator_board, qemu_command
    profile = emulator_board(elf, board)
    with tempfile.TemporaryDirectory(prefix="vadtool-frames-") as folder:
        write_frames(inputs_int8, Path(folder) / FRAMES_FILE)
        proc = subprocess.Popen(qemu_command(elf, profile, None, semihosting=True), cwd=folder,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            return read_lines(proc.stdout, len(inputs_int8), timeout_s)
        except DeviceTimeout as exc:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace").strip().splitlines()
                raise DeviceError(f"QEMU {profile.qemu_machine} exited with code {proc.returncode} "
                                  f"running {elf}: {err[-1] if err else 'no output'}") from exc
            raise
        finally:
            proc.kill()
            proc.wait()


def image_inputs(project_dir: str | Path, images: list[Path]) -> np.ndarray:
    """The int8 model inputs of these image files, made as the host's runners make them
    (the run's input size, pixel - 128)."""
    from .. import data as datasets
    from ..render import read_project
    from ..rundir import Run
    from ..geometry import InputGeometry
    from ..runners import to_int8
    run = Run.open(read_project(project_dir)["run"])
    g = InputGeometry.from_manifest(run.manifest)
    return to_int8(np.stack([datasets.load_image(p, g.shape_hw, g.resize) for p in images]))


def image_files(folder: str | Path) -> list[Path]:
    """The images in a folder, sorted by name (DeviceError when there are none)."""
    from ..data import IMAGE_EXTS
    files = sorted(p for p in Path(folder).iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise DeviceError(f"{folder}: no images (extensions {', '.join(sorted(IMAGE_EXTS))})")
    return files
