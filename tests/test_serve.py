"""`vadtool serve` as a real process on a free loopback port, driven over HTTP and through its
page in headless Chromium: the champion's answer, both models in the store, the shadow report
of a planted disagreement, promote, export, bad input, and a SIGKILL during a burst."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import requests
from click.testing import CliRunner
from PIL import Image

from vadtool.cli import cli
from vadtool.models.int_head import IntHead
from vadtool.rundir import Run
from vadtool.serve.process import ServiceProcess
from vadtool.serve.served import ServedModel
from vadtool.serve.store import Store, StoreError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def vadtool(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


def post(url: str, body: bytes, content_type: str = "image/png", **headers) -> requests.Response:
    return requests.post(f"{url}/predict", data=body, headers={"Content-Type": content_type, **headers}, timeout=60)


@pytest.fixture(scope="module")
def eager_challenger(fomo_run, tmp_path_factory) -> Path:
    """The FOMO-AD run with its int8 threshold planted at the lowest int32: it calls every
    image anomalous, so it disagrees with the champion on every image the champion calls normal."""
    run = Run.open(shutil.copytree(fomo_run, tmp_path_factory.mktemp("challenger") / "eager"))
    head = IntHead.load(run.file("head_int.npz"))
    head.threshold = -(2 ** 31)
    run.add_file("head_int.npz", head.save)
    run.save()
    return run.path


@pytest.fixture(scope="module")
def images(synth_data) -> dict[str, list[Path]]:
    good = sorted((synth_data / "test" / "good").glob("*.png"))[:3]
    bad = sorted(p for p in (synth_data / "test").glob("*/*.png") if p.parent.name != "good")[:2]
    return {"good": good, "bad": bad}


@pytest.fixture(scope="module")
def shadow(fomo_run, eager_challenger, tmp_path_factory):
    store = tmp_path_factory.mktemp("serve") / "store"
    with ServiceProcess([fomo_run, "--challenger", eager_challenger, "--store", store]) as service:
        yield service, store


@pytest.fixture(scope="module")
def served(shadow, images):
    """Every test image posted once: {path: answer}."""
    service, _ = shadow
    answers = {}
    for path in images["good"] + images["bad"]:
        r = post(service.url, path.read_bytes(), **{"X-Filename": path.name})
        assert r.status_code == 200, r.text
        answers[path] = r.json()
    return answers


def test_predict_answers_with_the_champion_and_stores_both(shadow, served, fomo_run, eager_challenger):
    service, store = shadow
    champion = ServedModel(fomo_run, "litert")  # the same code path, in this process
    for path, answer in served.items():
        with Image.open(path) as im:
            width, height = im.size
        expected = champion.score(path, width, height)
        assert answer["score"] == expected["score"] and answer["cells"] == expected["cells"]
        assert answer["decision"] == ("anomalous" if answer["score"] > answer["threshold"] else "normal")
        assert answer["model_hash"] == Run.open(fomo_run).manifest["files"]["model_int8.tflite"]
        assert answer["runtime"] == "litert" and answer["ms"] > 0 and answer["threshold"] == champion.threshold
        assert len(np.asarray(answer["cells"]).shape) == 2 and isinstance(answer["boxes"], list)
        assert "challenger" not in json.dumps(answer)  # shadow: never in the answer
        record = requests.get(f"{service.url}/records/{answer['id']}", timeout=30).json()
        assert set(record["predictions"]) == {"champion", "challenger"}
        assert record["predictions"]["champion"]["score"] == answer["score"]
        assert record["predictions"]["challenger"]["anomalous"] is True  # the planted threshold
        ours, theirs = record["predictions"]["champion"], record["predictions"]["challenger"]
        assert ours["model_hash"] == theirs["model_hash"] and ours["head_hash"] != theirs["head_hash"]
        assert record["predictions"]["challenger"]["run"] == str(eager_challenger.resolve())
        assert record["filename"] == path.name and (record["width"], record["height"]) == (width, height)
        stored = store / record["file"]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    health = requests.get(f"{service.url}/health", timeout=30).json()
    assert health["status"] == "ok" and health["records"] == len(served)
    model = requests.get(f"{service.url}/model", timeout=30).json()
    assert model["champion"]["run"] == str(Path(fomo_run).resolve()) and model["challenger"]["threshold"] < -1e3


def test_overlays_are_pngs_of_the_image(shadow, served):
    service, _ = shadow
    path, answer = next(iter(served.items()))
    for role in ("champion", "challenger"):
        r = requests.get(f"{service.url}{answer['overlay']}", params={"model": role}, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(r.content)) as im:
            assert im.height >= 64 and im.width > 2 * im.height - 10  # heatmap | predicted, side by side
    missing = requests.get(f"{service.url}/overlay/nothing.png", timeout=30)
    assert missing.status_code == 404 and "no record" in missing.json()["error"]


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (width, height)).save(buf, format="PNG")
    return buf.getvalue()


def test_bad_input_is_a_4xx_with_one_line_and_the_service_goes_on(shadow, images):
    service, store = shadow
    before = requests.get(f"{service.url}/health", timeout=30).json()["records"]
    good = images["good"][0].read_bytes()
    cases = [
        (b"this is not an image", "image/png", 400, "not an image of a known format"),
        (b"", "image/png", 400, "empty body"),
        (b"\0" * (50 * 1024 * 1024), "image/png", 413, "at most"),
        (_png(10000, 10000, "1"), "image/png", 413, "10000x10000"),
        (good, "text/plain", 415, "content type"),
        (good[: len(good) // 2], "image/png", 400, "not a readable image"),  # truncated
    ]
    for body, content_type, status, words in cases:
        r = post(service.url, body, content_type)
        assert r.status_code == status, (words, r.status_code, r.text)
        error = r.json()["error"]
        assert words in error and "\n" not in error and r.text.count("\n") == 0
        assert requests.get(f"{service.url}/health", timeout=30).status_code == 200
    label = requests.post(f"{service.url}/records/nothing/label", json={"label": "normal"}, timeout=30)
    assert label.status_code == 404
    assert requests.get(f"{service.url}/health", timeout=30).json()["records"] == before  # nothing stored
    assert list((store / "tmp").iterdir()) == []
    assert post(service.url, good).status_code == 200  # still serving


def _driver(tmp_path: Path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1600"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="chromium/chromedriver not installed (CI installs them)")
def test_page_uploads_images_and_shows_scores_and_overlays(shadow, served, images, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    service, _ = shadow
    picked = [images["good"][1], images["bad"][0]]
    driver = _driver(tmp_path)
    try:
        driver.get(service.url + "/")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: "champion:" in d.find_element(By.ID, "models").text)
        shown_before = len(driver.find_elements(By.CSS_SELECTOR, ".card"))
        driver.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in picked))
        done = ".card[data-state=done]"
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, done)) == shown_before + len(picked))
        cards = driver.find_elements(By.CSS_SELECTOR, done)[:len(picked)]  # newest first
        for card, path in zip(cards, reversed(picked)):
            assert path.name in card.find_element(By.TAG_NAME, "h2").text
            record = requests.get(f"{service.url}/records/{card.get_attribute('data-id')}", timeout=30).json()
            for role in ("champion", "challenger"):
                block = card.find_element(By.CSS_SELECTOR, f".model[data-role={role}]")
                p = record["predictions"][role]
                assert block.find_element(By.CSS_SELECTOR, ".score").text == f"{p['score']:.4f}"
                assert block.find_element(By.CSS_SELECTOR, ".decision").text == ("ANOMALOUS" if p["anomalous"] else "normal")
                img = block.find_element(By.CSS_SELECTOR, "img.overlay")
                wait.until(lambda d: d.execute_script("return arguments[0].complete", img))
                assert driver.execute_script("return arguments[0].naturalWidth", img) > 64
        # the operator marks the first picked (good) image normal on the page
        card = cards[-1]
        card.find_element(By.CSS_SELECTOR, "button[data-label=normal]").click()
        wait.until(lambda d: card.find_element(By.CSS_SELECTOR, ".current").text == "marked normal")
        record = requests.get(f"{service.url}/records/{card.get_attribute('data-id')}", timeout=30).json()
        assert record["label"] == "normal"
    finally:
        driver.quit()


def test_shadow_report_shows_the_planted_disagreement_then_promote_and_export(shadow, served, images, tmp_path,
                                                                             fomo_run, eager_challenger):
    service, store = shadow
    for path, answer in served.items():  # the operator's labels, through the API
        label = "normal" if path in images["good"] else "anomalous"
        r = requests.post(f"{service.url}/records/{answer['id']}/label", json={"label": label}, timeout=30)
        assert r.status_code == 200 and r.json()["label"] == label
    out = tmp_path / "shadow"
    result = vadtool("shadow", "report", store, "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    (pair,) = report["pairs"]
    normal_by_champion = [a["id"] for a in served.values() if not a["anomalous"]]
    assert normal_by_champion, "the champion calls no test image normal: nothing to disagree on"
    assert set(normal_by_champion) <= set(pair["disagreements"])
    records = requests.get(f"{service.url}/records", params={"limit": 1000}, timeout=30).json()
    both = [r for r in records if "challenger" in r["predictions"]]
    agree = sum(r["predictions"]["champion"]["anomalous"] for r in both)  # the challenger says anomalous
    assert pair["images"] == len(both) and pair["agreement"] == pytest.approx(agree / len(both))
    assert pair["pearson"] == pytest.approx(1.0)  # same network and head: only the threshold differs
    labelled = [r for r in records if r["label"] is not None]
    n_bad = sum(r["label"] == "anomalous" for r in labelled)
    challenger = pair["labelled"]["challenger"]  # calls all anomalous: recall 1, precision n_bad/n
    assert challenger["f1"] == pytest.approx(2 * n_bad / (2 * n_bad + len(labelled) - n_bad))
    assert challenger["fp"] == len(labelled) - n_bad and pair["labelled"]["champion"]["auroc"] is not None
    page = (out / "index.html").read_text()
    for rid in normal_by_champion:
        assert f"data-id='{rid}'" in page
        for role in ("champion", "challenger"):
            assert (out / "overlays" / f"{rid}_{role}.png").is_file()
    assert f"{100 * pair['agreement']:.1f} %" in page

    result = vadtool("shadow", "promote", store)
    assert result.exit_code == 0, result.output
    serving = json.loads((store / "serving.json").read_text())
    assert serving == {"champion": str(eager_challenger.resolve()), "challenger": str(Path(fomo_run).resolve())}
    restart = vadtool("serve", "--store", store, "--port", "0")  # the running service still holds the store
    assert restart.exit_code == 2 and "another `vadtool serve` is writing to this store" in restart.output

    data = tmp_path / "confirmed"
    result = vadtool("store", "export", store, "--out", data)
    assert result.exit_code == 0, result.output
    from vadtool.data import discover
    ds = discover(data)
    assert ds.layout == "plain"
    assert len(list((data / "good").iterdir())) == len(labelled) - n_bad
    assert len(list((data / "anomaly").iterdir())) == n_bad
    again = vadtool("store", "export", store, "--out", data)
    assert again.exit_code == 2 and again.output.startswith("error: ") and "not empty" in again.output


def test_store_survives_sigkill_during_a_burst(fomo_run, images, tmp_path):
    store = tmp_path / "store"
    bodies = [p.read_bytes() for p in images["good"] + images["bad"]]
    committed: dict[str, str] = {}  # id -> sha256 of what was sent
    enough = threading.Event()
    failures: list[str] = []
    lock = threading.Lock()
    service = ServiceProcess([fomo_run, "--store", store])

    def client(k: int):
        session = requests.Session()
        i = k
        while True:
            body = bodies[i % len(bodies)]
            i += 1
            try:
                r = session.post(f"{service.url}/predict", data=body, headers={"Content-Type": "image/png"}, timeout=60)
            except requests.RequestException:
                return  # the server is gone (killed before or while answering)
            if r.status_code != 200:
                failures.append(r.text)
                return
            with lock:
                committed[r.json()["id"]] = hashlib.sha256(body).hexdigest()
                if len(committed) >= 24:
                    enough.set()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    assert enough.wait(120), "".join(service.log)[-2000:]
    assert service.stop(kill=True) == -9  # SIGKILL with requests in flight
    for t in threads:
        t.join(timeout=60)
    assert failures == []

    with Store(store, writer=True) as s:  # the next service's open, with its cleanup
        records = {r["id"]: r for r in s.all()}
        assert set(committed) <= set(records)  # no answered record lost
        for rid, r in records.items():  # no half record
            assert set(r["predictions"]) == {"champion"}
            assert hashlib.sha256(s.path(r).read_bytes()).hexdigest() == r["sha256"]
            if rid in committed:
                assert r["sha256"] == committed[rid]
        files = {p.name for p in (store / "images").iterdir()}
        assert files == {Path(r["file"]).name for r in records.values()}
        assert list((store / "tmp").iterdir()) == []


def test_store_cleans_up_an_interrupted_write_and_applies_retention(tmp_path):
    s = Store(tmp_path / "store", writer=True)
    prediction = {"run": "r", "model_hash": "h", "runtime": "litert", "score": 1.0, "threshold": 0.5,
                  "anomalous": True, "cells": [[1.0]], "input": None, "ms": 1.0}
    ids = [s.commit(s.stage(_png(8, 8), ".png"), width=8, height=8, predictions={"champion": prediction},
                    received=1000.0 + i) for i in range(6)]
    s.set_label(ids[0], "anomalous")
    staged = s.stage(b"half", ".png")  # killed before the rename
    (tmp_path / "store" / "images" / "lost.png").write_bytes(b"renamed, row never inserted")
    s.close()
    s = Store(tmp_path / "store", writer=True)
    assert s.recovered == {"tmp": 1, "orphan_images": 1} and not staged.tmp.exists()
    assert s.prune(keep=2) == 3  # the 3 oldest unlabelled go; the labelled oldest stays
    assert [r["id"] for r in s.all()] == [ids[5], ids[4], ids[0]]
    assert s.prune(max_age_days=1) == 2  # received in 1970
    assert [r["id"] for r in s.all()] == [ids[0]] and len(list((tmp_path / "store" / "images").iterdir())) == 1
    with pytest.raises(StoreError, match="another `vadtool serve`"):  # one writer at a time
        Store(tmp_path / "store", writer=True)
    s.close()


def test_serve_errors_are_one_line(tmp_path):
    result = vadtool("serve", "--store", tmp_path / "empty")
    assert result.exit_code == 2 and "give RUN" in result.output and "Traceback" not in result.output
    result = vadtool("serve", tmp_path, "--store", tmp_path / "s")
    assert result.exit_code == 2 and "not a run directory" in result.output
    assert not (tmp_path / "s").exists() and not (tmp_path / "empty").exists()  # nothing left behind



@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
def test_champion_on_a_device(fomo_run, images, tmp_path):
    """--device-port: the run's firmware built for the host board (the C a board runs), spoken
    to over the serial protocol; its answers are LiteRT's reference kernels' bit for bit."""
    from vadtool.build import build_project
    from vadtool.render import render
    render(fomo_run, "host", tmp_path / "fw")
    firmware = build_project(tmp_path / "fw").elf
    reference = ServedModel(fomo_run, "litert-ref")
    with ServiceProcess([fomo_run, "--device-port", f"host:{firmware}", "--store", tmp_path / "store"]) as service:
        for path in images["good"][:1] + images["bad"][:1]:
            answer = post(service.url, path.read_bytes()).json()
            with Image.open(path) as im:
                expected = reference.score(path, *im.size)
            assert answer["runtime"] == "device" and answer["model_hash"] == expected["model_hash"]
            assert (answer["score"], answer["cells"], answer["decision"]) == \
                (expected["score"], expected["cells"], expected["decision"])
