"""`vadtool serve`: the local inference service, shadow mode and the edge store.

store.py (records on disk), intake.py (what counts as an image), served.py (a run scoring
one image), app.py (the HTTP routes), shadow.py (the champion/challenger report),
process.py (the service as a child process, for scripts); the Click commands are in
commands_serve.py.
"""

# litert: LiteRT's default (XNNPACK) kernels, ~30x faster than its reference kernels; its
# int8 outputs differ from them by a few units, so scores differ slightly from the device's.
# litert-ref: the reference kernels, bit-exact with tflm, native, the device and
# `vadtool predict --runtime litert`.
SERVE_RUNTIMES = ("litert", "litert-ref", "tflm", "native", "float")
