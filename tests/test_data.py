"""Tests for vadtool.data: layout discovery, refusals, image and mask loading."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vadtool import data
from vadtool.errors import DatasetError

REAL = Path("/work/shared/data")


def img(path: Path, size=(20, 16), mode="RGB", value=128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode != "RGB" else (value, value // 2, 7)).save(path)
    return path


def mask(path: Path, size=(20, 16)) -> Path:
    a = np.zeros(size[::-1], np.uint8)
    a[: size[1] // 2, : size[0] // 2] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a, "L").save(path)
    return path


def mvtec(root: Path, n_train=7, n_good=3, masks=True) -> Path:
    for i in range(n_train):
        img(root / f"train/good/{i:03d}.png")
    for i in range(n_good):
        img(root / f"test/good/{i:03d}.png")
    for i in range(2):
        img(root / f"test/crack/{i:03d}.png")
        img(root / f"test/scratch/{i:03d}.jpg")
        if masks:
            mask(root / f"ground_truth/crack/{i:03d}_mask.png")
    return root


def refused(root: Path, *needles: str) -> str:
    """discover() raises a one-line DatasetError containing every needle, and check()
    reports the same problem without raising."""
    with pytest.raises(DatasetError) as e:
        data.discover(root)
    msg = str(e.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)
    ds, problems = data.check(root)
    assert ds is None and msg in problems
    return msg


# ---- good layouts -------------------------------------------------------------------


def test_mvtec_layout(tmp_path):
    root = mvtec(tmp_path / "ds")
    (root / "train/good/.DS_Store").write_bytes(b"junk")
    (root / "README.txt").write_text("not an image")
    ds = data.discover(root)
    assert ds.layout == "mvtec" and ds.root == root
    assert ds.counts() == {"train": {"good": 7},
                           "test": {"good": 3, "crack": 2, "scratch": 2}}
    assert ds.has_masks
    assert [s.split for s in ds.samples[:7]] == ["train"] * 7
    for s in ds.split("test"):
        assert s.label == (s.defect != "good")
        if s.defect == "crack":
            assert s.mask == root / "ground_truth/crack" / f"{s.path.stem}_mask.png"
        else:
            assert s.mask is None
    assert all(s.label == 0 and s.mask is None for s in ds.split("train"))
    assert data.check(root) == (ds, [])
    with pytest.raises(ValueError):
        ds.split("val")


def test_mvtec_without_masks(tmp_path):
    ds = data.discover(mvtec(tmp_path / "ds", masks=False))
    assert not ds.has_masks
    assert ds.counts()["test"] == {"good": 3, "crack": 2, "scratch": 2}


@pytest.mark.parametrize("anomaly_dir", ["anomaly", "bad"])
def test_plain_layout(tmp_path, anomaly_dir):
    root = tmp_path / "ds"
    for i in range(10):
        img(root / f"good/g{i:02d}.{'PNG' if i % 2 else 'jpeg'}")
    for i in range(3):
        img(root / f"{anomaly_dir}/a{i}.Tif")
        mask(root / f"{anomaly_dir}/a{i}_mask.png")
    ds = data.discover(root)
    assert ds.layout == "plain"
    assert ds.counts() == {"train": {"good": 8}, "test": {"good": 2, anomaly_dir: 3}}
    # Every 5th good image by sorted name is held out for test.
    assert sorted(s.path.stem for s in ds.split("test") if s.label == 0) == ["g04", "g09"]
    bad = [s for s in ds.samples if s.label == 1]
    assert all(s.split == "test" and s.mask == s.path.with_name(f"{s.path.stem}_mask.png")
               for s in bad)
    assert ds.has_masks


# ---- refusals -----------------------------------------------------------------------


def test_missing_folder(tmp_path):
    refused(tmp_path / "nope", str(tmp_path / "nope"), "folder not found", "MVTec", "plain")


def test_unrecognisable_layout(tmp_path):
    img(tmp_path / "ds/images/a.png")
    refused(tmp_path / "ds", "not a recognisable dataset layout", "train/good", "anomaly/")


def test_mixed_layouts(tmp_path):
    root = mvtec(tmp_path / "ds")
    img(root / "good/x.png")
    refused(root, "mixes MVTec folders", "keep one layout")


def test_empty_training_set(tmp_path):
    root = mvtec(tmp_path / "ds", n_train=0)
    (root / "train/good").mkdir(parents=True)
    refused(root, f"{root / 'train/good'}: empty training set")


def test_missing_training_folder(tmp_path):
    root = mvtec(tmp_path / "ds", n_train=0)
    refused(root, f"{root / 'train/good'}: folder missing")


def test_plain_empty_good(tmp_path):
    img(tmp_path / "ds/anomaly/a.png")
    (tmp_path / "ds/good").mkdir()
    refused(tmp_path / "ds", f"{tmp_path / 'ds/good'}: empty training set")


def test_no_images_at_all(tmp_path):
    (tmp_path / "ds/train/good").mkdir(parents=True)
    (tmp_path / "ds/test/good").mkdir(parents=True)
    (tmp_path / "ds/train/good/notes.txt").write_text("x")
    refused(tmp_path / "ds", "no images found", ".png")


def test_anomalies_in_training_split(tmp_path):
    root = mvtec(tmp_path / "ds")
    img(root / "train/crack/005.png")
    refused(root, f"{root / 'train/crack'}: anomalous images in the training split",
            str(root / "test/crack"))


def test_image_with_two_masks(tmp_path):
    root = mvtec(tmp_path / "ds")
    mask(root / "ground_truth/crack/001_mask.bmp")
    refused(root, f"{root / 'test/crack/001.png'}: has 2 masks", "001_mask.bmp",
            "001_mask.png")


def test_mask_without_image(tmp_path):
    root = mvtec(tmp_path / "ds")
    mask(root / "ground_truth/crack/003_mask.png")
    msg = refused(root)
    assert msg == (f"{root}/ground_truth/crack/003_mask.png: mask has no image "
                   f"test/crack/003.*; rename it or remove it")


def test_mask_for_unknown_defect(tmp_path):
    root = mvtec(tmp_path / "ds")
    mask(root / "ground_truth/dent/000_mask.png")
    refused(root, str(root / "ground_truth/dent/000_mask.png"), "test/dent/000.*")


def test_plain_mask_without_image(tmp_path):
    root = tmp_path / "ds"
    for i in range(3):
        img(root / f"good/{i}.png")
    img(root / "anomaly/a.png")
    mask(root / "anomaly/a_mask.png")
    mask(root / "anomaly/b_mask.png")
    refused(root, f"{root / 'anomaly/b_mask.png'}: mask has no image anomaly/b.*")


def test_mask_matching_two_images(tmp_path):
    root = mvtec(tmp_path / "ds")
    img(root / "test/crack/000.bmp")
    refused(root, str(root / "ground_truth/crack/000_mask.png"), "000.bmp", "000.png",
            "rename all but one")


def test_anomaly_and_bad_both_present(tmp_path):
    root = tmp_path / "ds"
    img(root / "good/0.png")
    img(root / "anomaly/a.png")
    img(root / "bad/b.png")
    refused(root, f"{root}: has both anomaly/ and bad/", "merge")


def test_anomalous_image_missing_its_mask(tmp_path):
    root = mvtec(tmp_path / "ds")
    img(root / "test/crack/002.png")
    refused(root, f"{root / 'test/crack/002.png'}: has no mask", "002_mask.png")


def test_badly_named_mask_and_stray_masks(tmp_path):
    root = mvtec(tmp_path / "ds")
    mask(root / "ground_truth/crack/001.png")
    refused(root, str(root / "ground_truth/crack/001.png"), "rename it to 001_mask.png")
    (root / "ground_truth/crack/001.png").unlink()
    mask(root / "test/scratch/000_mask.png")
    refused(root, str(root / "test/scratch/000_mask.png"), "ground_truth/scratch/")


def test_loose_images_and_nested_folders(tmp_path):
    root = mvtec(tmp_path / "ds")
    img(root / "test/loose.png")
    refused(root, str(root / "test/loose.png"), "move it into")
    (root / "test/loose.png").unlink()
    img(root / "test/crack/more/009.png")
    refused(root, f"{root / 'test/crack/more'}: nested folders are not read")


def test_check_collects_all_problems(tmp_path):
    root = mvtec(tmp_path / "ds")
    img(root / "train/crack/005.png")
    mask(root / "ground_truth/crack/007_mask.png")
    mask(root / "ground_truth/crack/000_mask.tif")
    ds, problems = data.check(root)
    assert ds is None
    assert len(problems) == 3, problems
    joined = "\n".join(problems)
    for part in ("train/crack", "007_mask.png", "000_mask.tif"):
        assert part in joined


def test_check_finds_corrupt_images_and_mask_size(tmp_path):
    root = mvtec(tmp_path / "ds")
    (root / "train/good/003.png").write_bytes(b"this is not a png")
    mask(root / "ground_truth/crack/001_mask.png", size=(10, 10))
    assert data.discover(root)  # discovery does not open files
    ds, problems = data.check(root)
    assert ds is None and len(problems) == 2, problems
    assert problems[0].startswith(f"{root / 'train/good/003.png'}: cannot read image")
    assert "mask is 10x10 but its image 001.png is 20x16" in problems[1]


# ---- loading ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "1", "I;16", "CMYK"])
@pytest.mark.parametrize("size", [(37, 53), (8, 8), (300, 11)])
def test_load_image_modes_and_sizes(tmp_path, mode, size):
    value = {"RGB": 200, "L": 200, "RGBA": (200, 200, 200, 0), "P": 3, "1": 1,
             "I;16": 51400, "CMYK": (0, 0, 0, 55)}[mode]
    p = tmp_path / f"x.{'tif' if mode == 'CMYK' else 'png'}"
    Image.new(mode, size, value).save(p)
    a = data.load_image(p, 32)
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    if mode in ("L", "I;16", "RGBA", "CMYK"):
        assert np.all(a == 200), (mode, np.unique(a))
    if mode == "1":
        assert np.all(a == 255)


def test_load_image_16bit_scaling(tmp_path):
    a = np.zeros((4, 8), np.uint16)
    a[:, 4:] = 65535
    Image.fromarray(a).save(tmp_path / "x.png")
    out = data.load_image(tmp_path / "x.png", 8)
    assert out[0, 0, 0] == 0 and out[0, 7, 0] == 255


def test_load_image_resizes_bilinear(tmp_path):
    checker = (np.indices((40, 40)).sum(0) % 2 * 255).astype(np.uint8)
    Image.fromarray(checker, "L").save(tmp_path / "c.png")
    a = data.load_image(tmp_path / "c.png", 20)
    assert np.all(np.abs(a.astype(int) - 128) <= 4)  # nearest would keep 0/255
    rgb = img(tmp_path / "r.png", size=(33, 17))
    want = Image.open(rgb).convert("RGB").resize((9, 9), Image.Resampling.BILINEAR)
    assert np.array_equal(data.load_image(rgb, 9), np.asarray(want))


def test_load_image_corrupt_and_missing(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DatasetError, match="broken.png: cannot read image.*re-save"):
        data.load_image(bad, 16)
    good = img(tmp_path / "trunc.png", size=(64, 64))
    good.write_bytes(good.read_bytes()[:60])
    with pytest.raises(DatasetError, match="trunc.png: cannot read image"):
        data.load_image(good, 16)
    with pytest.raises(DatasetError, match="gone.png: file not found"):
        data.load_image(tmp_path / "gone.png", 16)


def test_load_mask(tmp_path):
    assert np.array_equal(data.load_mask(None, 6), np.zeros((6, 6), np.uint8))
    m = data.load_mask(mask(tmp_path / "m_mask.png", size=(21, 13)), 8)
    assert m.shape == (8, 8) and m.dtype == np.uint8 and set(np.unique(m)) == {0, 1}
    assert m[0, 0] == 1 and m[7, 7] == 0
    with pytest.raises(DatasetError, match="nomask.png"):
        data.load_mask(tmp_path / "nomask.png", 8)


def test_load_images_progress(tmp_path):
    ds = data.discover(mvtec(tmp_path / "ds", n_train=3))
    calls = []
    arr = data.load_images(ds.split("train"), 24, progress=lambda d, n: calls.append((d, n)))
    assert arr.shape == (3, 24, 24, 3) and arr.dtype == np.uint8
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert data.load_images([], 24).shape == (0, 24, 24, 3)


# ---- the real datasets --------------------------------------------------------------


@pytest.mark.skipif(not REAL.is_dir(), reason=f"{REAL} is absent")
def test_real_datasets():
    bottle = data.discover(REAL / "mvtec_bottle")
    assert bottle.counts() == {
        "train": {"good": 209},
        "test": {"good": 20, "broken_large": 20, "broken_small": 22, "contamination": 21}}
    assert not bottle.has_masks
    for name in ("magnetic_tile", "battery_weld"):
        ds, problems = data.check(REAL / name)
        assert problems == [], problems[:3]
        assert ds.layout == "mvtec" and ds.has_masks
        assert all(s.mask is not None for s in ds.samples if s.label == 1)
        assert all(s.mask is None for s in ds.samples if s.label == 0)
    tile = data.discover(REAL / "magnetic_tile").counts()
    assert tile["train"] == {"good": 666} and tile["test"]["good"] == 286
    weld = data.discover(REAL / "battery_weld").counts()
    assert weld == {"train": {"good": 37}, "test": {"good": 35, "defective": 93}}
    s = data.discover(REAL / "battery_weld").split("test")[-1]
    assert data.load_image(s.path, 64).shape == (64, 64, 3)
    assert data.load_mask(s.mask, 64).max() == 1
