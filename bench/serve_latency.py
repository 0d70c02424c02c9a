"""Median end-to-end latency of `vadtool serve`: POST /predict of one image over HTTP (a kept-
alive connection, as a client on the line would hold), from the request's first byte to the
parsed JSON answer, with the image stored as every served image is. A figure, not a test.

    .venv/bin/python bench/serve_latency.py RUN [--runtime litert] [--requests 200] [--image PNG]
                                            [--challenger RUN2]

Without --image, a 128x128 PNG is drawn (the target: median under 30 ms for a 128 px image on
litert)."""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psutil
from PIL import Image

from vadtool.serve.process import ServiceProcess


def test_image(size: int = 128) -> bytes:
    """A part-like picture: a bright disc on a dark textured background, size x size."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    disc = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (size * 0.35) ** 2
    img = 40 + 20 * rng.random((size, size)) + 150 * disc
    buf = io.BytesIO()
    Image.fromarray(np.repeat(img[..., None], 3, axis=2).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def measure(url: str, body: bytes, requests: int, server_pid: int, warmup: int = 10) -> dict:
    """Wall times per request, and the server process's CPU time per request (user + system:
    what the service costs, whatever else the machine is doing)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    server_process = psutil.Process(server_pid)
    wall, server, model = [], [], []
    for i in range(warmup + requests):
        if i == warmup:
            cpu = server_process.cpu_times()
        start = time.perf_counter()
        conn.request("POST", "/predict", body=body, headers={"Content-Type": "image/png"})
        response = conn.getresponse()
        answer = json.loads(response.read())
        elapsed = (time.perf_counter() - start) * 1e3
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {answer}")
        if i >= warmup:
            wall.append(elapsed)
            server.append(answer["server_ms"])
            model.append(answer["ms"])
    after = server_process.cpu_times()
    conn.close()
    cpu_ms = ((after.user - cpu.user) + (after.system - cpu.system)) * 1e3 / requests
    q = lambda xs, p: float(np.percentile(xs, p))  # noqa: E731
    return {"requests": requests, "median_ms": statistics.median(wall), "p90_ms": q(wall, 90),
            "server_median_ms": statistics.median(server), "model_median_ms": statistics.median(model),
            "server_cpu_ms_per_request": cpu_ms, "load_average_1min": os.getloadavg()[0],
            "runtime": answer["runtime"], "image_bytes": len(body)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--runtime", default="litert")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--image", type=Path, help="Image to send (default: a drawn 128x128 PNG).")
    ap.add_argument("--challenger", type=Path, help="A second run in shadow (the request waits for both).")
    args = ap.parse_args()
    body = args.image.read_bytes() if args.image else test_image()
    shadow = ["--challenger", args.challenger] if args.challenger else []
    with tempfile.TemporaryDirectory() as tmp, \
            ServiceProcess([args.run, "--runtime", args.runtime, "--store", Path(tmp) / "store", *shadow],
                           env={"PYTHONUNBUFFERED": "1"}) as service:
        result = measure(service.url, body, args.requests, service.proc.pid)
    print(json.dumps(result, indent=2))
    print(f"median {result['median_ms']:.1f} ms end to end over HTTP ({args.runtime}, {args.requests} requests; "
          f"server {result['server_median_ms']:.1f} ms, model {result['model_median_ms']:.1f} ms; server CPU "
          f"{result['server_cpu_ms_per_request']:.1f} ms per request; load average {result['load_average_1min']:.1f})")


if __name__ == "__main__":
    main()
