"""Experiment tracking: a run directory mirrored into an MLflow run.

The run directory stays the record; MLflow is a view of it. After each tracked stage
(train, quantize, evaluate, bench, report) `sync` copies what the run directory holds into
one MLflow run per run directory: the recipe and the data as parameters, the stage numbers
as metrics (evaluations per runtime as `<runtime>/<key>`), the manifest, the int8 model and
its head, the evaluations and any report as artifacts, and the search's candidates as
child runs. The MLflow run's id is kept in the manifest (`"mlflow"`), so a later stage adds
to the same run; a run directory that was never tracked (or tracked to another store) gets
a new MLflow run holding everything it has so far.

MLflow is imported only when tracking is on: it costs seconds, and the CLI must not pay
them with --no-track. The store is, first to last: --tracking-uri, $MLFLOW_TRACKING_URI, the
store the run directory was tracked to, MLflow's own default (sqlite:///mlflow.db in the
working folder).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import TrackingError

NO_TRACK_ENV = "VADTOOL_NO_TRACK"
EXPERIMENT = "vadtool"  # unless $MLFLOW_EXPERIMENT_NAME names another
MANIFEST_KEY = "mlflow"
RUN_DIR_TAG = "vadtool.run_dir"
CANDIDATE_TAG = "vadtool.search_candidate"
PARENT_TAG = "mlflow.parentRunId"
SEARCH_LOGGED_TAG = "vadtool.search_logged"  # the candidates' child runs exist: log them once
# A team server that is down must cost seconds, not MLflow's default minutes of retries
# (the work is kept either way and `vadtool track RUN` logs it later); the user's own
# settings of these win.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
# The artifacts a stage writes that a tracked run carries (when the run directory has them).
RUN_ARTIFACTS = ("model_int8.tflite", "head_int.npz")
PARAM_MAX = 6000  # MLflow's limit on a parameter value's length


@dataclass(frozen=True)
class Settings:
    """What the command line asked for: tracking on or off, and an explicit store."""
    enabled: bool = True
    uri: str | None = None


def _mlflow():
    """Import MLflow quietly (its INFO lines about creating tables are not the user's news)."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        from mlflow.tracking import MlflowClient
    import logging
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow, MlflowClient


def store_uri(settings: Settings, manifest: dict | None = None) -> str:
    """The store to use: --tracking-uri, $MLFLOW_TRACKING_URI, the run's own, MLflow's default."""
    if settings.uri:
        return settings.uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if manifest and manifest.get(MANIFEST_KEY, {}).get("tracking_uri"):
        return manifest[MANIFEST_KEY]["tracking_uri"]
    mlflow, _ = _mlflow()
    return mlflow.get_tracking_uri()  # resolved: an absolute sqlite:////.../mlflow.db


def check_store(settings: Settings) -> None:
    """Before any work: the store's URI is one MLflow can open (scheme known, sqlite file's
    folder there). Reaching a server is not checked here: that failure only warns, later."""
    if not settings.enabled:
        return
    uri = store_uri(settings)
    _, _ = _mlflow()
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry
    try:
        _tracking_store_registry.get_store_builder(uri)
    except Exception as exc:  # MLflow's own exception types vary by version
        scheme = uri.split(":", 1)[0] if ":" in uri else uri
        raise TrackingError(f"tracking URI {uri!r}: MLflow cannot open it (no store for {scheme!r}); give "
                            "sqlite:///FILE.db, http(s)://HOST:PORT or a folder, or --no-track") from exc
    if uri.startswith("sqlite:///"):
        folder = Path(uri[len("sqlite:///"):]).parent
        if not folder.is_dir():
            raise TrackingError(f"tracking URI {uri!r}: folder {folder} does not exist; create it or "
                                "give another --tracking-uri (or --no-track)")


UNREACHABLE = ("Max retries exceeded", "NewConnectionError", "Connection refused", "timed out")


def _first_line(exc: BaseException) -> str:
    """What went wrong, in one short line (MLflow's messages quote whole URLs and causes)."""
    text = str(exc).strip()
    if any(word in text for word in UNREACHABLE):
        return "the server does not answer (refused, unreachable or timed out)"
    lines = text.splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _client(uri: str):
    _, MlflowClient = _mlflow()
    return MlflowClient(tracking_uri=uri)


def _experiment_id(client, uri: str) -> str:
    """The experiment's id, made when missing. A SQLite store keeps its artifacts beside the
    database file (MLflow's own default is ./mlruns in whatever folder the command runs in)."""
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri[len("sqlite:///"):]).resolve().parent / "mlruns").as_uri()
    return client.create_experiment(name, artifact_location=location)


def sync(run_dir: Path, settings: Settings, artifacts: dict[str, Path] | None = None) -> str | None:
    """Mirror the run directory into its MLflow run (made when it has none in this store) and
    log `artifacts` (artifact folder -> a file or folder) beside it. Returns the MLflow run id,
    None with tracking off. Any failure is a TrackingError naming the store; the run directory
    is complete either way."""
    if not settings.enabled:
        return None
    from .rundir import Run
    run = Run.open(run_dir)
    uri = store_uri(settings, run.manifest)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _sync(run, uri, artifacts or {})
    except TrackingError:
        raise
    except Exception as exc:  # a server down, a locked database, a full disk: one line
        raise TrackingError(f"MLflow store {uri}: {_first_line(exc)}") from exc


