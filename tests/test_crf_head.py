"""The CRF tagger head: its loss and decoding are the core CRF's, it trains, resumes and refuses
what it cannot do."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bilstm_jax
from bilstm_jax import data, models
from bilstm_jax.config import ConfigError, apply_overrides, load_config
from bilstm_jax.training import crf_loss, evaluate, optimizer, train

CONFIGS = os.path.join(os.path.dirname(__file__), os.pardir, "configs")


def _config(name="synthetic.py:smoke", **changes):
  config = load_config(os.path.join(CONFIGS, name))
  apply_overrides(config, {"wandb.mode": "disabled", "model.head": "crf", **changes})
  return config


def _setup(config):
  splits, info = data.get_datasets(config.data)
  stream = data.batching.TrainStream(splits["train"], config.batch_size, config.seed)
  model = models.build_model(config.model, info)
  tx, schedule = optimizer.make_optimizer(config.optim, config.schedule, config.total_steps)
  state = train.create_train_state(model, tx, jax.random.PRNGKey(0), stream.batch(0))
  return model, info, state, stream, schedule


def _random_crf(state, seed=0):
  """Non-zero CRF scores, so that a loss or decoder that ignored them would differ."""
  rng = np.random.default_rng(seed)
  crf = jax.tree_util.tree_map(
      lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), state.params["crf"])
  return state.replace(params={**state.params, "crf": crf})


def test_the_crf_head_adds_its_scores_and_only_those():
  config = _config()
  _, _, state, _, _ = _setup(config)
  softmax_config = _config(**{"model.head": "softmax"})
  _, _, plain, _, _ = _setup(softmax_config)
  num_classes = state.params["head"]["kernel"].shape[-1]
  assert set(state.params) - set(plain.params) == {"crf"}
  assert {k: v.shape for k, v in state.params["crf"].items()} == {
      "transitions": (num_classes, num_classes), "start": (num_classes,), "end": (num_classes,)}


def test_train_step_loss_is_the_mean_sentence_nll_of_the_core_crf():
  config = _config()
  model, info, state, stream, schedule = _setup(config)
  state = _random_crf(state)
  spec = crf_loss.crf_spec(model, info)
  batch = stream.batch(0)
  batch["mask"] = batch["mask"].copy()
  batch["mask"][0] = 0  # a padding row counts for nothing
  _, step_metrics = train.train_step(state, batch, jax.random.PRNGKey(1), schedule, crf=spec)
  # The same emissions (dropout off in the smoke config) through the public core function.
  emissions = model.apply({"params": state.params}, batch["inputs"], batch["lengths"],
                          train=False)
  crf = state.params["crf"]
  log_likelihood = bilstm_jax.crf_log_likelihood(
      emissions, batch["labels"], batch["lengths"], crf["transitions"], crf["start"], crf["end"])
  mask = batch["mask"].astype(np.float64)
  want = -np.sum(np.asarray(log_likelihood, np.float64) * mask) / mask.sum()
  np.testing.assert_allclose(float(step_metrics["train/loss"]), want, rtol=1e-5)


def test_evaluation_decodes_with_viterbi_and_scores_the_decoded_tags():
  config = _config()
  model, info, state, stream, _ = _setup(config)
  state = _random_crf(state, seed=1)
  spec = crf_loss.crf_spec(model, info)
  sums_fn, predict_fn, _ = evaluate.make_eval_fns(model.apply, None, spec)
  batch = stream.batch(0)
  emissions = model.apply({"params": state.params}, batch["inputs"], batch["lengths"],
                          train=False)
  crf = state.params["crf"]
  want_tags, _ = bilstm_jax.crf_decode(emissions, batch["lengths"], crf["transitions"],
                                       crf["start"], crf["end"])
  got = predict_fn(state.params, batch)
  np.testing.assert_array_equal(np.asarray(got), np.asarray(want_tags))
  assert np.any(np.asarray(want_tags) != np.asarray(jnp.argmax(emissions, -1)))  # not the argmax
  sums = sums_fn(state.params, batch)
  valid = np.arange(batch["labels"].shape[1])[None] < batch["lengths"][:, None]
  valid &= batch["mask"][:, None].astype(bool)
  assert float(sums["correct_sum"]) == np.sum((np.asarray(want_tags) == batch["labels"]) & valid)
  assert float(sums["sentences"]) == batch["mask"].sum()


def test_decoding_keeps_bio_constraints_where_asked():
  label_names = ["B-PER", "I-PER", "O"]
  spec = crf_loss.CRFSpec(train_masks=None,
                          decode_masks=bilstm_jax.bio_allowed_transitions(label_names))
  # Emissions that favour I-PER right after O: unconstrained Viterbi would take it.
  emissions = jnp.asarray([[[0.0, 0.0, 5.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]]], jnp.float32)
  params = {"crf": {"transitions": jnp.zeros((3, 3)), "start": jnp.zeros(3), "end": jnp.zeros(3)}}
  tags = np.asarray(crf_loss.predict(emissions, params, jnp.asarray([3]), spec))[0]
  assert tags[1] != 1 and list(tags) != [2, 1, 2]
  free = crf_loss.CRFSpec(train_masks=None, decode_masks=None)
  assert list(np.asarray(crf_loss.predict(emissions, params, jnp.asarray([3]), free))[0]) == [
      2, 1, 2]


def test_a_crf_tagger_trains_and_resumes_exactly(tmp_path):
  config = _config()
  full = train.train_and_evaluate(config, str(tmp_path / "full"))
  assert np.isfinite(full["test/loss"]) and 0.0 <= full["test/accuracy"] <= 1.0
  calls = []
  workdir = str(tmp_path / "resumed")
  assert train.train_and_evaluate(config, workdir,
                                  should_stop=lambda: calls.append(1) or len(calls) > 2) is None
  resumed = train.train_and_evaluate(config, workdir)
  assert resumed["params_sha256"] == full["params_sha256"]
  assert resumed["test/accuracy"] == full["test/accuracy"]


@pytest.mark.parametrize("changes, message", [
    ({"model.head": "hmm"}, "config key model.head: unknown head 'hmm'; allowed: softmax, crf"),
    ({"model.crf_mask": "always"}, "config key model.crf_mask: 'always'; allowed: none, decode"),
])
def test_bad_head_settings_are_one_clear_error(changes, message):
  config = _config(**changes)
  with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
    models.check_model_config(config.model)


def test_a_crf_on_a_classification_task_is_refused(tmp_path):
  config = _config("trec.py:smoke")
  with pytest.raises(ConfigError, match="model.head='crf' is for tagging tasks"):
    models.check_model_config(config.model, {"task": "classification"})


def test_label_smoothing_with_a_crf_is_refused_before_the_run_dir_is_written(tmp_path):
  config = _config(**{"optim.label_smoothing": 0.1})
  with pytest.raises(ConfigError, match="optim.label_smoothing is for the softmax head"):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "config.json")


