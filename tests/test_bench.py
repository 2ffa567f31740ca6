"""bilstm-bench --quick: systems agree before timing, the report is complete, wrong ones fail."""

import dataclasses
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before any keras import; the bench needs jax

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bilstm_jax.bench import cli as benchmark  # noqa: E402
from bilstm_jax.bench import measure  # noqa: E402
from bilstm_jax.bench import systems as bench_systems  # noqa: E402
from bilstm_jax.training import host_memory  # noqa: E402

JAX_ROWS = ["bilstm_jax", "bilstm_jax[scan_impl=autodiff,unroll=2]", "flax OptimizedLSTMCell",
            "flax LSTMCell"]


def _args(tmp_path, systems, *extra):
  return benchmark.parse_args(["--quick", "--lengths", "random", "--systems", systems,
                               "--out", str(tmp_path / "bench.json"), *extra])


def _check_report(report, tmp_path, rows, capsys):
  (run,) = report["runs"]
  assert list(run["check"]) == rows
  assert all(entry["passed"] for entry in run["check"].values())
  assert max(entry["output_max_abs_diff"] for entry in run["check"].values()) < 1e-4
  assert min(run["lengths_B"]) < run["shape"]["steps"]  # random lengths: padding is exercised
  for mode in ("train", "infer"):
    assert list(run["times_ms"][mode]) == rows
    assert all(len(times) == 3 for times in run["times_ms"][mode].values())
    assert run["floor_ms"][mode] > 0
  table = capsys.readouterr().out
  assert "check passed" in table.split("timed train")[0]  # checked before any timing
  for row in rows:
    assert f"| {row} |" in table
  written = json.loads((tmp_path / "bench.json").read_text())
  assert written["runs"][0]["median_ms"] == run["median_ms"]
  assert written["machine"]["cpu_count"] >= 1 and written["machine"]["versions"]["jax"]
  assert written["malloc"] == {"requested": "retain", "applied": False,  # bench() alone: as is
                               "default_faults_per_call": None}
  assert written["machine"]["devices"] and run["matmul_precision"] == "default"


def test_quick_bench_checks_then_times_jax_systems(tmp_path, capsys):
  args = _args(tmp_path, "ours,flax_optimized,flax_plain", "--ours", "scan_impl=autodiff,unroll=2")
  _check_report(benchmark.bench(args), tmp_path, JAX_ROWS, capsys)


def test_quick_bench_with_torch_and_keras_two_layers(tmp_path, capsys):
  rows = {}
  if bench_systems.is_available("torch"):
    rows["torch"] = "torch nn.LSTM"
  if bench_systems.is_available("keras"):
    import keras  # pylint: disable=import-outside-toplevel
    if keras.backend.backend() == "jax":
      rows["keras"] = "keras Bidirectional(LSTM)"
  if not rows:
    pytest.skip("neither torch nor keras (JAX backend) installed: pip install -e .[bench]")
  report = benchmark.bench(_args(tmp_path, ",".join(["ours", *rows]), "--layers", "2"))
  _check_report(report, tmp_path, ["bilstm_jax", *rows.values()], capsys)


def _perturbed_weights(problem):
  lstm = jax.tree_util.tree_map(lambda w: w + 1e-2 * np.sign(w), problem.lstm)
  return bench_systems.build_flax(dataclasses.replace(problem, lstm=lstm), "optimized")


def _wrong_gradients(problem):
  system = bench_systems.build_flax(problem, "optimized")
  right = system.loss_and_grads
  def loss_and_grads():
    loss, grads = right()
    grads["lstm"]["layers"][0]["w_hh"] *= 1.01  # forward right, backward 1% off
    return loss, grads
  return dataclasses.replace(system, loss_and_grads=loss_and_grads)


