"""Tests for vadtool.synth: determinism, exact masks, layout, atomic writing."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_dilation

from vadtool import data, synth
from vadtool.errors import DatasetError

SMALL = dict(size=64, n_train=4, n_test_good=2, n_per_defect=3)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("kind", synth.KINDS)
def test_same_seed_same_bytes(tmp_path, kind):
    a = files(synth.make_dataset(tmp_path / "a", seed=7, kind=kind, **SMALL))
    b = files(synth.make_dataset(tmp_path / "b", seed=7, kind=kind, **SMALL))
    c = files(synth.make_dataset(tmp_path / "c", seed=8, kind=kind, **SMALL))
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a if "/good/" in k)


@pytest.mark.parametrize("kind", synth.KINDS)
def test_masks_exact_for_anomalies_only(tmp_path, kind):
    out = synth.make_dataset(tmp_path / "ds", seed=1, kind=kind)
    ds = data.discover(out)
    assert ds.layout == "mvtec" and ds.has_masks
    assert ds.counts() == {"train": {"good": 60},
                           "test": {"good": 12, **{d: 6 for d in synth.DEFECTS}}}
    assert not (out / "ground_truth/good").exists()
    for s in ds.samples:
        image = np.asarray(Image.open(s.path))
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        if s.label == 0:
            assert s.mask is None
            assert data.load_mask(s.mask, 128).sum() == 0
            continue
        raw = np.asarray(Image.open(s.mask))
        assert set(np.unique(raw)) == {0, 255}
        m = raw > 0
        assert 0.005 <= m.mean() <= 0.06, (s.path, m.mean())
        # The masked pixels must stand out from their surroundings.
        ring = binary_dilation(m, iterations=3) & ~m
        gray = image.astype(float).mean(axis=2)
        assert abs(gray[m].mean() - gray[ring].mean()) > 25, s.path


def test_good_images_vary(tmp_path):
    out = synth.make_dataset(tmp_path / "ds", seed=2, **SMALL)
    a, b = (np.asarray(Image.open(out / f"train/good/00{i}.png")) for i in (0, 1))
    assert not np.array_equal(a, b)


def test_refuses_non_empty_out(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match=f"{out}: already exists and is not an empty"):
        synth.make_dataset(out, **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert (out / "keep.txt").read_text() == "mine"


def test_empty_out_and_new_parents(tmp_path):
    (tmp_path / "empty").mkdir()
    assert data.discover(synth.make_dataset(tmp_path / "empty", **SMALL))
    assert data.discover(synth.make_dataset(tmp_path / "x/y/ds", **SMALL))


def test_failure_leaves_nothing(tmp_path, monkeypatch):
    calls = []
    real = synth._draw

    def flaky(*args):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("disk full")
        return real(*args)

    monkeypatch.setattr(synth, "_draw", flaky)
    with pytest.raises(RuntimeError):
        synth.make_dataset(tmp_path / "ds", **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        synth.make_dataset(tmp_path / "ds", kind="cloud")
    with pytest.raises(ValueError):
        synth.make_dataset(tmp_path / "ds", size=8)
    assert not (tmp_path / "ds").exists()
