"""experiments/trec_search.py: the seeded draw, the job order, resuming, and the summary table."""

import importlib.util
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _module():
  spec = importlib.util.spec_from_file_location(
      "trec_search", os.path.join(ROOT, "experiments", "trec_search.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_the_draw_is_fixed_distinct_and_within_the_space():
  search = _module()
  configs = search.configs()
  assert configs == search.configs() and len(configs) == search.NUM_CONFIGS
  assert configs[:2] == [{}, {"model.units": 64}]
  assert all(a != b for i, a in enumerate(configs) for b in configs[i + 1:])
  for draw in configs[2:]:
    assert all(draw[key] in values for key, values in search.SPACE.items())
    assert ("model.dropout" in draw) == (draw["model.num_layers"] == 2)
  # The first draw the committed results were made with (results/trec_search.jsonl, config 2).
  assert configs[2]["model.units"] == 32 and configs[2]["model.pooling"] == "attention"


def test_jobs_run_seed_by_seed_inside_each_block():
  search = _module()
  jobs = search.jobs()
  assert len(jobs) == len(set(jobs)) == 3 * search.NUM_CONFIGS
  block = search.BLOCK
  assert jobs[:block] == [(i, 0) for i in range(block)]
  assert jobs[block:2 * block] == [(i, 1) for i in range(block)]
  assert jobs[3 * block] == (block, 0)


def _write(path, rows):
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_resume_skips_finished_runs_only_and_the_table_uses_full_configs(tmp_path, capsys):
  search = _module()
  configs = search.configs()

  def row(i, seed, dev, test, **extra):
    return {"config": i, "seed": seed, "overrides": configs[i], "val/accuracy": dev,
            "test/accuracy": test, **extra}

  results = tmp_path / "results.jsonl"
  _write(results, [row(0, 0, 0.8, 0.9), row(0, 1, 0.8, 0.88), row(0, 2, 0.82, 0.86),
                   row(1, 0, 0.9, 0.9), row(1, 1, 0.9, 0.9), row(1, 2, 0.9, 0.93),
                   row(2, 0, 0.99, 0.99),
                   {"config": 3, "seed": 0, "overrides": configs[3], "error": "Traceback"}])
  assert search._finished(str(results)) == {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2),
                                            (2, 0)}
  search.table(str(results))
  out = capsys.readouterr().out
  assert "2 configs with 3 seeds, of 3 with any; 1 runs failed and not re-run" in out
  lines = [line for line in out.splitlines() if line.startswith("| 0 ") or line.startswith("| 1 ")]
  # Best dev first; the config itself changes nothing; only values that differ are listed.
  assert lines == ["| 1 | 0.9000 | 0.9100 ± 0.0173 | units=64 |",
                   "| 0 | 0.8067 | 0.8800 ± 0.0200 | (none) |"]
  assert search._finished(str(tmp_path / "none.jsonl")) == set()
