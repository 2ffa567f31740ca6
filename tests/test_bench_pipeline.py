"""bilstm-bench --pipeline: the trainer fed by the real input pipeline vs preloaded batches."""

import json

import pytest

from bilstm_jax.bench import cli as benchmark
from bilstm_jax.config import ConfigError, load_config, parse_override
from tests.test_train import CONFIG


def test_pipeline_bench_reports_both_ways_and_padding(tmp_path, capsys):
  spec = (f"{CONFIG}:smoke data.train_size=256 data.min_len=2 data.max_len=40 "
          "data.num_buckets=4 batch_size=16 wandb.mode=disabled")
  args = benchmark.parse_args(["--pipeline", spec, "--pipeline-steps", "12", "--repeats", "2",
                               "--out", str(tmp_path / "pipe.json")])
  report = benchmark.bench(args)
  assert report["runs"] == []  # --pipeline replaces the shape bench
  (result,) = report["pipelines"]
  assert result["fed_steps_per_s"] > 0 and result["preloaded_steps_per_s"] > 0
  assert result["fed_over_preloaded"] == pytest.approx(
      result["fed_steps_per_s"] / result["preloaded_steps_per_s"])
  assert all(len(v) == 2 for v in result["seconds"].values())
  assert 0.0 <= result["padding_fraction_epoch0"] < 0.5
  assert 1 <= result["shapes_compiled"] <= result["shapes_possible"] <= 4
  assert "fed / preloaded" in capsys.readouterr().out
  assert json.loads((tmp_path / "pipe.json").read_text())["pipelines"][0]["steps"] == 12


def test_parse_override_types_values_like_their_fields():
  config = load_config(CONFIG)
  assert parse_override(config, "model.units=32") == ("model.units", 32)
  assert parse_override(config, "optim.learning_rate=1e-3") == ("optim.learning_rate", 1e-3)
  assert parse_override(config, "model.bidirectional=false") == ("model.bidirectional", False)
  assert parse_override(config, "data.source_dir=/x") == ("data.source_dir", "/x")
  with pytest.raises(ConfigError, match="model.unitz"):
    parse_override(config, "model.unitz=3")
  with pytest.raises(ConfigError, match="is not an integer"):
    parse_override(config, "model.units=many")
  with pytest.raises(ConfigError, match="not KEY=VALUE"):
    parse_override(config, "model.units")


def test_pipeline_bench_bad_override_is_one_error(capsys):
  assert benchmark.main(["--pipeline", f"{CONFIG} model.unitz=3", "--malloc", "default"]) == 2
  assert "model.unitz" in capsys.readouterr().err
