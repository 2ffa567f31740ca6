"""experiments/trec_search.py: the seeded draw (the committed one), its sweep rows and table."""

import json
import os

from bilstm_jax.sweeps import cli as launch
from bilstm_jax.sweeps import files as sweep_files
from bilstm_jax.sweeps import plan, tables
from bilstm_jax.training import run_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEARCH = os.path.join(ROOT, "experiments", "trec_search.py")
COMMITTED = os.path.join(ROOT, "results", "trec_search.jsonl")


def _search():
  return sweep_files.import_get_sweep(SEARCH).__globals__


def test_the_draw_is_fixed_distinct_within_the_space_and_the_committed_one():
  search = _search()
  configs = search["configs"]()
  assert configs == search["configs"]() and len(configs) == search["NUM_CONFIGS"]
  assert configs[:2] == [{}, {"model.units": 64}]
  assert all(a != b for i, a in enumerate(configs) for b in configs[i + 1:])
  for draw in configs[2:]:
    assert all(draw[key] in values for key, values in search["SPACE"].items())
    assert ("model.dropout" in draw) == (draw["model.num_layers"] == 2)
  with open(COMMITTED) as f:
    committed = [json.loads(line) for line in f if line.strip()]
  assert len({r["config"] for r in committed}) == len(configs)
  for record in committed:  # every committed run is its config's draw
    assert record["overrides"] == configs[record["config"]]


def test_the_search_is_a_sweep_of_trec_overrides_seeds_innermost():
  name, spec = sweep_files.load(SEARCH)
  configs = _search()["configs"]()
  assert name == "trec_search" and spec.config.endswith("configs/trec.py")
  assert spec.rows == [{**draw, "seed": seed} for draw in configs for seed in range(3)]
  runs = plan.expand(spec, name, "runs")  # every row's config builds
  assert len(plan.to_run(runs)) == 192
  assert [r.run_name.rsplit(",", 1)[-1] for r in runs[6:9]] == ["seed=0", "seed=1", "seed=2"]
  assert spec.table.metric == "test/accuracy" and spec.table.sort_by == "val/accuracy"


def test_bilstm_sweep_runs_it_on_either_backend(tmp_path, capsys):
  runs_dir = str(tmp_path / "runs")
  assert launch.main(["run", SEARCH, "--backend", "slurm", "--dry-run", "--sweep-dir", runs_dir,
                      "--set", f"data.source_dir={tmp_path / 'trec'}"]) == 0
  out = capsys.readouterr().out
  assert "sweep trec_search: 192 rows, 0 finished, 192 to run (slurm)" in out
  assert "--array=0-191%8" in out


def test_its_table_lists_the_draws_best_dev_first(tmp_path):
  name, spec = sweep_files.load(SEARCH)
  runs = plan.expand(spec, name, str(tmp_path / "runs"))
  values = {0: (0.80, 0.88), 1: (0.90, 0.91)}  # config: (dev, test), every seed alike
  for run in runs[:6]:
    dev, test = values[run.index // 3]
    run_files.write_results(run.workdir, {"val/accuracy": dev, "test/accuracy": test})
  _, markdown, _ = tables.write_tables(name, spec.table, runs, str(tmp_path / "tables"))
  lines = markdown.splitlines()
  assert lines[2].startswith("| units | embed_dim | input_dropout |")
  assert lines[2].endswith("| num_layers | dropout | val/accuracy | test/accuracy |")
  # The 64-unit variant first (best dev), then the config itself (– everywhere: its own values).
  assert lines[4] == "| 64 |" + " – |" * 12 + " 0.9000 | **0.9100 ± 0.0000** (3) |"
  assert lines[5] == "|" + " – |" * 13 + " 0.8000 | 0.8800 ± 0.0000 (3) |"
  assert "6 of 192 runs done." in markdown
