# vadtool: thin make targets around the CLI. `make demo` and `make test` are all a new
# machine needs; both run `make setup` first, which creates .venv and installs the system
# packages the firmware needs (scripts/system_packages.sh: as root or through `sudo -n`;
# otherwise it prints the one command to run).
#
# `make demo` exit status: 0 only when every step ran, the firmware on the emulated board
# included. Without the ARM toolchain or QEMU it still does the host part (data, training,
# quantization, host bench, firmware sources, report), then names the skipped steps, why,
# and the command that installs what they need, and exits non-zero (make's 2).

PYTHON ?= python3
VENV := .venv
VADTOOL := $(VENV)/bin/vadtool
# On the development machines pretrained weights lie in ../shared/weights; elsewhere the
# default is Keras' own download (or set VADTOOL_WEIGHTS to a file or folder).
SHARED_WEIGHTS := $(wildcard ../shared/weights)
ifneq ($(SHARED_WEIGHTS),)
export VADTOOL_WEIGHTS ?= $(abspath $(SHARED_WEIGHTS))
endif
export TF_CPP_MIN_LOG_LEVEL := 2
export TF_ENABLE_ONEDNN_OPTS := 0

DEMO := out/demo
DEMO_BOARD ?= qemu-an386
DEMO_DEVICE_IMAGES ?= 8
RUNS ?= runs
BENCH_DATA ?= $(patsubst %/,%,$(wildcard ../shared/data/*/))
BENCH_OUT := out/bench
CALIB_IMAGES := $(wildcard calib_data/*.png calib_data/*.jpg calib_data/*.jpeg calib_data/*.bmp)
CALIB_OPT := $(if $(CALIB_IMAGES),--calib calib_data,)

# REQUIRE_SYSTEM_PACKAGES=1 (CI): a missing system package is an error, not a skipped step.
REQUIRE_SYSTEM_PACKAGES ?= 0
SYSTEM_PACKAGES := bash scripts/system_packages.sh

# Reference models for bench-device (../shared/models on the development machines).
DEVICE_BENCH_MODELS ?= $(wildcard ../shared/models/vww_96_int8.tflite ../shared/models/fomo_ad_mnv2_035_96_int8.tflite)
# ... and the boards' default detector networks, calibrated on these images (empty: left out)
DEVICE_BENCH_CALIB ?= $(firstword $(wildcard ../shared/data/*/train/good))

.PHONY: setup system-packages demo test quantize bench bench-device clean

setup: $(VENV)/.installed system-packages

system-packages:
	@$(SYSTEM_PACKAGES) install; rc=$$?; \
	if [ $$rc -eq 3 ] && [ "$(REQUIRE_SYSTEM_PACKAGES)" != 1 ]; then \
		echo "(continuing: the firmware steps and tests that need these are skipped)"; \
	else exit $$rc; fi

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	$(VENV)/bin/pip install --quiet --no-deps tf_keras==2.21.0
	touch $@

demo: setup
	rm -rf $(DEMO)
	$(VADTOOL) data synth $(DEMO)/data --seed 0
	$(VADTOOL) train fomo-ad $(DEMO)/data --out $(DEMO)/fomo-ad
	$(VADTOOL) train classifier $(DEMO)/data --out $(DEMO)/classifier
	$(VADTOOL) quantize $(DEMO)/fomo-ad
	$(VADTOOL) quantize $(DEMO)/classifier
	$(VADTOOL) bench $(DEMO)/fomo-ad $(DEMO)/classifier --runtime float,litert,tflm,native \
		--markdown $(DEMO)/bench.md
	$(VADTOOL) render $(DEMO)/fomo-ad --board $(DEMO_BOARD) --out $(DEMO)/firmware
	@if missing="$$($(SYSTEM_PACKAGES) check)"; then \
		$(VADTOOL) build $(DEMO)/firmware && \
		$(VADTOOL) bench $(DEMO)/fomo-ad --project $(DEMO)/firmware --emulate --limit $(DEMO_DEVICE_IMAGES) \
			--markdown $(DEMO)/bench_device.md || exit 2; \
	else \
		mkdir -p $(DEMO) && echo "skipped: vadtool build and bench --emulate of $(DEMO)/firmware ($$missing)" | tee $(DEMO)/SKIPPED; \
	fi
	$(VADTOOL) report $(DEMO)/fomo-ad --out $(DEMO)/report
	@echo "Try it in a browser: $(VADTOOL) serve $(DEMO)/fomo-ad --store $(DEMO)/store  (then open http://127.0.0.1:8000/)"
	@if [ -f $(DEMO)/SKIPPED ]; then cat $(DEMO)/SKIPPED; \
		echo "demo incomplete: the host part is done, the on-device part was skipped"; exit 3; fi

test: setup
	$(VENV)/bin/pytest -q -n 2

# Fuzz the device protocol: each libFuzzer harness on the firmware's protocol server for
# FUZZ_RUNS executions (ASan + UBSan + a well-formed-reply oracle; needs clang), then the host's
# frame decoder and HELLO parser with Hypothesis for FUZZ_EXAMPLES inputs per property.
FUZZ_RUNS ?= 1000000
FUZZ_EXAMPLES ?= 100000
fuzz: setup
	$(VENV)/bin/python tests/fuzz/fuzz.py --runs $(FUZZ_RUNS) --out out/fuzz
	VADTOOL_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest -q tests/fuzz/test_frame_decoder.py \
		--hypothesis-show-statistics

# Quantize every run under $(RUNS) (override: make quantize RUNS=path/to/runs).
quantize: setup
	@test -d $(RUNS) || { echo "no run folder $(RUNS); make quantize RUNS=DIR"; exit 2; }
	@for run in $(RUNS)/*/; do \
		test -f $$run/vadtool.json || continue; \
		$(VADTOOL) quantize $$run $(CALIB_OPT) || exit 2; \
	done

# Train, quantize and benchmark both models on every dataset in BENCH_DATA.
bench: setup
	$(VENV)/bin/python bench/host_bench.py --out $(BENCH_OUT) $(BENCH_DATA)

# The native runtime on QEMU's Cortex-M4, M7 and M33 (instructions, per MAC by operator type,
# arena, flash, bit-exact with TFLM; TFLM with CMSIS-NN and reference kernels beside): make bench-device [DEVICE_BENCH_MODELS="a.tflite b.tflite"]
bench-device: setup
	@test -n "$(DEVICE_BENCH_MODELS)" || { echo "error: no models; make bench-device DEVICE_BENCH_MODELS=\"a.tflite ...\""; exit 2; }
	$(VENV)/bin/python bench/device_bench.py $(DEVICE_BENCH_MODELS) --wide --markdown $(BENCH_OUT)/device.md \
		$(if $(DEVICE_BENCH_CALIB),--board-defaults $(DEVICE_BENCH_CALIB))

clean:
	rm -rf out build
