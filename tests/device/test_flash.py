"""Flashing: the model-hash check after flashing, and clear errors for missing tools."""

import pytest

from vadtool.device import flash as F
from vadtool.device.emulator import start_emulator
from vadtool.errors import DeviceError

from .conftest import FAKE_HASH, make_project, needs_arm, needs_qemu


@pytest.fixture(scope="module")
def host_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("flash_host")
    make_project(root, "host")
    return root


def test_hash_check_on_host_build(host_project):
    info = F.flash(host_project, f"host:{host_project / 'build' / 'firmware'}")
    assert info.model_hash == F.project_model_hash(host_project) == FAKE_HASH


def test_hash_mismatch_is_an_error(host_project, tmp_path):
    fw = host_project / "build" / "firmware"
    other = tmp_path / "other"
    other.mkdir()
    (other / "board").mkdir()
    (other / "board" / "board_config.h").write_text((host_project / "board" / "board_config.h").read_text())
    (other / "vad_model.h").write_text('#define VAD_MODEL_HASH "' + "ab" * 32 + '"\n')
    with pytest.raises(DeviceError, match=r"runs model f00dfacef00d…, the project in .* has ababababab"):
        F.flash(other, f"host:{fw}")


def test_project_without_model(tmp_path):
    with pytest.raises(DeviceError, match="defines no VAD_MODEL_HASH: render the model first"):
        F.project_model_hash(tmp_path)


@needs_arm
def test_missing_flasher_says_what_to_install(tmp_path, monkeypatch):
    make_project(tmp_path, "nano33ble")
    monkeypatch.setattr(F.shutil, "which", lambda tool: None)
    with pytest.raises(DeviceError, match=r"^bossac not found: install it \(apt install bossa-cli\) "
                                          r"or flash .*build/firmware.bin by hand$"):
        F.flash(tmp_path, "/dev/ttyACM0")
    with pytest.raises(DeviceError, match=r"^openocd not found"):
        F.run_flasher(tmp_path, tool="openocd")


@needs_arm
def test_absent_device_is_a_device_error(tmp_path, monkeypatch):
    make_project(tmp_path, "stm32f405")
    monkeypatch.setattr(F.shutil, "which", lambda tool: "/bin/false")
    monkeypatch.setitem(F.FLASHERS, "openocd", F.Flasher("openocd", "openocd", ("false",), False))
    with pytest.raises(DeviceError, match=r"openocd failed \(exit 1\).*is the stm32f405 connected"):
        F.flash(tmp_path, "/dev/ttyUSB9")


def test_unflashed_project(tmp_path):
    from vadtool.build import write_project_files

    write_project_files(tmp_path, "stm32f405")
    with pytest.raises(DeviceError, match="firmware.bin does not exist: build the firmware first"):
        F.run_flasher(tmp_path)


@needs_qemu
def test_emulator_flash_is_the_hash_check(tmp_path):
    res = make_project(tmp_path, "qemu-an386")
    with start_emulator(res.elf, "qemu-an386") as emu:
        info = F.flash(tmp_path, emu.url)
    assert info.board == "qemu-an386" and info.model_hash == FAKE_HASH
