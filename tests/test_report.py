"""`vadtool report`: a static page that opens from disk in a real browser with every image
loaded, numbers that match the evaluations, overlays whose heat lies on the defect, and the
classifier's image-only gallery."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vadtool import data as datasets
from vadtool.commands_report import report
from vadtool.errors import VadError
from vadtool.report import overlay, write_overlay

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def run_report(*args):
    return CliRunner().invoke(report, [str(a) for a in args], obj={"quiet": True, "debug": False})


def _copy_run(run: Path, tmp_path: Path) -> Path:
    """A private copy of a session run, without evaluations other tests may have stored."""
    copy = tmp_path / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("evaluations"))
    return copy


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("src", "href") and v is not None]


def _chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr",
         "--vmodule=file_url_loader_factory=1", "--virtual-time-budget=5000", *extra, url],
        capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def fomo_report(fomo_run, tmp_path_factory):
    """A report of a copy of the FOMO-AD run holding a stored litert evaluation and a stored
    device evaluation (the litert one with device measurements), plus float evaluated by
    the report itself."""
    from vadtool.evaluate import evaluate
    tmp = tmp_path_factory.mktemp("report")
    run = _copy_run(fomo_run, tmp)
    litert = evaluate(run, runtime="litert", keep_scores=True)
    device = {**litert, "runtime": "device", "board": "mps2-an386", "mismatches": 0,
              "instructions_per_inference": 29_512_345, "cycles_per_inference": None,
              "clock_hz": 25_000_000, "ms_per_inference_at_clock": 1180.5,
              "flash_bytes": 123_456, "ram_bytes": 65_432, "arena_bytes": 60_000}
    (run / "evaluations").mkdir()
    for name, result in (("litert", litert), ("device", device)):
        (run / "evaluations" / f"{name}.json").write_text(json.dumps(result))
    out = tmp / "report"
    result = run_report(run, "--out", out, "--runtime", "device", "--runtime", "float", "--gallery", 12)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return run, out, litert, result.output


def test_report_files_are_local_and_complete(fomo_report):
    run, out, litert, output = fomo_report
    index = out / "index.html"
    assert output.strip().splitlines()[-1] == str(index)  # the command prints the page's path
    html = index.read_text()
    parser = _Refs()
    parser.feed(html)
    assert len(parser.refs) >= 4 + 12 * 3
    for ref in parser.refs:
        assert not re.match(r"^[a-z]+:|^//|^/", ref), f"not a relative local file: {ref}"
        assert (out / ref).is_file(), f"missing {ref}"
        assert (out / ref).resolve().is_relative_to(out.resolve())
    assert "http://" not in html and "https://" not in html and "@import" not in html
    for png in out.rglob("*.png"):  # small pictures
        with Image.open(png) as im:
            assert max(im.size) <= 512, png
    assert sum(p.stat().st_size for p in out.rglob("*")) < 4_000_000
    data = json.loads((out / "report.json").read_text())
    assert [r["runtime"] for r in data["rows"]] == ["float", "litert", "device"]
    assert data["primary"] == "device" and data["heat_runtime"] == "tflm"
    # worst first: every misclassified image comes before every right one
    wrong = [g["wrong"] for g in data["gallery"]]
    assert wrong == sorted(wrong, reverse=True)
    assert {g["label"] for g in data["gallery"]} == {"normal", "anomalous"}


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it)")
def test_report_opens_in_headless_chromium(fomo_report, tmp_path):
    run, out, litert, _ = fomo_report
    url = (out / "index.html").resolve().as_uri()
    page = _chromium(tmp_path, url, "--dump-dom")
    assert page.returncode == 0, page.stderr[-2000:]
    dom = page.stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    n_images = int(re.search(r'data-images="(\d+)"', body).group(1))
    assert n_images >= 4 + 12 * 3 and 'data-broken-images="0"' in body, body
    # every file the page asked for exists, and nothing but files was asked for
    loaded = re.findall(r"FileURLLoader::Start: (\S+)", page.stderr)
    assert len(loaded) >= n_images
    for u in loaded:
        assert Path(u.removeprefix("file://")).is_file(), u
    # the metrics table, rendered, carries the run's numbers
    rows = dict(re.findall(r'<tr[^>]*data-runtime="(\w+)"[^>]*>(.*?)</tr>', dom, re.S))
    assert set(rows) == {"float", "litert", "device"}
    assert f"{litert['image_auroc']:.4f}" in rows["litert"]
    assert f"{litert['image_f1']:.3f}" in rows["litert"]
    manifest = json.loads((run / "vadtool.json").read_text())
    assert f"{manifest['quantization']['model_bytes']:,} B" in rows["litert"]
    assert "123,456 B" in rows["device"] and "65,432 B" in rows["device"]
    assert "29,512,345 instructions" in rows["device"] and "mps2-an386" in rows["device"]
    assert f"{litert['pixel_auroc']:.4f}" in rows["device"]
    assert manifest["files"]["model_int8.tflite"] in dom  # the manifest's hashes are shown
    shot = tmp_path / "shot.png"
    taken = _chromium(tmp_path, url, f"--screenshot={shot}", "--window-size=1280,2400")
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1280, 2400)
        assert np.asarray(im.convert("L")).std() > 10  # not a blank page


def _recover_heat(strip_png: Path, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """From a written overlay strip of (h, w) panels: the heat value (0..1) per pixel of the
    heatmap panel, recovered by un-blending it from the image panel, and the number of panels."""
    h, w = shape
    picture = np.asarray(Image.open(strip_png).convert("RGB")).astype(np.float32)
    n_panels = (picture.shape[1] + overlay.GAP) // (w + overlay.GAP)
    image = picture[:h, :w]
    heat = picture[:h, w + overlay.GAP:2 * w + overlay.GAP]
    colour = (heat - (1 - overlay.ALPHA) * image) / overlay.ALPHA
    dist = ((colour[:, :, None, :] - overlay.JET[None, None].astype(np.float32)) ** 2).sum(-1)
    return dist.argmin(-1) / (len(overlay.JET) - 1), n_panels


def test_overlay_heat_lies_on_the_defect(gaussian_fomo_run, synth_data, tmp_path):
    """write_overlay on the records `vadtool predict` writes (what predict --visualize uses);
    on the stride-8 Gaussian recipe, whose 6x6 grid at 96 px places heat more finely than the
    default's 3x3."""
    from vadtool.predict import predict_files
    samples = [s for s in datasets.discover(synth_data).split("test") if s.mask is not None]
    records = predict_files(gaussian_fomo_run, [s.path for s in samples], tmp_path / "pred", "float")
    checked = 0
    for k in np.argsort([-r["score"] for r in records])[:3]:  # the three clearest anomalies
        s, record = samples[k], records[k]
        assert record["anomalous"]
        png = write_overlay(s.path, record, tmp_path / f"{s.defect}_{s.path.stem}.png", mask_path=s.mask)
        shape = overlay.thumb_shape(s.path, 512)
        v, n_panels = _recover_heat(png, shape)
        assert n_panels == 4  # image, heatmap, truth, predicted
        mask = datasets.load_mask(s.mask, shape).astype(bool)
        assert v.max() > 0.95  # the highest cell, above the threshold: the hottest colour
        # the hottest region: the top 30 % of the range above the threshold; the grid is 6x6
        # (cells of 21 px here), so it is about one cell's footprint
        assert np.asarray(record["cells"]).shape == (6, 6)
        hot = v >= 1.0 - 0.3 * 0.5
        assert hot.mean() < 0.08
        assert (hot & mask).any(), f"{s.path}: the hottest region misses the mask"
        assert v[mask].mean() > v[~mask].mean() + 0.2
        checked += 1
    assert checked == 3


