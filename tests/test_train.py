"""Trainer: every parameter moves, exact resume, run files, divergence, eval sums, W&B files."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bilstm_jax import data, models
from bilstm_jax.config import ConfigError, apply_overrides, load_config
from bilstm_jax.training import evaluate, metrics, optimizer, parallel, train

CONFIG = os.path.join(os.path.dirname(__file__), os.pardir, "configs", "synthetic.py")


def _smoke_config(**changes):
  config = load_config(CONFIG + ":smoke")
  apply_overrides(config, {"wandb.mode": "disabled", **changes})
  return config


def _smoke_state(config, *, ema: bool = False):
  """(initial state, training stream, schedule) of `config`, built as the trainer builds them."""
  splits, info = data.get_datasets(config.data)
  stream = data.batching.TrainStream(splits["train"], config.batch_size, config.seed)
  model = models.build_model(config.model, info)
  tx, schedule = optimizer.make_optimizer(config.optim, config.schedule, config.total_steps)
  state = train.create_train_state(model, tx, jax.random.PRNGKey(0), stream.batch(0), ema=ema)
  return state, stream, schedule


def test_train_step_changes_every_parameter():
  state, stream, schedule = _smoke_state(_smoke_config(**{"model.num_layers": 2}))
  before = jax.device_get(state.params)
  step = jax.jit(lambda s, b, r: train.train_step(s, b, r, schedule))
  # The schedule's first learning rate is 0 (warm-up), so take two steps.
  for i in range(2):
    state, step_metrics = step(state, stream.batch(i), jax.random.PRNGKey(1))
  after = jax.device_get(state.params)
  unchanged = [jax.tree_util.keystr(path) for path, (a, b) in zip(
      jax.tree_util.tree_flatten_with_path(before)[0],
      zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after)))
      if np.array_equal(a, b)]
  assert not unchanged, f"parameters that did not move: {unchanged}"
  assert all(np.isfinite(float(v)) for v in step_metrics.values())


def test_label_smoothing_reaches_the_training_loss():
  state, stream, schedule = _smoke_state(_smoke_config())
  batch, rng = stream.batch(0), jax.random.PRNGKey(1)
  _, plain = train.train_step(state, batch, rng, schedule)
  _, smoothed = train.train_step(state, batch, rng, schedule, label_smoothing=0.1)
  logits = state.apply_fn({"params": state.params}, batch["inputs"], batch["lengths"],
                          train=True, rngs={"dropout": jax.random.fold_in(rng, state.step)})
  want, _ = metrics.loss_and_sums(logits, batch, label_smoothing=0.1)
  np.testing.assert_allclose(float(smoothed["train/loss"]), float(want), rtol=1e-6)
  assert float(smoothed["train/loss"]) != pytest.approx(float(plain["train/loss"]))


def test_parameter_average_equals_a_float64_reference():
  state, stream, schedule = _smoke_state(_smoke_config(), ema=True)
  decay = 0.5
  step = jax.jit(lambda s, b, r: train.train_step(s, b, r, schedule, decay))
  average = jax.tree_util.tree_map(lambda p: np.asarray(p, np.float64), state.params)
  for i in range(6):
    state, _ = step(state, stream.batch(i), jax.random.PRNGKey(1))
    rate = min(decay, (1 + i) / (10 + i))
    average = jax.tree_util.tree_map(lambda e, p: rate * e + (1 - rate) * np.asarray(p, np.float64),
                                     average, jax.device_get(state.params))
  jax.tree_util.tree_map(lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-5,
                                                                      atol=1e-7),
                         jax.device_get(state.ema_params), average)
  # The average is what gets evaluated, and it is not the last step's parameters.
  assert train.eval_params(state) is state.ema_params
  assert not np.array_equal(jax.tree_util.tree_leaves(state.ema_params)[0],
                            jax.tree_util.tree_leaves(state.params)[0])


def test_head_max_norm_projects_the_head_only_as_a_float64_reference_does():
  rng = np.random.default_rng(3)
  params = {"head": {"kernel": rng.normal(size=(5, 3)), "bias": rng.normal(size=3)},
            "lstm": {"kernel": rng.normal(size=(4, 4))}}
  updates = jax.tree_util.tree_map(lambda p: rng.normal(size=p.shape), params)
  as32 = lambda tree: jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), tree)
  tx = optimizer.head_max_norm(1.5)
  new_updates, _ = tx.update(as32(updates), tx.init(as32(params)), as32(params))
  got = jax.device_get(optax.apply_updates(as32(params), new_updates))
  w = params["head"]["kernel"] + updates["head"]["kernel"]
  want = w * np.minimum(1.0, 1.5 / np.linalg.norm(w, axis=0, keepdims=True))
  np.testing.assert_allclose(got["head"]["kernel"], want, rtol=1e-5)
  assert np.all(np.linalg.norm(got["head"]["kernel"], axis=0) <= 1.5 + 1e-5)
  for path in (("head", "bias"), ("lstm", "kernel")):
    np.testing.assert_allclose(got[path[0]][path[1]],
                               params[path[0]][path[1]] + updates[path[0]][path[1]], rtol=1e-6)


def test_bad_head_max_norm_is_one_clear_error():
  config = _smoke_config(**{"optim.head_max_norm": -1.0})
  with pytest.raises(ConfigError, match=r"optim.head_max_norm must be >= 0"):
    optimizer.make_optimizer(config.optim, config.schedule, config.total_steps)


@pytest.mark.parametrize("key", ["optim.ema_decay", "optim.label_smoothing"])
def test_bad_fraction_is_one_clear_error(tmp_path, key):
  with pytest.raises(ConfigError, match=rf"{key} must be in \[0, 1\)"):
    train.train_and_evaluate(_smoke_config(**{key: 1.0}), str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "config.json")


@pytest.mark.parametrize("ema_decay", [0.0, 0.5])
def test_stop_and_resume_equals_uninterrupted_run(tmp_path, ema_decay):
  config = _smoke_config(**{"optim.ema_decay": ema_decay})
  full = train.train_and_evaluate(config, str(tmp_path / "full"))

  calls = []

  def stop_after_three_steps():
    calls.append(1)
    return len(calls) > 3  # polled before each step: steps 0-2 run, then stop mid-window

  workdir = str(tmp_path / "resumed")
  assert train.train_and_evaluate(config, workdir, should_stop=stop_after_three_steps) is None
  assert not os.path.exists(os.path.join(workdir, "results.json"))
  resumed = train.train_and_evaluate(config, workdir)
  assert resumed["params_sha256"] == full["params_sha256"]
  assert resumed.get("ema_params_sha256") == full.get("ema_params_sha256")
  assert ("ema_params_sha256" in full) == (ema_decay > 0)
  assert resumed["test/accuracy"] == full["test/accuracy"]
  assert resumed["best_step"] == full["best_step"]

  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  steps = [r["step"] for r in records]
  assert steps == sorted(steps) and len(steps) == len(set(steps))
  assert all(k == "step" or "/" in k for r in records for k in r)
  with open(os.path.join(str(tmp_path / "full"), "metrics.jsonl")) as f:
    full_records = [json.loads(line) for line in f]
  assert [r["step"] for r in full_records] == steps
  # The log window cut by the stop continues after the resume: the same means, bit for bit.
  for got, want in zip(records, full_records):
    assert {k: v for k, v in got.items() if k.startswith("train/")} == {
        k: v for k, v in want.items() if k.startswith("train/")}

  # A finished run relaunched does nothing and returns the same results.
  assert train.train_and_evaluate(config, workdir) == resumed


def test_run_files(tmp_path):
  config = _smoke_config()
  results = train.train_and_evaluate(config, str(tmp_path))
  for key in ("best_step", "best_value", "val/accuracy", "test/accuracy", "test/loss",
              "wall_time_s", "train_tokens_per_s", "params_sha256", "git_commit"):
    assert key in results, key
  with open(tmp_path / "config.json") as f:
    assert json.load(f)["model.units"] == config.model.units
  with open(tmp_path / "results.json") as f:
    assert json.load(f) == results
  assert len(results["params_sha256"]) == 64


def test_relaunch_with_other_config_is_refused(tmp_path):
  calls = []
  train.train_and_evaluate(_smoke_config(), str(tmp_path),
                           should_stop=lambda: calls.append(1) or len(calls) > 1)
  with pytest.raises(ConfigError, match=r"model.units: 8 -> 16"):
    train.train_and_evaluate(_smoke_config(**{"model.units": 16}), str(tmp_path))


def test_relaunch_of_a_run_saved_before_a_key_existed_resumes_at_its_default(tmp_path):
  calls = []
  config = _smoke_config()
  train.train_and_evaluate(config, str(tmp_path),
                           should_stop=lambda: calls.append(1) or len(calls) > 1)
  saved = json.loads((tmp_path / "config.json").read_text())
  del saved["data.word_dropout_alpha"]  # as written by the code before that key was added
  (tmp_path / "config.json").write_text(json.dumps(saved))
  with pytest.raises(ConfigError, match=r"data.word_dropout_alpha: None -> 0.0"):
    train.train_and_evaluate(config, str(tmp_path))  # no defaults known: refused
  defaults = train.run_files.flat_config(load_config(CONFIG + ":smoke"))
  with pytest.raises(ConfigError, match=r"data.word_dropout_alpha: None -> 0.5"):
    train.train_and_evaluate(_smoke_config(**{"data.word_dropout_alpha": 0.5}), str(tmp_path),
                             config_defaults=defaults)  # not at its default: a real change
  results = train.train_and_evaluate(config, str(tmp_path), config_defaults=defaults)
  assert results["final_step"] == config.total_steps
  assert "data.word_dropout_alpha" in json.loads((tmp_path / "config.json").read_text())


@pytest.mark.parametrize("every", [1, 2])
def test_divergence_stops_the_run_before_any_checkpoint_holds_it(tmp_path, every):
  # The warm-up's first learning rate is 0 * inf = NaN: step 1's update makes the parameters
  # NaN while its loss (taken before the update) is finite; step 2's loss is NaN. Checking
  # after every step, the save at step 1 must refuse the parameters; every 2, the loss stops it.
  config = _smoke_config(**{"total_steps": 8, "optim.learning_rate": float("inf"),
                            "optim.grad_clip_norm": 0.0, "optim.name": "sgd",
                            "log_every_steps": every, "eval_every_steps": every,
                            "ckpt_every_steps": every})
  message = (r"non-finite parameters at step 1 \(checked steps 1-1\)" if every == 1 else
             r"non-finite train/loss at step 2 \(checked steps 1-2\)")
  with pytest.raises(FloatingPointError, match=message):
    train.train_and_evaluate(config, str(tmp_path))
  assert not (tmp_path / "results.json").exists()
  for kind in ("latest", "best"):
    folder = tmp_path / "checkpoints" / kind
    assert not [p for p in os.listdir(folder) if p.isdigit()], kind


def test_eval_sums_respect_masks():
  logits = jnp.array([[[2.0, 0.0], [0.0, 2.0], [5.0, 0.0]],
                      [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])
  batch = {"labels": jnp.array([[0, 0, 1], [1, 1, 1]]), "lengths": jnp.array([2, 3]),
           "mask": jnp.array([1.0, 0.0])}  # row 1 is an eval padding row
  _, sums = metrics.loss_and_sums(logits, batch)
  lse = np.log(np.exp(2.0) + 1.0)
  assert float(sums["count"]) == 2.0
  assert float(sums["correct_sum"]) == 1.0
  np.testing.assert_allclose(float(sums["loss_sum"]), (lse - 2.0) + lse, rtol=1e-6)


@pytest.mark.parametrize("label_names, scheme", [(["B-PER", "I-PER", "O"], "bio"),
                                                 (["NUM:count", "NUM:date", "LOC:city"], None)])
def test_metric_names_are_the_keys_evaluate_returns(label_names, scheme):
  """The up-front eval_metric check and the evaluator agree, for span and coarse metrics."""
  coarse_of = metrics.coarse_ids(label_names)
  num_classes = len(label_names)

  def apply_fn(variables, inputs, lengths, train):  # pylint: disable=unused-argument
    logits = jax.nn.one_hot(inputs % num_classes, num_classes)
    return logits if scheme else logits[:, 0]

  rng = np.random.default_rng(0)
  inputs = [rng.integers(2, 9, size=n).astype(np.int32) for n in (3, 5, 2)]
  labels = ([rng.integers(0, num_classes, size=len(x)).astype(np.int32) for x in inputs]
            if scheme else np.array([0, 1, 2], np.int32))
  dataset = data.batching.ArrayDataset(inputs, labels)
  info = {"label_names": label_names, "scheme": scheme}
  fns = evaluate.make_eval_fns(apply_fn, coarse_of)
  got = evaluate.evaluate(fns, {}, dataset, batch_size=2, boundaries=None, split="val",
                          mesh=parallel.make_mesh(), info=info)
  per_type = sorted(k for k in got if k.startswith("val/span_f1_"))
  assert per_type == (["val/span_f1_PER"] if scheme else [])  # results.json gets them too
  fixed = sorted(k for k in got if k not in per_type)
  assert fixed == sorted(evaluate.metric_names(info, "val", coarse_of is not None))


def test_wandb_offline_writes_run_files(tmp_path):
  pytest.importorskip("wandb")
  config = _smoke_config(**{"wandb.mode": "offline"})
  os.environ.pop("WANDB_MODE", None)
  try:
    train.train_and_evaluate(config, str(tmp_path))
  finally:
    os.environ["WANDB_MODE"] = "disabled"
  runs = [p for p in os.listdir(tmp_path / "wandb") if p.startswith("offline-run-")]
  assert len(runs) == 1
  files = os.listdir(tmp_path / "wandb" / runs[0])
  assert any(name.endswith(".wandb") for name in files)


def test_unreachable_wandb_falls_back_offline_and_never_writes_the_key(tmp_path, capfd):
  pytest.importorskip("wandb")
  fake_key = "0123456789abcdef0123456789abcdef01234567"
  config = _smoke_config(**{"wandb.mode": "online", "wandb.init_timeout_s": 3.0})
  saved = {k: os.environ.get(k) for k in ("WANDB_MODE", "WANDB_API_KEY")}
  os.environ.pop("WANDB_MODE", None)
  os.environ["WANDB_API_KEY"] = fake_key
  try:
    results = train.train_and_evaluate(config, str(tmp_path))
  finally:
    for k, v in saved.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v
  assert results["params_sha256"]
  assert any(p.startswith("offline-run-") for p in os.listdir(tmp_path / "wandb"))
  captured = capfd.readouterr()
  assert fake_key not in captured.out + captured.err
  for root, _, files in os.walk(tmp_path):
    for name in files:
      with open(os.path.join(root, name), "rb") as f:
        assert fake_key.encode() not in f.read(), os.path.join(root, name)


def test_best_checkpoint_ties_go_to_the_later_step(tmp_path):
  # A zero learning rate keeps the parameters, so every evaluation scores the same.
  config = _smoke_config(**{"optim.learning_rate": 0.0})
  results = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert results["best_step"] == config.total_steps


_CHAR_MODEL_INIT = """
import jax, numpy as np, optax
from bilstm_jax import models
from bilstm_jax.training import parallel, train
from bilstm_jax.config import apply_overrides, load_config
config = load_config("configs/ud_pos.py:char")
apply_overrides(config, {"model.units": 256})  # with char_units 64: two QRs that deadlock jitted
model = models.build_model(config.model, {"task": "tagging", "vocab_size": 50, "num_classes": 5,
                                          "char_vocab_size": 20})
