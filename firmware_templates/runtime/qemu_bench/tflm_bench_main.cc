/* TensorFlow Lite Micro benchmark under QEMU with -icount shift=0 (one instruction per virtual
 * ns): the peer of bench_main.c for bench/device_bench.py. Reads inputs.bin (N inputs) over
 * semihosting, writes outputs.bin, prints SysTick counts for the whole Invoke() and per
 * operator (TFLM's MicroProfilerInterface, one event per operator in execution order), and
 * the arena TFLM used (arena_used_bytes). Built with vad_model_data.c (the .tflite as an
 * aligned array) and vad_op_resolver.h (firmware_templates/tflm), linked with startup_m4.c.
 * The harness links with -nostartfiles (no static constructors run): the resolver,
 * interpreter and profiler live in static storage and are built with placement new. */
#include <new>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "vad_model_data.h"
#include "vad_op_resolver.h"

extern "C" void vad_bench_timer_start(void); /* startup_m4.c */
extern "C" uint64_t vad_bench_ticks(void);

#ifndef VAD_BENCH_ARENA_BYTES
#define VAD_BENCH_ARENA_BYTES (1024 * 1024)
#endif
#define MAX_OPS 512

namespace {

/* Ticks per operator of the last Invoke(); TFLM calls Begin/End around each operator. */
class OpTicks : public tflite::MicroProfilerInterface {
 public:
  uint32_t BeginEvent(const char *tag) override {
    if (count_ < MAX_OPS) { names_[count_] = tag; }
    start_ = vad_bench_ticks();
    return count_++;
  }
  void EndEvent(uint32_t handle) override {
    uint64_t now = vad_bench_ticks();
    if (handle < MAX_OPS) { ticks_[handle] = now - start_; }
  }
  void Reset() { count_ = 0; }
  void Print() const {
    for (uint32_t i = 0; i < count_ && i < MAX_OPS; ++i) {
      printf("OP %lu %s %lu\n", (unsigned long)i, names_[i], (unsigned long)ticks_[i]);
    }
  }

 private:
  uint32_t count_ = 0;
  uint64_t start_ = 0;
  uint64_t ticks_[MAX_OPS] = {};
  const char *names_[MAX_OPS] = {};
};

alignas(16) uint8_t tensor_arena[VAD_BENCH_ARENA_BYTES];
alignas(VadOpResolver) uint8_t resolver_storage[sizeof(VadOpResolver)];
alignas(tflite::MicroInterpreter) uint8_t interpreter_storage[sizeof(tflite::MicroInterpreter)];
alignas(OpTicks) uint8_t profiler_storage[sizeof(OpTicks)];

}  // namespace

/* TFLM's cortex_m_generic DebugLog prints through this callback (its error messages). */
static void log_line(const char *s) { printf("%s", s); }

int main(void) {
  RegisterDebugLogCallback(log_line);
  FILE *fi = fopen("inputs.bin", "rb");
  FILE *fo = fopen("outputs.bin", "wb");
  if (!fi || !fo) {
    printf("ERROR cannot open files\n");
    return 1;
  }
  const tflite::Model *model = tflite::GetModel(g_vad_model_data);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    printf("ERROR schema version\n");
    return 1;
  }
  VadOpResolver *resolver = new (resolver_storage) VadOpResolver();
  if (vad_register_ops(*resolver) != kTfLiteOk) {
    printf("ERROR op resolver\n");
    return 1;
  }
  OpTicks *profiler = new (profiler_storage) OpTicks();
  tflite::MicroInterpreter *interpreter = new (interpreter_storage)
      tflite::MicroInterpreter(model, *resolver, tensor_arena, VAD_BENCH_ARENA_BYTES, nullptr, profiler);
  if (interpreter->AllocateTensors() != kTfLiteOk) {
    printf("ERROR AllocateTensors (arena %d bytes)\n", (int)VAD_BENCH_ARENA_BYTES);
    return 1;
  }
  TfLiteTensor *in = interpreter->input(0);
  TfLiteTensor *out = interpreter->output(0);
  int n = 0;
  vad_bench_timer_start();
  while (fread(in->data.int8, 1, in->bytes, fi) == in->bytes) {
    profiler->Reset();
    uint64_t t0 = vad_bench_ticks();
    if (interpreter->Invoke() != kTfLiteOk) {
      printf("ERROR invoke\n");
      return 1;
    }
    uint64_t total = vad_bench_ticks() - t0;
    fwrite(out->data.int8, 1, out->bytes, fo);
    printf("RUN %d ticks %lu\n", n, (unsigned long)total);
    ++n;
  }
  profiler->Print();
  printf("ARENA %lu\n", (unsigned long)interpreter->arena_used_bytes());
  fclose(fo);
  fclose(fi);
  printf("DONE %d\n", n);
  return 0;
}
