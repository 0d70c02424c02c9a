"""`vadtool serve`, `vadtool shadow` and `vadtool store`: Click wrappers over vadtool.serve.

Registered in cli.py with `cli.add_command(...)`.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import click

from .cli_types import OUT_DIR
from .errors import VadError
from .serve import SERVE_RUNTIMES

DEFAULT_STORE = Path("vadtool-store")
STORE_DIR = click.Path(file_okay=False, path_type=Path)
RUN_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is a one-line error (and port 0
    picks a free one, which is then printed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # so, and with Nagle on, every small response waits ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise VadError(f"--host {host} --port {port}: cannot listen there ({exc.strerror}); "
                       "give another --port (0 picks a free one)") from None
    sock.listen(128)
    return sock


@click.command("serve")
@click.argument("run", required=False, type=RUN_DIR)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port (0: any free port; the address is printed).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--store", "store_dir", type=STORE_DIR, default=DEFAULT_STORE, show_default=True,
              help="Edge store folder: every served image, both models' predictions, the operator's labels.")
@click.option("--runtime", type=click.Choice(SERVE_RUNTIMES), default="litert", show_default=True,
              help="Host runtime for the models. litert: LiteRT's optimized (XNNPACK) kernels, fast, scores "
                   "within a few int8 steps of the device's; litert-ref: its reference kernels, bit-exact with "
                   "tflm, native and the device (and `vadtool predict --runtime litert`), slower.")
@click.option("--device-port", help="Run the champion on the device at this port instead "
                                    "(/dev/ttyACM0, socket://HOST:PORT, host:FIRMWARE); the challenger stays on --runtime.")
@click.option("--challenger", type=RUN_DIR, help="A second run scored in shadow on every request: recorded, never answered.")
@click.option("--keep", type=click.IntRange(min=1), help="Retention: keep at most N unlabelled images (oldest go first).")
@click.option("--max-age", "max_age_days", type=click.FloatRange(min=0), help="Retention: drop unlabelled images older than DAYS.")
@click.pass_context
def serve(ctx, run, port, host, store_dir, runtime, device_port, challenger, keep, max_age_days):
    """Serve RUN over HTTP: POST /predict, a web page at /, shadow mode, the edge store.

    Without RUN, the champion and challenger recorded in --store's serving.json are served
    (what the last `serve` or `shadow promote` left there)."""
    import uvicorn
    from threadpoolctl import threadpool_limits

    from .serve.app import Service, build_app
    from .serve.served import ServedModel
    from .serve.store import SERVING, Store
    # One image at a time: BLAS threads only add overhead to the head's small products, and
    # on a busy machine their spinning makes a 1 ms product take 30 ms
    threadpool_limits(1, user_api="blas")
    if run is None and not (store_dir / SERVING).is_file():
        raise VadError(f"no RUN given and {store_dir} records no champion; give RUN")
    sock = _bind(host, port)
    fresh = not store_dir.exists()
    try:
        store = Store(store_dir, writer=True)
    except BaseException:
        sock.close()
        raise
    champion = rival = None
    try:
        recorded = store.serving()
        champion_dir = run or recorded.get("champion")
        if champion_dir is None:
            raise VadError(f"no RUN given and {store_dir} records no champion; give RUN")
        challenger_dir = challenger if (challenger or run) else recorded.get("challenger")
        champion = ServedModel(champion_dir, runtime, device_port)
        rival = ServedModel(challenger_dir, runtime) if challenger_dir else None
        store.set_serving(str(champion.run_dir), None if rival is None else str(rival.run_dir))
    except BaseException:
        for model in (champion, rival):
            if model is not None:
                model.close()
        store.close()
        sock.close()
        if fresh:  # leave nothing behind
            shutil.rmtree(store_dir, ignore_errors=True)
        raise
    service = Service(champion, rival, store, keep=keep, max_age_days=max_age_days)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"champion {champion.run_dir} ({champion.runtime}, {champion.model_hash[:12]})")
    if rival is not None:
        click.echo(f"challenger {rival.run_dir} ({rival.runtime}, {rival.model_hash[:12]}), in shadow")
    click.echo(f"store {store_dir} ({store.count()} records)")
    if any(store.recovered.values()):
        click.echo(f"cleaned up after an interrupted service: {store.recovered['tmp']} partial uploads, "
                   f"{store.recovered['orphan_images']} images without a record")
    click.echo(f"serving http://{shown_host}:{bound_port}/", nl=True)
    quiet = ctx.find_root().obj.get("quiet") if ctx.find_root().obj else False
    config = uvicorn.Config(build_app(service), log_level="warning" if quiet else "info",
                            timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        service.close()


@click.group("shadow")
def shadow():
    """Compare a challenger with the champion on what was served; swap them."""


@shadow.command("report")
@click.argument("store_dir", metavar="STORE", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", type=OUT_DIR, required=True,
              help="Folder for index.html and its overlays (replaced if it exists).")
def shadow_report(store_dir, out):
    """HTML page: agreement rate, score correlation, the images where the two disagree side by
    side, and both models' AUROC and F1 on the images an operator labelled."""
    from .serve.shadow import build_report
    click.echo(str(build_report(store_dir, out)))


@shadow.command("promote")
@click.argument("store_dir", metavar="STORE", type=click.Path(exists=True, file_okay=False, path_type=Path))
def shadow_promote(store_dir):
    """Make the challenger the champion (and the champion the challenger) in STORE/serving.json;
    `vadtool serve --store STORE` (no RUN) then serves the new pair."""
    from .serve.store import Store
    with Store(store_dir, create=False) as store:
        pair = store.promote()
    click.echo(f"champion {pair['champion']}\nchallenger {pair['challenger']}\n"
               f"restart the service to serve them: vadtool serve --store {store_dir}")


@click.group("store")
def store():
    """The edge store's records: export the labelled ones as a dataset, apply retention."""


@store.command("export")
@click.argument("store_dir", metavar="STORE", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", type=OUT_DIR, required=True,
              help="New dataset folder (plain layout: good/, anomaly/).")
def store_export(store_dir, out):
    """Write the images an operator labelled as a dataset that `vadtool train` reads."""
    from .serve.store import Store
    with Store(store_dir, create=False) as s:
        counts = s.export(out)
    click.echo(f"wrote {out}: {counts['good']} good, {counts['anomaly']} anomaly")


@store.command("prune")
@click.argument("store_dir", metavar="STORE", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--keep", type=click.IntRange(min=0), help="Keep at most N unlabelled images (the newest).")
@click.option("--max-age", "max_age_days", type=click.FloatRange(min=0), help="Drop unlabelled images older than DAYS.")
def store_prune(store_dir, keep, max_age_days):
    """Retention: remove unlabelled records by count or age (labelled ones are kept)."""
    from .serve.store import Store
    if keep is None and max_age_days is None:
        raise VadError("store prune: give --keep N and/or --max-age DAYS")
    with Store(store_dir, create=False) as s:
        removed = s.prune(keep, max_age_days)
        click.echo(f"removed {removed} records; {s.count()} left")
