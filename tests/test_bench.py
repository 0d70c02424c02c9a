"""The bench table: a runtime that refuses a model is a noted row, not a crash."""

from vadtool.bench import bench_run, markdown_table
from vadtool.errors import RenderError


def test_refusing_runtime_becomes_a_noted_row(fomo_run, monkeypatch):
    import vadtool.bench as bench

    real = bench.evaluate

    def fake_evaluate(run_dir, data, runtime, **kw):
        if runtime == "native":
            raise RenderError("model_int8.tflite: operator LOGISTIC (op 5) is not supported")
        return real(run_dir, data, runtime, **kw)

    monkeypatch.setattr(bench, "evaluate", fake_evaluate)
    rows = bench_run(fomo_run, ["float", "tflm", "native"], limit=6)
    assert [r["runtime"] for r in rows] == ["float", "tflm", "native"]
    assert "auroc_drift" in rows[1] and "auroc_drift" not in rows[2]
    table = markdown_table(rows)
    assert "| native [1] |" in table and "[1] model_int8.tflite: operator LOGISTIC" in table
    assert rows[1]["tflm_arena_bytes"] > 0