batch = {"inputs": np.ones((4, 6, 1 + config.data.max_word_chars), np.int32),
         "lengths": np.full((4,), 6, np.int32)}
state = train.init_train_state(model, optax.adam(1e-3), jax.random.PRNGKey(0), batch,
                               parallel.replicated(parallel.make_mesh()),
                               jitted=models.num_cores(config.model) == 1)
reference = train.create_train_state(model, optax.adam(1e-3), jax.random.PRNGKey(0), batch)
jax.tree_util.tree_map(np.testing.assert_array_equal, state.params, reference.params)
print("initialised", models.num_cores(config.model))
"""


def test_a_model_with_a_character_encoder_initialises_instead_of_hanging():
  """XLA:CPU deadlocks (never errors) on one program holding both cores' orthogonal QRs at
  these sizes; the trainer initialises such models op by op. In a subprocess with a deadline,
  so a regression fails this test instead of hanging the suite."""
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  done = subprocess.run([sys.executable, "-c", _CHAR_MODEL_INIT], cwd=root, capture_output=True,
                        text=True, timeout=240, check=False)
  assert done.returncode == 0, done.stderr[-2000:]
  assert done.stdout.strip().endswith("initialised 2")


def test_trec_fine_labels_are_also_scored_and_selected_at_the_coarse_level(tmp_path):
  """A fine-label TREC run from local files reports coarse accuracy and can pick its best
  checkpoint by it; the coarse TREC run has no such metric to pick."""
  source = tmp_path / "trec"
  source.mkdir()
  lines = {"train_5500.label": 24, "TREC_10.label": 8}
  kinds = ["NUM:count How many dogs ?", "NUM:date When was it ?", "LOC:city Where is it ?",
           "HUM:ind Who wrote it ?"]
  for name, count in lines.items():
    (source / name).write_text("".join(kinds[i % 4] + "\n" for i in range(count)))
  config = load_config(os.path.join(os.path.dirname(CONFIG), "trec.py:smoke,fine"))
  apply_overrides(config, {"wandb.mode": "disabled", "data.source_dir": str(source),
                           "data.cache_dir": str(tmp_path / "cache"),
                           "eval_metric": "val/coarse_accuracy"})
  results = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert results["best_metric"] == "val/coarse_accuracy"
  assert sorted(k for k in results if k.startswith("val/")) == sorted(
      evaluate.metric_names({}, "val", coarse=True))
  for split in ("val", "test"):
    assert 0.0 <= results[f"{split}/coarse_accuracy"] <= 1.0
  config = load_config(os.path.join(os.path.dirname(CONFIG), "trec.py:smoke"))
  apply_overrides(config, {"wandb.mode": "disabled", "data.source_dir": str(source),
                           "data.cache_dir": str(tmp_path / "cache"),
                           "eval_metric": "val/coarse_accuracy"})
  with pytest.raises(ConfigError, match="eval_metric.*allowed: val/loss, val/accuracy"):
    train.train_and_evaluate(config, str(tmp_path / "coarse_run"))