@pytest.mark.parametrize("wrong", [_perturbed_weights, _wrong_gradients])
def test_wrong_system_fails_before_timing(tmp_path, monkeypatch, capsys, wrong):
  def no_timing(*_, **__):
    raise AssertionError("timed although the check failed")
  monkeypatch.setattr(measure, "time_round_robin", no_timing)
  monkeypatch.setitem(bench_systems.BUILDERS, "flax_optimized", wrong)
  argv = ["--quick", "--systems", "ours,flax_optimized", "--out", str(tmp_path / "b.json"),
          "--malloc", "default"]  # leave this test process's malloc as it is
  assert benchmark.main(argv) == 1
  assert "systems disagree with bilstm_jax" in capsys.readouterr().err
  assert not (tmp_path / "b.json").exists()


def test_report_gives_the_default_allocators_page_faults_where_retain_applies(
    tmp_path, monkeypatch, capsys):
  """A property of the host, not of ours: reported, not asserted (test_host_memory checks the
  setting itself)."""
  measured = []
  monkeypatch.setattr(host_memory, "retain_freed_memory", lambda: True)  # this process as is
  monkeypatch.setattr(host_memory, "faults_per_call",
                      lambda malloc: measured.append(malloc) or 4321)
  argv = ["--quick", "--systems", "ours", "--modes", "infer", "--out", str(tmp_path / "b.json")]
  assert benchmark.main(argv) == 0
  assert measured == ["default"]
  assert json.loads((tmp_path / "b.json").read_text())["malloc"] == {
      "requested": "retain", "applied": True, "default_faults_per_call": 4321}
  assert "4321 page faults per call" in capsys.readouterr().out
  assert benchmark.main([*argv, "--malloc", "default"]) == 0 and measured == ["default"]
  assert json.loads((tmp_path / "b.json").read_text())["malloc"]["default_faults_per_call"] is None


def test_step_flops_counts_matmuls():
  shape = bench_systems.Shape(batch=2, steps=3, features=5, units=7, layers=2, classes=11)
  tokens = 6
  layer0 = 2 * (2 * tokens * 5 * 28 + 2 * tokens * 7 * 28)
  layer1 = 2 * (2 * tokens * 14 * 28 + 2 * tokens * 7 * 28)
  forward = layer0 + layer1 + 2 * tokens * 14 * 11
  assert bench_systems.step_flops(shape, tokens) == {"infer": forward, "train": 3 * forward}


def test_parse_ours_rejects_unknown_options():
  assert bench_systems.parse_ours("scan_impl=autodiff,unroll=4") == {"scan_impl": "autodiff",
                                                                    "unroll": 4}
  for bad in ("unrol=2", "scan_impl=fast", "unroll"):
    with pytest.raises(ValueError):
      bench_systems.parse_ours(bad)


def test_check_runs_in_full_float32_and_restores_the_defaults():
  """On GPUs JAX and cuDNN default to TF32 matmuls; the check must not (a blurred mismatch)."""
  torch = pytest.importorskip("torch") if bench_systems.is_available("torch") else None
  before = jax.config.jax_default_matmul_precision
  flags = torch and (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
  with measure.full_float32():
    assert jax.config.jax_default_matmul_precision == "highest"
    if torch:
      assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
  assert jax.config.jax_default_matmul_precision == before
  if torch:
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == flags
    assert bench_systems.torch_device() == ("cuda" if jax.default_backend() == "gpu"
                                            and torch.cuda.is_available() else "cpu")


def test_heads_mode_times_the_softmax_and_crf_taggers(tmp_path):
  out = tmp_path / "heads.json"
  assert benchmark.main(["--heads", "--quick", "--out", str(out), "--malloc", "default"]) == 0
  run = json.loads(out.read_text())["runs"][0]["heads"]
  assert run["num_classes"] == 9  # CoNLL-2003's tags: O and B-/I- of four entity types
  for kind in ("train", "decode"):
    assert set(run["median_ms"][kind]) == {"softmax", "crf"}
    assert all(ms > 0 for ms in run["median_ms"][kind].values())
    assert run["ratio_to_softmax"][kind]["softmax"] == 1.0
