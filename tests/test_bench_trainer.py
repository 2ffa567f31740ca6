"""bench/torch_trainer.py against the trainer on tiny synthetic data; the gpu_trainer report."""

import json
import os

import jax
import numpy as np
import pytest

from bilstm_jax import data, models
from bilstm_jax.bench import torch_trainer, trainer_report
from bilstm_jax.config import ConfigError, apply_overrides, load_config
from bilstm_jax.data import batching
from bilstm_jax.training import metrics, setup, train
from tests.paths import CONFIGS

SYNTHETIC = os.path.join(CONFIGS, "synthetic.py")
FSDD = os.path.join(CONFIGS, "fsdd.py")


@pytest.fixture
def torch():
  """The PyTorch loop's tests need torch (the `bench` extra); the report's do not."""
  return pytest.importorskip("torch")


def _config(spec: str, **overrides):
  config = load_config(spec)
  apply_overrides(config, overrides)
  return config


def _dataset(rng, frames: int, num_classes: int, size: int = 5) -> batching.ArrayDataset:
  """Token ids and a tag per token (frames=0), or float frames and a class per example."""
  lengths = rng.integers(2, 9, size)
  if frames:
    inputs = [rng.standard_normal((n, frames)).astype(np.float32) for n in lengths]
    return batching.ArrayDataset(inputs, rng.integers(0, num_classes, size).astype(np.int32))
  inputs = [rng.integers(1, 10, n).astype(np.int32) for n in lengths]
  return batching.ArrayDataset(inputs, [rng.integers(0, num_classes, n).astype(np.int32)
                                        for n in lengths])


