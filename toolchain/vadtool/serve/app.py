"""The HTTP service: a Starlette application (served by uvicorn) over a champion, an optional
challenger in shadow, and the edge store.

    GET  /                      the page: drop or pick images, see both models, label them
    POST /predict               body: the image file (Content-Type image/*); the champion's answer
    GET  /overlay/ID.png        heatmap and predicted boxes (?model=challenger for the other one)
    GET  /records[?limit=N]     the newest records, both models' predictions and the label
    GET  /records/ID            one record
    POST /records/ID/label      {"label": "normal" | "anomalous" | null}
    GET  /health, GET /model    liveness; the runs' manifest summaries

Every error is a 4xx (or 5xx for a fault of the service) with a one-line JSON body
{"error": "..."}; a bad request never stops the service.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import DeviceError, VadError
from .intake import MAX_BYTES, UploadError, check_content_type, check_length, parse_image
from .served import ServedModel, overlay_png
from .store import ROLES, RecordNotFound, Store, StoreError

PAGE = Path(__file__).with_name("page.html")
log = logging.getLogger("vadtool.serve")


class Service:
    """The models and the store behind the routes; plain methods, no HTTP."""

    def __init__(self, champion: ServedModel, challenger: ServedModel | None, store: Store,
                 keep: int | None = None, max_age_days: float | None = None):
        self.models = {"champion": champion}
        if challenger is not None:
            self.models["challenger"] = challenger
        self.store = store
        self.keep, self.max_age_days = keep, max_age_days
        self.started = time.time()

    def predict(self, data: bytes, source: str | None, filename: str | None) -> dict:
        """Check, stage, score with every model, commit; the champion's answer. A challenger
        that fails is logged and left out of the record: shadow mode never costs the answer."""
        start = time.perf_counter()
        upload = parse_image(data)
        staged = self.store.stage(upload.data, upload.ext)
        try:
            predictions = {"champion": self.models["champion"].score(staged.tmp, upload.width, upload.height)}
            if "challenger" in self.models:
                try:
                    predictions["challenger"] = self.models["challenger"].score(staged.tmp, upload.width,
                                                                                upload.height)
                except Exception:
                    log.exception("the challenger failed on an image; recorded the champion's prediction only")
            record_id = self.store.commit(staged, width=upload.width, height=upload.height,
                                          predictions=predictions, source=source, filename=filename)
        except BaseException:
            self.store.discard(staged)
            raise
        if self.keep is not None or self.max_age_days is not None:
            self.store.prune(self.keep, self.max_age_days)
        answer = dict(predictions["champion"])
        answer.pop("input")
        return {"id": record_id, **answer, "width": upload.width, "height": upload.height,
                "overlay": f"/overlay/{record_id}.png", "shadow": "challenger" in self.models,
                "server_ms": round((time.perf_counter() - start) * 1e3, 3)}

    def overlay(self, record_id: str, role: str) -> bytes:
        record = self.store.get(record_id)
        prediction = record["predictions"].get(role)
        if prediction is None:
            raise RecordNotFound(f"record {record_id} has no {role} prediction")
        if not self.store.path(record).is_file():
            raise RecordNotFound(f"record {record_id}: its image file is gone from {self.store.root}")
        return overlay_png(self.store.path(record), prediction)

    def model(self) -> dict:
        return {role: self.models[role].summary() if role in self.models else None for role in ROLES}

    def health(self) -> dict:
        return {"status": "ok", "records": self.store.count(), "uptime_s": round(time.time() - self.started, 1),
                **{f"{role}_hash": m.model_hash for role, m in self.models.items()}}

    def close(self) -> None:
        """Release the models (a device's port, the host firmware's process) and the store; once."""
        models, self.models = self.models, {}
        for m in models.values():
            m.close()
        if models:
            self.store.close()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


async def _read_body(request: Request) -> bytes:
    """The body, refusing one larger than MAX_BYTES: announced (Content-Length) or streamed.
    The rest of a too-large body is read and dropped so the client gets the answer instead of
    a broken connection."""
    too_large = False
    try:
        check_length(request.headers.get("content-length"))
    except UploadError:
        too_large = True
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            too_large = True
        if not too_large:
            chunks.append(chunk)
    if too_large:
        raise UploadError(413, f"body of {size:,} bytes: at most {MAX_BYTES:,}; "
                               "send a smaller (downscaled or compressed) image")
    return b"".join(chunks)


def build_app(service: Service) -> Starlette:
    async def page(request: Request):
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    async def health(request: Request):
        return JSONResponse(await run_in_threadpool(service.health))

    async def model(request: Request):
        return JSONResponse(service.model())

    async def predict(request: Request):
        try:
            check_content_type(request.headers.get("content-type"))
        except UploadError as exc:
            async for _ in request.stream():  # read it all, so that the answer reaches the client
                pass
            return _error(exc.status, exc)
        try:
            data = await _read_body(request)
        except UploadError as exc:
            return _error(exc.status, exc)
        source = request.headers.get("x-source") or (request.client.host if request.client else None)
        filename = unquote(request.headers.get("x-filename", "")) or request.query_params.get("filename")
        try:
            return JSONResponse(await run_in_threadpool(service.predict, data, source, filename))
        except UploadError as exc:
            return _error(exc.status, exc)

    async def overlay(request: Request):
        role = request.query_params.get("model", "champion")
        if role not in ROLES:
            return _error(400, f"model={role}: use champion or challenger")
        png = await run_in_threadpool(service.overlay, request.path_params["record_id"], role)
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    async def records(request: Request):
        text = request.query_params.get("limit", "50")
        if not text.isdigit() or not 0 < int(text) <= 1000:
            return _error(400, f"limit={text}: give a whole number from 1 to 1000")
        return JSONResponse(await run_in_threadpool(service.store.recent, int(text)))

    async def record(request: Request):
        return JSONResponse(await run_in_threadpool(service.store.get, request.path_params["record_id"]))

    async def label(request: Request):
        try:
            body = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, 'the body is not JSON; send {"label": "normal"} or {"label": "anomalous"}')
        if not isinstance(body, dict) or "label" not in body:
            return _error(400, 'send {"label": "normal"}, {"label": "anomalous"} or {"label": null}')
        record_id = request.path_params["record_id"]
        await run_in_threadpool(service.store.set_label, record_id, body["label"])
        return JSONResponse(await run_in_threadpool(service.store.get, record_id))

    async def store_error(request: Request, exc: StoreError):
        return _error(404 if isinstance(exc, RecordNotFound) else 400, exc)

    async def vad_error(request: Request, exc: VadError):
        return _error(503 if isinstance(exc, DeviceError) else 500, exc)

    async def internal_error(request: Request, exc: Exception):
        return _error(500, f"internal error ({type(exc).__name__}: {exc}); the service's log has the traceback")

    async def http_error(request: Request, exc: HTTPException):
        return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")

    routes = [
        Route("/", page), Route("/health", health), Route("/model", model),
        Route("/predict", predict, methods=["POST"]),
        Route("/overlay/{record_id}.png", overlay),
        Route("/records", records), Route("/records/{record_id}", record),
        Route("/records/{record_id}/label", label, methods=["POST"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        # closed here, in the graceful shutdown: after it uvicorn re-raises SIGTERM, which ends
        # the process before the caller's own cleanup would run
        yield
        service.close()

    handlers = {StoreError: store_error, VadError: vad_error, HTTPException: http_error, Exception: internal_error}
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