def test_report_for_the_classifier(classifier_run, tmp_path):
    run = _copy_run(classifier_run, tmp_path)
    out = tmp_path / "report"
    result = run_report(run, "--out", out, "--gallery", 6)
    assert result.exit_code == 0, result.output + repr(result.exception)
    data = json.loads((out / "report.json").read_text())
    assert [r["runtime"] for r in data["rows"]] == ["float"] and data["heat_runtime"] is None
    assert len(data["gallery"]) == 6
    # no heatmap and no predicted mask; the ground truth where the dataset has one
    assert all(set(g["panels"]) <= {"image", "truth"} for g in data["gallery"])
    assert all(("truth" in g["panels"]) == (g["label"] == "anomalous") for g in data["gallery"])
    html = (out / "index.html").read_text()
    assert "image scores only" in html and "heatmap" not in html.split('id="gallery"')[1].split("</thead>")[0]
    for g in data["gallery"]:
        assert (out / g["panels"]["image"]).is_file() and f"score {g['score']:.4g}" in html
    # predict --visualize for a classifier: the image and its score
    png = write_overlay(Path(data["gallery"][0]["path"]), {"score": 0.9, "threshold": 0.5}, tmp_path / "v.png")
    with Image.open(png) as im:
        assert im.size[0] == overlay.thumb_shape(Path(data["gallery"][0]["path"]), 512)[1]


