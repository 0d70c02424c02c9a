"""Building firmware projects: flags, sizes, the fit check in kilobytes, missing tools."""

import shutil
import subprocess

import pytest

from vadtool import build
from vadtool.boards import BOARDS
from vadtool.errors import BuildError

from .conftest import make_project, needs_arm


def test_check_fit_message_in_kilobytes():
    with pytest.raises(BuildError, match=r"^needs 312 KB of RAM, nano33ble has 256 KB$"):
        build.check_fit(BOARDS["nano33ble"], 1000, 312 * 1024)
    with pytest.raises(BuildError, match=r"^needs 65 KB of CCM, stm32f405 has 64 KB$"):
        build.check_fit(BOARDS["stm32f405"], 1000, 1000, 65 * 1024)
    build.check_fit(BOARDS["stm32f405"], 1000, 128 * 1024, 64 * 1024)  # counted apart: fits
    with pytest.raises(BuildError, match=r"^needs 1 KB of CCM, nano33ble has 0 KB$"):
        build.check_fit(BOARDS["nano33ble"], 1000, 1000, 1)
    with pytest.raises(BuildError, match=r"^needs 1025 KB of flash, stm32f405 has 1024 KB$"):
        build.check_fit(BOARDS["stm32f405"], 1024 * 1024 + 1, 1000)
    build.check_fit(BOARDS["host"], 10**9, 10**9)


def test_parse_size():
    out = "   text\t   data\t    bss\t    dec\t    hex\tfilename\n   3628\t      8\t  19376\t  23012\t   59e4\tfw.elf\n"
    assert build.parse_size(out) == (3636, 19384)
    with pytest.raises(BuildError):
        build.parse_size("nonsense")


def test_project_files(tmp_path):
    build.write_project_files(tmp_path, "stm32f405")
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert {"Makefile", "main.c", "protocol.h", "vad_protocol.c", "board/firmware.ld",
            "board/board_config.h", "board/startup.c", "board/stm32f405_board.c"} <= names
    assert "mps2_board.c" not in {p.name for p in tmp_path.rglob("*")}
    assert build.project_board(tmp_path).name == "stm32f405"
    ld = (tmp_path / "board" / "firmware.ld").read_text()
    assert "ORIGIN = 0x08000000, LENGTH = 1048576" in ld and "LENGTH = 131072" in ld
    assert "-Werror" in (tmp_path / "Makefile").read_text()


def test_not_a_project(tmp_path):
    with pytest.raises(BuildError, match="is not a firmware project"):
        build.build_project(tmp_path)


def test_unknown_board(tmp_path):
    with pytest.raises(BuildError, match="unknown board 'pdp11'; known boards: qemu-an386"):
        build.write_project_files(tmp_path, "pdp11")


def test_project_without_model(tmp_path):
    build.write_project_files(tmp_path, "host")
    with pytest.raises(BuildError, match="has no model \\(vad_model.h\\): write it with"):
        build.build_project(tmp_path)


def test_missing_compiler_names_the_apt_package(tmp_path, monkeypatch):
    build.write_project_files(tmp_path, "qemu-an386")
    (tmp_path / "vad_model.h").write_text("")
    real = shutil.which
    monkeypatch.setattr(build.shutil, "which", lambda t: None if t == "arm-none-eabi-gcc" else real(t))
    with pytest.raises(BuildError, match=r"arm-none-eabi-gcc not found: install it \(apt install "
                                         r"gcc-arm-none-eabi libnewlib-arm-none-eabi"):
        build.build_project(tmp_path)


def test_compile_error_is_one_line_with_the_log(tmp_path):
    (tmp_path / "broken.c").parent.mkdir(exist_ok=True)
    build.write_project_files(tmp_path, "host")
    (tmp_path / "vad_model.h").write_text("#error model missing\n")
    with pytest.raises(BuildError, match=r"firmware build for host failed: .*model missing.*build.log"):
        build.build_project(tmp_path)


def test_warnings_are_errors(tmp_path):
    with pytest.raises(BuildError, match="unused"):
        make_project(tmp_path, "host", "-DVAD_FAKE_FAIL")  # builds cleanly ...
        (tmp_path / "extra.c").write_text("static int unused(void) { return 0; }\n")
        build.build_project(tmp_path)  # ... until a warning appears


@needs_arm
@pytest.mark.parametrize("board", ["qemu-an386", "qemu-an500", "stm32f405", "nano33ble"])
def test_cortex_m_builds_and_fits(tmp_path, board):
    res = make_project(tmp_path, board)
    assert res.elf.is_file() and (tmp_path / "build" / "firmware.bin").is_file()
    small = BOARDS[board].stack_bytes + 2 * (6 + 1024 + 2) + 144  # stack, frames, features
    assert 0 < res.flash_bytes < 64 * 1024 and res.board == board
    if board == "stm32f405":  # stack and small buffers in the core-coupled RAM, counted apart
        assert small <= res.ccm_bytes < small + 1024 and res.ram_bytes < 2048
        ld = (tmp_path / "board" / "firmware.ld").read_text()
        assert "CCM (rw) : ORIGIN = 0x10000000, LENGTH = 65536" in ld
        assert 'REGION_ALIAS("SMALL_RAM", CCM)' in ld
        symbols = subprocess.run(["arm-none-eabi-nm", str(res.elf)], capture_output=True, text=True).stdout
        ccm = {line.split()[2]: int(line.split()[0], 16) for line in symbols.splitlines()
               if line.split()[-1] in ("_estack", "features", "rx", "tx")}
        assert all(0x10000000 <= addr <= 0x10010000 for addr in ccm.values()) and len(ccm) == 4
    else:
        assert res.ccm_bytes == 0 and res.ram_bytes >= small


@needs_arm
def test_too_much_ram_fails_in_kilobytes(tmp_path):
    with pytest.raises(BuildError, match=r"^needs 3\d\d KB of RAM, nano33ble has 256 KB$"):
        make_project(tmp_path, "nano33ble", f"-DVAD_FAKE_BIG_RAM_BYTES={300 * 1024}")


@needs_arm
def test_too_much_flash_fails_in_kilobytes(tmp_path):
    with pytest.raises(BuildError, match=r"^needs 110\d KB of flash, stm32f405 has 1024 KB$"):
        make_project(tmp_path, "stm32f405", f"-DVAD_FAKE_BIG_BYTES={1100 * 1024}")


@needs_arm
@pytest.mark.parametrize("mode, source", [("standalone", "protocol"), ("standalone", "camera"),
                                          ("both", "semihosting"), ("both", "camera")])
@pytest.mark.parametrize("board", ["stm32f405", "nano33ble"])
def test_every_mode_and_source_builds_for_cortex_m(tmp_path, board, mode, source):
    res = make_project(tmp_path, board, head=True, mode=mode, source=source)
    assert res.elf.is_file()
    main = (tmp_path / "main.c").read_text()
    assert ("vad_standalone_run()" in main) and (("vad_server_run()" in main) == (mode == "both"))
    assert (tmp_path / build.SOURCES[source]).is_file()
    assert not [n for n in build.SOURCES.values() if n != build.SOURCES[source] and (tmp_path / n).exists()]