def _record_in_manifest(run, key: str) -> None:
    """Write run.manifest[key] into the manifest as it is on disk now, under the run's write
    lock: a quantize that committed since this run was opened keeps its files."""
    from .locking import writing
    from .rundir import Run
    with writing(run.path, "tracking"):
        fresh = Run.open(run.path)
        fresh.manifest[key] = run.manifest[key]
        fresh.save()
    run.manifest = fresh.manifest


def _sync(run, uri: str, artifacts: dict[str, Path]) -> str:
    client = _client(uri)
    run_id = _existing_run(client, run.manifest.get(MANIFEST_KEY, {}), uri)
    logged = client.get_run(run_id).data if run_id else None
    if run_id is None:
        experiment = _experiment_id(client, uri)
        started = time.time() - (run.manifest.get("train_seconds") or 0)
        run_id = client.create_run(experiment, start_time=int(started * 1000), run_name=run.path.name,
                                   tags={RUN_DIR_TAG: str(run.path.resolve()), "vadtool.kind": run.kind}).info.run_id
        run.manifest[MANIFEST_KEY] = {"tracking_uri": uri, "experiment_id": experiment, "run_id": run_id}
        _record_in_manifest(run, MANIFEST_KEY)
    _log_values(client, run_id, run, logged)
    if "search" in run.manifest and (logged is None or SEARCH_LOGGED_TAG not in logged.tags):
        _log_candidates(client, run_id, run)
    client.log_artifact(run_id, str(run.path / "vadtool.json"))
    for name in RUN_ARTIFACTS:  # uploaded again only when quantize wrote a new one
        digest = run.manifest["files"].get(name)
        tag = f"vadtool.sha256.{name}"
        if digest and (run.path / name).is_file() and (logged is None or logged.tags.get(tag) != digest):
            client.log_artifact(run_id, str(run.path / name))
            client.set_tag(run_id, tag, digest)
    if (run.path / "evaluations").is_dir():
        client.log_artifacts(run_id, str(run.path / "evaluations"), "evaluations")
    for folder, path in artifacts.items():
        path = Path(path)
        if path.is_dir():
            client.log_artifacts(run_id, str(path), folder)
        elif path.is_file():
            client.log_artifact(run_id, str(path), folder)
    client.set_terminated(run_id)
    return run_id


def _existing_run(client, recorded: dict, uri: str) -> str | None:
    """The run directory's MLflow run in this store, if it has one that was not deleted."""
    if not recorded.get("run_id") or recorded.get("tracking_uri") != uri:
        return None
    from mlflow.exceptions import MlflowException
    try:
        found = client.get_run(recorded["run_id"])
    except MlflowException:
        return None
    return None if found.info.lifecycle_stage == "deleted" else recorded["run_id"]


def params_of(manifest: dict) -> dict[str, str]:
    """The run's parameters: what was trained on what (recipe, input, data, board)."""
    out = {"kind": manifest["kind"], "vadtool_version": manifest.get("vadtool_version"),
           "data": manifest.get("data", {}).get("root"),
           "threshold_source": manifest.get("threshold_source"),
           "search_chosen": manifest.get("search", {}).get("chosen"),
           "board": manifest.get("board", {}).get("name"), "board_base": manifest.get("board", {}).get("base")}
    out.update(_flatten(manifest.get("recipe", {}), "recipe."))
    out.update(_flatten(manifest.get("input", {}), "input."))
    if "validation" in manifest:
        out.update(_flatten(manifest["validation"], "validation."))
    return {k: _param_text(v) for k, v in out.items() if v is not None}


def _flatten(d: dict, prefix: str) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _param_text(v) -> str:
    text = v if isinstance(v, str) else json.dumps(v)
    return text[:PARAM_MAX]


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if v == v and abs(v) != float("inf") else None


def metrics_of(run_dir: Path, manifest: dict) -> dict[str, float]:
    """Every number the run directory holds: training, quantization, size and arena, and each
    stored evaluation as <runtime>/<key> (device: instructions per inference, flash, RAM...)."""
    from .evaluate import load_evaluations
    m = {"train_seconds": manifest.get("train_seconds"), "threshold": manifest.get("threshold"),
         "threshold_int8": manifest.get("threshold_int8"), "head_params": manifest.get("head_params"),
         "tflm_arena_bytes": manifest.get("tflm_arena_bytes")}
    if "search" in manifest:
        chosen = next((c for c in manifest["search"]["candidates"] if c.get("chosen")), {})
        m.update({"search/seconds": manifest["search"].get("seconds"),
                  "search/candidates": len(manifest["search"]["candidates"]),
                  "search/val_auroc": chosen.get("rank_key")})
    for key, value in manifest.get("fit", {}).items():  # the classifier's training
        m[f"fit/{key}"] = value
    for key, value in manifest.get("board", {}).get("estimate", {}).items():
        m[f"board_estimate/{key}"] = value
    for key, value in manifest.get("quantization", {}).items():
        m["model_bytes" if key == "model_bytes" else f"quantize/{key}"] = value
    evaluations = load_evaluations(run_dir)
    float_auroc = evaluations.get("float", {}).get("image_auroc")
    for runtime, result in evaluations.items():
        for key, value in result.items():
            m[f"{runtime}/{key}"] = value
        for key, value in (result.get("mismatch_counts") or {}).items():
            m[f"{runtime}/mismatches_{key}"] = value
        if runtime != "float" and float_auroc is not None and result.get("image_auroc") is not None:
            m[f"{runtime}/auroc_drift"] = result["image_auroc"] - float_auroc
    return {k: n for k, v in m.items() if (n := _number(v)) is not None}