def test_report_errors_name_the_fix(fomo_run, tmp_path):
    run = _copy_run(fomo_run, tmp_path)
    result = run_report(run, "--out", tmp_path / "r", "--runtime", "device")
    assert isinstance(result.exception, VadError) and "vadtool bench" in str(result.exception)
    result = run_report(run, "--out", tmp_path / "r", "--runtime", "gpu")
    assert isinstance(result.exception, VadError) and "gpu" in str(result.exception)
    result = run_report(tmp_path, "--out", tmp_path / "r")
    assert isinstance(result.exception, VadError) and "not a run directory" in str(result.exception)
    assert not (tmp_path / "r" / "index.html").exists()


def test_report_through_the_registered_command(fomo_report, tmp_path):
    """`vadtool report` prints the page's path, and a bad run is one line and exit code 2."""
    from vadtool.cli import cli
    run, _, _, _ = fomo_report
    result = CliRunner().invoke(cli, ["-q", "report", str(run), "--out", str(tmp_path / "r"),
                                      "--gallery", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "r" / "index.html")
    bad = CliRunner().invoke(cli, ["report", str(tmp_path), "--out", str(tmp_path / "r2")])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "Traceback" not in bad.output


def test_default_plots_the_fullest_evaluation_closest_to_the_device(fomo_run, synth_data, tmp_path):
    """A device evaluation usually covers a few images (--limit): by default the plots and
    the gallery show the evaluation on the most images, the closest to the device among them;
    evaluations of another dataset are left out when --data is given."""
    from vadtool.report.core import gather
    from vadtool.rundir import Run
    run = _copy_run(fomo_run, tmp_path)
    test = datasets.discover(synth_data).split("test")
    (run / "evaluations").mkdir()

    def store(runtime, n):
        scores = {"paths": [str(s.path) for s in test[:n]], "labels": [s.label for s in test[:n]],
                  "image_scores": [float(i) for i in range(n)]}
        (run / "evaluations" / f"{runtime}.json").write_text(json.dumps(
            {"runtime": runtime, "n_images": n, "image_auroc": 0.5, "threshold": 1.0, "scores": scores}))

    store("float", len(test))
    store("litert", len(test))
    store("device", 8)
    evaluations, primary, predictors = gather(Run.open(run), None, None)
    assert list(evaluations) == ["float", "litert", "device"]
    assert primary == "litert" and predictors == {}
    evaluations, primary, _ = gather(Run.open(run), None, ["device"])
    assert primary == "device"
    other = tmp_path / "other"
    shutil.copytree(synth_data, other)
    with pytest.raises(VadError, match="no stored device evaluation"):
        gather(Run.open(run), other, ["device"])
