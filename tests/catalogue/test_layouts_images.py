"""Catalogue: dataset layouts and image files a user may hand vadtool. Each is refused by
`data check` (and, for a few, by `train`) in one line naming the folder or file, exit 2,
and nothing written."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from catalogue.harness import refused


def _rename(path: Path, name: str) -> Path:
    return path.rename(path.with_name(name))


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header says width x height (the pixels never follow)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def _first(data: Path, folder: str) -> Path:
    return sorted((data / folder).glob("*.png"))[0]


# name -> mutate(data) returning what the error line must name
LAYOUTS = {
    "test_Good": lambda d: _rename(d / "test" / "good", "Good"),
    "test_GOOD": lambda d: _rename(d / "test" / "good", "GOOD"),
    "Train_at_root": lambda d: _rename(d / "train", "Train"),
    "TEST_at_root": lambda d: _rename(d / "test", "TEST"),
    "Ground_Truth_at_root": lambda d: _rename(d / "ground_truth", "Ground_Truth"),
    "train_GOOD": lambda d: _rename(d / "train" / "good", "GOOD"),
    "image_at_root": lambda d: (_first(d, "train/good").rename(d / "stray.png"), d / "stray.png")[1],
    "nested_folder": lambda d: (d / "train" / "good" / "more").mkdir() or d / "train" / "good" / "more",
    "defect_in_train": lambda d: (d / "train" / "crack").mkdir() or d / "train" / "crack",
    "mixed_layouts": lambda d: (d / "good").mkdir() or d,
    "truncated_png": lambda d: _truncate(_first(d, "train/good")),
    "garbage_png": lambda d: _write(_first(d, "test/good"), b"\x89PNG\r\n\x1a\nnot really"),
    "empty_png": lambda d: _write(_first(d, "test/crack"), b""),
    "mask_wrong_size": lambda d: _small_mask(d),
    "mask_without_image": lambda d: _write(d / "ground_truth" / "crack" / "zzz_mask.png",
                                           _first(d, "ground_truth/crack").read_bytes()),
}


def _truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[:200])
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _small_mask(data: Path) -> Path:
    from PIL import Image
    mask = _first(data, "ground_truth/crack")
    Image.new("L", (16, 16)).save(mask)
    return mask


@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_data_check_refuses(case, data_copy, tmp_path):
    named = LAYOUTS[case](data_copy)
    done = refused("data", "check", data_copy, names=data_copy, watch=[tmp_path])
    # every problem is a `problem:` line of stdout; the one error line names the folder
    assert any(str(named) in line for line in done.stdout.splitlines() if line.startswith("problem:")), done.stdout


def test_plain_layout_in_capitals_is_refused(tmp_path, tiny_data):
    data = tmp_path / "plain"
    (data / "Good").mkdir(parents=True)
    (data / "anomaly").mkdir()
    for i, p in enumerate(sorted((tiny_data / "train" / "good").glob("*.png"))[:6]):
        (data / "Good" / p.name).write_bytes(p.read_bytes())
    assert "differs only in case" in refused("data", "check", data, watch=[tmp_path]).stdout


def test_truncated_jpeg_is_found_by_check(data_copy, tmp_path):
    """data check decodes what train decodes: a JPEG cut short has a good header."""
    from PIL import Image
    victim = _first(data_copy, "train/good")
    jpeg = victim.with_suffix(".jpg")
    Image.open(victim).convert("RGB").save(jpeg, quality=95)
    victim.unlink()
    jpeg.write_bytes(jpeg.read_bytes()[:-400])
    assert f"{jpeg}: cannot read image" in refused("data", "check", data_copy, watch=[tmp_path]).stdout


def test_huge_png_says_downscale(data_copy, tmp_path):
    victim = _first(data_copy, "train/good")
    _png_header_only(victim, 20000, 20000)
    done = refused("data", "check", data_copy, watch=[tmp_path])
    line = [p for p in done.stdout.splitlines() if str(victim) in p][0]
    assert "downscale" in line and "20000x20000" in line


@pytest.mark.parametrize("args", [["data", "check", "nothere"], ["data", "check", "afile"]])
def test_data_check_not_a_dataset(args, tmp_path):
    (tmp_path / "afile").write_text("x")
    refused(*args, names=args[-1], watch=[tmp_path], cwd=tmp_path)


def test_train_refuses_a_case_variant_before_training(data_copy, tmp_path, weights):
    _rename(data_copy / "test" / "good", "Good")
    refused("train", "fomo-ad", data_copy, "--out", tmp_path / "run", "--no-search",
            names="test/Good", watch=[tmp_path])