def _tags_of(run_dir: Path) -> dict[str, str]:
    """The device's words (board, port, timer, head) as tags: they change with each bench."""
    from .evaluate import load_evaluations
    device = load_evaluations(run_dir).get("device", {})
    return {f"device.{k}": str(device[k]) for k in ("board", "port", "timer", "head_kind", "head_on_device")
            if device.get(k) is not None}


def _log_values(client, run_id: str, run, logged) -> None:
    """Parameters not logged yet (MLflow's are write-once), metrics whose value changed
    (a re-evaluation is a new point), tags."""
    from mlflow.entities import Metric, Param, RunTag
    now = int(time.time() * 1000)
    have_params = logged.params if logged else {}
    have_metrics = logged.metrics if logged else {}
    params = [Param(k, v) for k, v in params_of(run.manifest).items() if k not in have_params]
    metrics = [Metric(k, v, now, 0) for k, v in metrics_of(run.path, run.manifest).items()
               if have_metrics.get(k) != v]
    tags = [RunTag(k, v) for k, v in _tags_of(run.path).items()]
    for start in range(0, max(len(params), len(metrics), len(tags), 1), 100):  # MLflow's batch limit
        client.log_batch(run_id, metrics=metrics[start:start + 100], params=params[start:start + 100],
                         tags=tags[start:start + 100])


def _log_candidates(client, parent: str, run) -> None:
    """Every search candidate as a child run: its layers, pooling, density and image score as
    parameters, its validation AUROCs (per defect family as val_auroc_family/<family>) and head
    size as metrics, excluded ones tagged why."""
    from mlflow.entities import Metric, Param, RunTag
    experiment = client.get_run(parent).info.experiment_id
    now = int(time.time() * 1000)
    for row in run.manifest["search"]["candidates"]:
        tags = {PARENT_TAG: parent, CANDIDATE_TAG: row["candidate"]}
        if row.get("chosen"):
            tags["vadtool.chosen"] = "true"
        if row.get("excluded"):
            tags["vadtool.excluded"] = row["excluded"][:PARAM_MAX]
        child = client.create_run(experiment, run_name=row["candidate"], tags=tags).info.run_id
        layers, pool, density, image_score = _candidate_fields(row["candidate"])
        params = [Param("layers", layers), Param("pool", pool), Param("density", density),
                  Param("image_score", image_score), Param("grid", json.dumps(row.get("grid")))]
        flat = {**{k: v for k, v in row.items() if not isinstance(v, dict)},  # per family: key/family
                **{f"{k}/{f}": x for k, v in row.items() if isinstance(v, dict) for f, x in v.items()}}
        metrics = [Metric(k, n, now, 0) for k, v in flat.items() if (n := _number(v)) is not None]
        client.log_batch(child, metrics=metrics, params=params)
        client.set_terminated(child)
    client.set_tag(parent, SEARCH_LOGGED_TAG, str(len(run.manifest["search"]["candidates"])))


def _candidate_fields(name: str) -> tuple[str, str, str, str]:
    """"s8+s16 pool 7/2 knn max" -> ("s8+s16", "7/2", "knn", "max") (search.Candidate.name)."""
    layers, _, pool, density, image_score = name.split(" ")
    return layers, pool, density, image_score


@dataclass
class TrackedRun:
    name: str
    run_id: str
    start_time: int
    run_dir: str
    kind: str
    metrics: dict


def list_runs(settings: Settings, limit: int = 20) -> tuple[str, list[TrackedRun]]:
    """The store's vadtool runs (not the search's child runs), newest first."""
    uri = store_uri(settings)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        raise TrackingError(f"no MLflow store at {uri}: nothing was tracked from this folder; run "
                            "from the folder you trained in, or give --tracking-uri")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = _client(uri)
            name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                return uri, []
            found = client.search_runs([experiment.experiment_id], f"tags.`{RUN_DIR_TAG}` LIKE '%'",
                                       max_results=limit, order_by=["attributes.start_time DESC"])
    except Exception as exc:
        raise TrackingError(f"MLflow store {uri}: {_first_line(exc)}") from exc
    return uri, [TrackedRun(r.info.run_name, r.info.run_id, r.info.start_time, r.data.tags.get(RUN_DIR_TAG, ""),
                            r.data.tags.get("vadtool.kind", ""), dict(r.data.metrics)) for r in found]
