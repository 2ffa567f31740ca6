"""A run's finish: val and test at the best checkpoint (metrics and every example's prediction),
then results.json and W&B's summary."""

from __future__ import annotations

from bilstm_jax.training import predictions, process_stats, run_files
from bilstm_jax.training.setup import Run, say
from bilstm_jax.training.state import RunState, eval_params, params_sha256


def finish(run: Run) -> dict:
  """Evaluates the best checkpoint on val and test and writes the results; returns them."""
  best_state, best_meta = run.ckpts.restore_best(run.state)
  best = RunState.from_dict(best_meta)
  final, saved = {}, {}
  for split in ("val", "test"):
    keep = predictions.Collector(run.info.get("label_names"))
    final.update(run.evaluate(eval_params(best_state), split, final=True, keep=keep))
    if run.is_main:
      saved[split] = predictions.write(run.workdir, split, keep)
  state, progress = run.state, run.progress
  results = {
      "best_step": best.best_step,
      "best_metric": run.config.eval_metric,
      "best_value": best.best_metric,
      **final,
      "predictions": saved,  # per example, relative to the run directory
      "final_step": int(state.step),
      "wall_time_s": progress.train_time_s,
      "train_tokens_per_s": progress.train_tokens / max(progress.train_time_s, 1e-9),
      "params_sha256": params_sha256(state.params),
      # This process's: on a resumed run, the last start's.
      "startup_s": run.startup_s,
      "peak_rss_mib": process_stats.peak_rss_mib(),
      **({} if state.ema_params is None else
         {"ema_params_sha256": params_sha256(state.ema_params)}),
      **run.provenance,
  }
  if run.is_main:
    say(f"at the best checkpoint (step {best.best_step}): "
        + " ".join(f"{k}={v:.4g}" for k, v in final.items()))
    run_files.write_results(run.workdir, results)
    run.out.summarize(results)
  return results