CASES = {
    "tagging": (f"{SYNTHETIC}:smoke", {}),
    "tagging_2_layers": (f"{SYNTHETIC}:smoke", {"model.num_layers": 2}),
    "tagging_forward_only": (f"{SYNTHETIC}:smoke", {"model.bidirectional": False}),
    "speech_mean": (f"{FSDD}:smoke", {}),
    "speech_final": (f"{FSDD}:smoke", {"model.pooling": "final", "model.num_layers": 2}),
    "speech_mean_max": (f"{FSDD}:smoke", {"model.pooling": "mean_max"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_torch_model_computes_the_flax_models_logits_and_loss(case, key, torch):
  spec, overrides = CASES[case]
  config = _config(spec, **overrides)
  speech = spec.startswith(FSDD)
  info = ({"task": "classification", "vocab_size": None, "num_classes": 3, "feature_dim": 5}
          if speech else {"task": "tagging", "vocab_size": 10, "num_classes": 4})
  dataset = _dataset(np.random.default_rng(0), 5 if speech else 0, info["num_classes"])
  # Four examples in six rows: two padding rows (length 0, mask 0), as a partial batch has.
  batch = batching.collate(dataset, np.arange(4), 6, int(dataset.lengths.max()) + 2)
  model = models.build_model(config.model, info)
  params = model.init({"params": key}, batch["inputs"], batch["lengths"])["params"]
  logits = np.asarray(model.apply({"params": params}, batch["inputs"], batch["lengths"]))
  loss = float(metrics.loss_and_sums(logits, batch)[0])

  modules, forward = torch_trainer.build_model(config.model, info, jax.device_get(params), "cpu")
  modules.eval()
  placed = torch_trainer.to_device(batch, "cpu")
  with torch.no_grad():
    t_logits = forward(placed, False)
    t_loss = float(torch_trainer.loss_fn(t_logits, placed))
  order = placed["order"]  # the PyTorch rows, longest first
  assert list(batch["lengths"][order]) == sorted(batch["lengths"], reverse=True)
  valid = np.asarray(metrics.example_weights(batch))[order] > 0
  np.testing.assert_allclose(t_logits.numpy()[valid], logits[order][valid], atol=1e-5)
  assert t_loss == pytest.approx(loss, rel=1e-5)


@pytest.mark.usefixtures("torch")
def test_torch_loop_trains_like_the_trainer_on_its_batches(tmp_path):
  """Same initial weights, batches, optimizer and schedule (no dropout): the same losses."""
  config = _config(f"{SYNTHETIC}:smoke", **{
      "data.num_buckets": 1, "total_steps": 6, "log_every_steps": 2, "eval_every_steps": 6,
      "ckpt_every_steps": 6, "wandb.mode": "disabled"})
  results = train.train_and_evaluate(config, str(tmp_path / "run"))
  with open(tmp_path / "run" / "metrics.jsonl") as f:
    records = [json.loads(line) for line in f]
  splits, info = data.get_datasets(config.data)
  result = torch_trainer.train(config, splits, info, untimed_steps=2, device="cpu")

  stream = setup.make_stream(config, splits["train"])
  expected = [int(setup.host_batch(stream, s, config.data, config.seed, info)["lengths"].sum())
              for s in range(6)]
  assert result["step_tokens"] == expected
  # Valid tokens on the trainer's definition: results.json's tokens/s times its wall time.
  assert sum(expected) == pytest.approx(results["train_tokens_per_s"] * results["wall_time_s"])
  assert result["whole"]["tokens"] == sum(expected)
  assert result["tokens"] == sum(expected[2:]) and result["timed_steps"] == 4
  assert result["tokens_per_s"] == pytest.approx(result["tokens"] / result["wall_s"])
  windows = result["windows"]
  assert [w["step"] for w in windows] == [r["step"] for r in records] == [2, 4, 6]
  assert [w["tokens"] for w in windows] == [sum(expected[i:i + 2]) for i in (0, 2, 4)]
  np.testing.assert_allclose([w["loss"] for w in windows],
                             [r["train/loss"] for r in records], rtol=1e-4)


@pytest.mark.usefixtures("torch")
def test_unmodelled_config_is_one_error():
  config = _config(f"{SYNTHETIC}:smoke", **{"model.head": "crf", "model.merge": "sum"})
  splits, info = data.get_datasets(config.data)
  with pytest.raises(ConfigError, match="model.head='crf'.*model.merge='sum'"):
    torch_trainer.train(config, splits, info, device="cpu")


def test_cli_takes_config_overrides_and_rejects_other_flags():
  args, items = torch_trainer.parse_args(["--config", "c.py", "--config.model.units=3",
                                          "--untimed-steps", "1"])
  assert (args.config, args.untimed_steps, items) == ("c.py", 1, ["model.units=3"])
  with pytest.raises(SystemExit):
    torch_trainer.parse_args(["--config", "c.py", "--workdir", "x"])


def _write(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(obj if isinstance(obj, str) else json.dumps(obj))


def _torch_json(tokens_per_s: float, windows: list[float]) -> dict:
  return {"device": "cuda", "device_name": "GPU X", "steps": 100, "untimed_steps": 5,
          "timed_steps": 95, "wall_s": 1.0, "steps_per_s": 95.0, "tokens_per_s": 900.0,
          "whole": {"wall_s": 2.0, "steps_per_s": 50.0, "tokens_per_s": tokens_per_s},
          "windows": [{"tokens_per_s": r} for r in windows], "command": "python -m ..."}


def test_report_from_fabricated_runs(tmp_path):
  out = str(tmp_path)
  results = {"final_step": 100, "wall_time_s": 4.0, "train_tokens_per_s": 2000.0,
             "machine": {"backend": "gpu", "devices": "1 x GPU X"}, "test/accuracy": 0.9}
  _write(f"{out}/train/ud_pos/results.json", results)
  _write(f"{out}/train/ud_pos/metrics.jsonl", "".join(
      json.dumps({"step": s, "train/loss": 1.0, "perf/tokens_per_s": r}) + "\n"
      for s, r in ((50, 100.0), (100, 3000.0), (150, 5000.0), (200, 4000.0))))
  _write(f"{out}/torch/ud_pos.json", _torch_json(1000.0, [50.0, 2000.0, 2000.0]))
  # FSDD: the PyTorch loop ran, bilstm-train did not finish.
  _write(f"{out}/torch/fsdd.json", _torch_json(1000.0, [1.0]))
  _write(f"{out}/train/synthetic/results.json", {**results, "final_step": 600})
  _write(f"{out}/torch/synthetic.json", _torch_json(4000.0, [1.0, 2.0]))
  _write(f"{out}/sweeps/quickstart/concat,seed=0/config.json", {"seed": 0})
  _write(f"{out}/sweeps/quickstart/concat,seed=0/results.json", results)
  _write(f"{out}/sweeps/quickstart/sum,seed=0/config.json", {"seed": 0})  # unfinished
  _write(f"{out}/steps.tsv", "train_ud_pos\t0\t12.5\nsweep_run\t1\t30.0\nsweep_table\t0\t2.0\n")
  _write(f"{out}/commands.sh", "# env\nbilstm-train --config configs/ud_pos.py\n")
  _write(f"{out}/tables/quickstart.md", "# Title\n\n| merge | acc |\n|---|---|\n")

  report = trainer_report.assemble(out, dry_run=True, machine_facts={"jax_devices": ["cpu:0"]})
  ud, fsdd, synthetic = report["tasks"]
  assert ud["ours"]["steps_per_s"] == 25.0 and ud["ours"]["steady_tokens_per_s"] == 4000.0
  assert ud["torch"]["steady_tokens_per_s"] == 2000.0
  assert (ud["ratio_whole"], ud["ratio_steady"]) == (2.0, 2.0)
  assert fsdd["ours"] is None and fsdd["ratio_whole"] is None
  assert fsdd["torch"]["steady_tokens_per_s"] is None  # one window: nothing after the first
  assert synthetic["ours"]["steps"] == 600 and synthetic["ratio_whole"] == 0.5
  assert [r["name"] for r in report["sweep"]["runs"]] == ["concat,seed=0", "sum,seed=0"]
  assert report["sweep"]["wall_s"] == 32.0 and report["steps"][1]["rc"] == 1
  assert report["commands"][1].startswith("bilstm-train")

  text = trainer_report.format_markdown(report)
  assert "**Dry run**" in text and "| sum,seed=0 | unfinished |" in text
  assert "| bilstm-train | UD EWT POS tagging (configs/ud_pos.py) | gpu: 1 x GPU X | 100 | 4 | " \
         "25 | 2,000 | 4,000 | 2 | 2 |" in text
  assert "not run or unfinished" in text and "| merge | acc |" in text
  assert "\n### Title\n" in text and "\n# Title" not in text
  assert trainer_report.main([out, "--dry-run"]) == 0
  assert json.loads((tmp_path / "report.json").read_text())["dry_run"] is True
