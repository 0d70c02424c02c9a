#!/usr/bin/env bash
# The system packages vadtool's firmware, emulator and browser tests need, in one place.
#
#   scripts/system_packages.sh install   install what is missing when it can: as root, or
#                                        through `sudo -n` (no password prompt); otherwise
#                                        print the one command to run
#   scripts/system_packages.sh check     are the firmware tools there (arm-none-eabi-gcc,
#                                        arm-none-eabi-g++, qemu-system-arm)?
#
# Exit codes: 0 everything is there (or was just installed); 3 something is missing and was
# not installed (the message says what and the command to run); 4 apt-get failed.
# `make setup` runs `install` and goes on when it returns 3 (the firmware steps are then
# skipped and say why) unless REQUIRE_SYSTEM_PACKAGES=1 (CI), which makes 3 an error.
set -u

# Debian/Ubuntu names: the ARM cross compiler, its C and C++ libraries (TFLite Micro is C++),
# QEMU for the emulated boards, Chromium (and its driver) for the pages' browser tests, clang
# for the protocol fuzzers (libFuzzer) with its sanitizer runtimes (libclang-rt-dev: on Debian 12
# only a recommend of clang, which --no-install-recommends leaves out; older Ubuntus ship them
# inside clang, and have no such package, so it is installed only where apt knows it).
PACKAGES=(gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi
          libstdc++-arm-none-eabi-newlib qemu-system-arm chromium chromium-driver clang libclang-rt-dev)
OPTIONAL=(libclang-rt-dev)
TOOLS=(arm-none-eabi-gcc arm-none-eabi-g++ qemu-system-arm)

install_command() {
  echo "sudo apt-get update && sudo apt-get install -y --no-install-recommends $*"
}

missing_tools() {
  local t
  for t in "${TOOLS[@]}"; do command -v "$t" >/dev/null 2>&1 || printf '%s ' "$t"; done
}

case "${1:-}" in
  check)
    missing="$(missing_tools)"
    [ -z "$missing" ] && exit 0
    echo "missing: ${missing% } (install: $(install_command "${PACKAGES[@]}"))"
    exit 3
    ;;
  install)
    ;;
  *)
    echo "usage: $0 install|check" >&2
    exit 2
    ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  missing="$(missing_tools)"
  [ -z "$missing" ] && exit 0
  echo "system packages: ${missing% } not found and this is not a Debian/Ubuntu machine;" \
       "install an ARM GNU toolchain (with newlib and libstdc++) and qemu-system-arm, then re-run"
  exit 3
fi

need=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "system packages missing: ${need[*]}; not root and sudo needs a password, so not installed."
  echo "run: $(install_command "${need[@]}")"
  exit 3
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get update -qq >/dev/null; then
  echo "apt-get update failed; run: $(install_command "${need[@]}")"
  exit 4
fi
known=()
for pkg in "${need[@]}"; do
  if [[ " ${OPTIONAL[*]} " == *" $pkg "* ]] && ! apt-cache show "$pkg" >/dev/null 2>&1; then
    continue  # optional and not in this distribution
  fi
  known+=("$pkg")
done
need=("${known[@]}")
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing system packages: ${need[*]}"
if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
  echo "apt-get could not install ${need[*]}; run: $(install_command "${need[@]}")"
  exit 4
fi
exit 0
