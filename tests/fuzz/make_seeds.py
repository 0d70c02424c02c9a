"""Write the fuzzers' checked-in seed corpus (tests/fuzz/seeds/): one short host session per
request path, for the test fixtures' fake model (16x16x3 input, 144 output bytes, 4x4 cells).

    python tests/fuzz/make_seeds.py      # after a protocol change; commit what it writes
"""

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "toolchain"))

from vadtool.device import protocol as P  # noqa: E402

INPUT_BYTES, OUTPUT_BYTES, CELLS = 768, 144, 16


def frame(name: str, seq: int, payload: bytes = b"") -> bytes:
    return P.encode_frame(P.FRAME[name], seq, payload)


def load(offset: int, data: bytes, seq: int = 2) -> bytes:
    return frame("LOAD_INPUT", seq, P.LAYOUT["LOAD_INPUT"].pack(offset=offset) + data)


def infer(warmup: int = 0, runs: int = 1, seq: int = 3) -> bytes:
    return frame("INFER", seq, P.LAYOUT["INFER"].pack(warmup=warmup, runs=runs))


IMAGE = bytes(range(256)) * 3
SEEDS = {
    "hello": frame("HELLO", 1),
    "one_image": load(0, IMAGE) + infer() + frame("READ_OUTPUT", 4, P.LAYOUT["READ_OUTPUT"].pack(offset=0, length=OUTPUT_BYTES))
                 + frame("READ_CELLS", 5, P.LAYOUT["READ_CELLS"].pack(first=0, count=CELLS)),
    "chunks_warmup_runs": load(0, IMAGE[:300]) + load(300, IMAGE[300:600], 3) + load(600, IMAGE[600:], 4)
                          + infer(2, 3, 5),
    "model_fails": load(0, b"\x80" + IMAGE[1:]) + infer(),
    "standalone": frame("STANDALONE", 7) + frame("HELLO", 8),
    "garbage_then_hello": bytes([0xA5, 0x00, 0x5A, 0xA5, 0xA5]) + frame("HELLO", 9),
    "bad_crc": frame("HELLO", 10)[:-1] + b"\x00" + frame("HELLO", 11),
    "half_frame": frame("INFER", 12, struct.pack("<HH", 0, 1))[:7],
}

if __name__ == "__main__":
    out = HERE / "seeds"
    out.mkdir(exist_ok=True)
    for name, data in SEEDS.items():
        (out / name).write_bytes(data)
    print(f"wrote {len(SEEDS)} seeds, {sum(map(len, SEEDS.values()))} bytes, to {out}")
