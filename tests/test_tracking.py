"""Experiment tracking with the real MLflow: a SQLite store in a temp folder, read back
through MlflowClient. tests/conftest.py turns tracking off for every other test; these
commands turn it on (VADTOOL_NO_TRACK unset) and name their store with --tracking-uri."""

import hashlib
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vadtool import synth, tracking
from vadtool.cli import cli
from vadtool.evaluate import load_evaluations

needs_qemu = pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                reason="qemu-system-arm or arm-none-eabi-gcc not installed")


@pytest.fixture
def tracked(monkeypatch):
    monkeypatch.delenv(tracking.NO_TRACK_ENV, raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One SQLite store for the module (creating its tables costs seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def vadtool(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def client(uri):
    from mlflow.tracking import MlflowClient
    return MlflowClient(tracking_uri=uri)


def vadtool_runs(uri):
    c = client(uri)
    experiment = c.get_experiment_by_name(tracking.EXPERIMENT)
    return c.search_runs([experiment.experiment_id], f"tags.`{tracking.RUN_DIR_TAG}` LIKE '%'")


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_each_stage_adds_to_the_run_directory_s_mlflow_run(tmp_path, tracked, store, weights):
    data = synth.make_dataset(tmp_path / "parts", seed=11, size=64, n_train=15, n_test_good=3, n_per_defect=2)
    run = tmp_path / "run"
    done = vadtool("-q", "train", "fomo-ad", data, "--out", run, "--size", 64, "--tracking-uri", store)
    assert done.exit_code == 0, done.output
    manifest = json.loads((run / "vadtool.json").read_text())
    run_id = manifest["mlflow"]["run_id"]
    assert manifest["mlflow"]["tracking_uri"] == store
    for args in (("quantize", run), ("evaluate", run, "--runtime", "litert", "--limit", 8),
                 ("bench", run, "--runtime", "float", "--limit", 8, "--markdown", tmp_path / "bench.md"),
                 ("report", run, "--out", tmp_path / "report", "--gallery", 2)):
        # no --tracking-uri: the run directory's own store
        done = vadtool("-q", *args)
        assert done.exit_code == 0, done.output
    manifest = json.loads((run / "vadtool.json").read_text())
    assert manifest["mlflow"]["run_id"] == run_id

    [found] = vadtool_runs(store)  # one MLflow run per run directory, every stage in it
    assert found.info.run_id == run_id and found.info.run_name == "run" and found.info.status == "FINISHED"
    params, metrics = found.data.params, found.data.metrics
    assert params["recipe.density"] == manifest["recipe"]["density"]
    assert params["search_chosen"] == manifest["search"]["chosen"]
    assert json.loads(params["recipe.shape"]) == manifest["recipe"]["shape"]
    evaluations = load_evaluations(run)
    for runtime in ("litert", "float"):
        for key in ("image_auroc", "image_f1", "n_images", "ms_per_image"):
            assert metrics[f"{runtime}/{key}"] == pytest.approx(evaluations[runtime][key])
    assert metrics["litert/auroc_drift"] == pytest.approx(evaluations["litert"]["image_auroc"]
                                                          - evaluations["float"]["image_auroc"])
    assert metrics["model_bytes"] == manifest["quantization"]["model_bytes"] == (run / "model_int8.tflite").stat().st_size
    assert metrics["tflm_arena_bytes"] == manifest["tflm_arena_bytes"] > 0
    assert metrics["train_seconds"] == manifest["train_seconds"]

    c = client(store)
    store_folder = Path(store.removeprefix("sqlite:///")).parent
    assert found.info.artifact_uri.startswith((store_folder / "mlruns").as_uri())  # beside the database
    artifacts = {a.path for a in c.list_artifacts(run_id)}
    assert {"vadtool.json", "model_int8.tflite", "head_int.npz", "evaluations", "bench", "report"} <= artifacts
    got = Path(c.download_artifacts(run_id, "", str(tmp_path / "got")))
    assert sha(got / "model_int8.tflite") == manifest["files"]["model_int8.tflite"]
    assert json.loads((got / "vadtool.json").read_text()) == manifest
    assert (got / "bench" / "bench.md").read_text() == (tmp_path / "bench.md").read_text()
    assert (got / "report" / "index.html").is_file()

    children = c.search_runs([found.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run_id}'",
                             max_results=1000)
    table = {r["candidate"]: r for r in manifest["search"]["candidates"]}
    assert sorted(r.info.run_name for r in children) == sorted(table)  # every candidate, once
    for child in children:
        row = table[child.info.run_name]
        assert child.data.metrics["rank_key"] == pytest.approx(row["rank_key"])
        assert child.data.metrics["head_params"] == row["head_params"]
        for family, value in row["val_auroc_family"].items():  # the per-family numbers too
            assert child.data.metrics[f"val_auroc_family/{family}"] == pytest.approx(value)
        assert f"pool {child.data.params['pool']} {child.data.params['density']}" in child.info.run_name
    assert [r.info.run_name for r in children if r.data.tags.get("vadtool.chosen")] == [manifest["search"]["chosen"]]

    listed = vadtool("runs", "--tracking-uri", store)  # the store's runs and their key metrics
    assert listed.exit_code == 0, listed.output
    [line] = [l for l in listed.output.splitlines() if str(run) in l]
    assert f"{evaluations['float']['image_auroc']:.4f}" in line and run_id[:12] in line
    assert f"{manifest['quantization']['model_bytes']:,}" in line
    as_json = json.loads(vadtool("runs", "--tracking-uri", store, "--json").output)
    assert [r["run_id"] for r in as_json] == [run_id]  # the candidates are not listed as runs


@needs_qemu
def test_device_bench_logs_instructions_to_the_run_made_by_track(tmp_path, tracked, store, bar_run):
    run = tmp_path / "bars"
    shutil.copytree(bar_run, run)  # the session's run stays untracked for the other tests
    done = vadtool("track", run, "--tracking-uri", store)  # a run made with tracking off, logged now
    assert done.exit_code == 0, done.output
    run_id = json.loads((run / "vadtool.json").read_text())["mlflow"]["run_id"]
    assert run_id in done.output
    for args in (("render", run, "--board", "qemu-an386", "--out", tmp_path / "fw"), ("build", tmp_path / "fw"),
                 ("bench", run, "--project", tmp_path / "fw", "--emulate", "--limit", 2)):
        done = vadtool("-q", *args)
        assert done.exit_code == 0, done.output
    device = load_evaluations(run)["device"]
    found = client(store).get_run(run_id)
    metrics = found.data.metrics
    for key in ("instructions_per_inference", "head_instructions_per_inference", "arena_bytes",
                "flash_bytes", "ram_bytes", "image_auroc", "mismatches"):
        assert metrics[f"device/{key}"] == device[key], key
    assert metrics["device/instructions_per_inference"] > 1e6 and metrics["device/mismatches"] == 0
    assert found.data.tags["device.board"] == "qemu-an386"
    assert found.data.params["recipe.backbone.alpha"] == "0.35"  # the training's, logged by track


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_store_that_fails_warns_in_one_line_and_keeps_the_work(tmp_path, tracked, fomo_run):
    run = tmp_path / "fomo"
    shutil.copytree(fomo_run, run)
    down = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    done = vadtool("-q", "evaluate", run, "--runtime", "litert", "--limit", 4, "--tracking-uri", down)
    assert done.exit_code == 0, done.output
    warnings = [l for l in done.output.splitlines() if l.startswith("warning:")]
    assert len(warnings) == 1 and down in warnings[0] and "does not answer" in warnings[0]
    assert f"vadtool track {run}" in warnings[0]
    assert "Traceback" not in done.output
    assert load_evaluations(run)["litert"]["n_images"] == 4  # the evaluation is kept
    assert "mlflow" not in json.loads((run / "vadtool.json").read_text())


@pytest.mark.parametrize("uri,says", [("bogus://nowhere", "MLflow cannot open it (no store for 'bogus')"),
                                      ("sqlite:////no/such/folder/mlflow.db", "folder /no/such/folder does not exist")])
def test_a_bad_tracking_uri_fails_before_the_work(tmp_path, tracked, fomo_run, uri, says):
    run = tmp_path / "fomo"
    shutil.copytree(fomo_run, run)
    shutil.rmtree(run / "evaluations", ignore_errors=True)
    done = vadtool("evaluate", run, "--runtime", "litert", "--tracking-uri", uri)
    assert done.exit_code == 2
    assert done.output.startswith("error: tracking URI") and says in done.output
    assert len(done.output.strip().splitlines()) == 1 and not (run / "evaluations").exists()


def test_runs_without_a_store_says_so_and_creates_none(tmp_path, tracked):
    missing = tmp_path / "mlflow.db"
    done = vadtool("runs", "--tracking-uri", f"sqlite:///{missing}")
    assert done.exit_code == 2 and "no MLflow store at" in done.output and not missing.exists()


def test_tracking_off_writes_no_store_and_imports_no_mlflow(tmp_path, fomo_run, monkeypatch):
    run = tmp_path / "fomo"
    shutil.copytree(fomo_run, run)
    monkeypatch.chdir(tmp_path)
    for off in (["--no-track"], []):  # the flag, and VADTOOL_NO_TRACK=1 from tests/conftest.py
        done = vadtool("-q", "evaluate", run, "--runtime", "litert", "--limit", 2, *off)
        assert done.exit_code == 0, done.output
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert "mlflow" not in json.loads((run / "vadtool.json").read_text())
    # the CLI with tracking off never imports MLflow (it costs seconds)
    probe = ("import sys; from vadtool.cli import cli; from vadtool import tracking; "
             f"tracking.sync({str(run)!r}, tracking.Settings(enabled=False)); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
