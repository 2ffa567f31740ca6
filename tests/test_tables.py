"""Tables: fabricated results.json -> mean ± std (n) cells, bold best, missing runs listed."""

import os
import shlex
import shutil

import pandas as pd
import pytest

from bilstm_jax import files, provenance
from bilstm_jax.sweeps import naming, plan, tables
from bilstm_jax.sweeps import rows as sweep_rows
from bilstm_jax.sweeps import spec as sweep
from bilstm_jax.training import run_files

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TABLE = sweep.Table(metric="test/accuracy", rows=("model.merge",), cols=("model.num_layers",))


def _runs(tmp_path):
  rows = sweep.product(("model.merge", ["concat", "sum"]), ("model.num_layers", [1, 2]),
                       sweep.seeds(2))
  names = naming.run_names(rows)
  return [plan.Run(i, name, "configs/synthetic.py", row, str(tmp_path / "runs" / "t" / name))
          for i, (row, name) in enumerate(zip(rows, names))]


def _fabricate(tmp_path):
  runs = _runs(tmp_path)
  values = {  # (merge, layers) -> values of the seeds that finished
      ("concat", 1): [0.90, 0.92], ("concat", 2): [0.95],  # seed 1 missing
      ("sum", 1): [0.80, 0.84], ("sum", 2): [0.96, 0.98]}
  seen = {}
  for run in runs:
    key = (run.overrides["model.merge"], run.overrides["model.num_layers"])
    i = seen.setdefault(key, 0)
    seen[key] += 1
    if key == ("sum", 1) and i == 1:  # a failed run: exit code, no results
      sweep_rows.record_exit(run.workdir, 1)
      values[key] = values[key][:1]
      continue
    if i < len(values[key]):
      os.makedirs(run.workdir, exist_ok=True)
      run_files.write_results(run.workdir, {"test/accuracy": values[key][i], "val/accuracy": 0})
  return runs


def test_aggregate_mean_std_n(tmp_path):
  runs = _fabricate(tmp_path)
  frame = tables.collect(runs, TABLE, sweep_rows.run_status)
  cells = tables.aggregate(frame, TABLE).set_index(["model.merge", "model.num_layers"])
  assert cells.loc[("concat", "1"), "mean"] == pytest.approx(0.91)
  assert cells.loc[("concat", "1"), "std"] == pytest.approx(0.0141421, abs=1e-6)  # ddof=1
  assert cells.loc[("concat", "2"), ["n", "planned"]].tolist() == [1, 2]
  assert cells.loc[("sum", "1"), ["n", "planned"]].tolist() == [1, 2]
  assert list(cells.index) == [("concat", "1"), ("concat", "2"), ("sum", "1"), ("sum", "2")]


def test_markdown_latex_png(tmp_path):
  runs = _fabricate(tmp_path)
  paths, markdown, _ = tables.write_tables("t", TABLE, runs, str(tmp_path / "tables"),
                                        status=sweep_rows.run_status)
  assert [os.path.basename(p) for p in paths] == ["t.md", "t.tex", "t.png"]
  assert all(os.path.getsize(p) > 0 for p in paths)
  lines = markdown.splitlines()
  assert "| merge | num_layers=1 | num_layers=2 |" in lines
  assert "| concat | **0.9100 ± 0.0141** (2) | 0.9500 (1/2) |" in lines
  assert "| sum | 0.8000 (1/2) | **0.9700 ± 0.0141** (2) |" in lines
  assert "6 of 8 runs done." in markdown
  # Both runs that are not in the table are listed, with why.
  assert "- `merge=concat,num_layers=2,seed=1` (row 3): not started" in lines
  failed = [line for line in lines if line.startswith("- `merge=sum,num_layers=1,seed=1`")]
  assert failed and "failed (exit 1; log " in failed[0] and failed[0].endswith("train.log)")
  tex = open(paths[1]).read()
  for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrr}"):
    assert rule in tex
  # 95% interval of a 2-seed mean: 0.91 ± t(0.975, 1) * 0.0141 / sqrt(2).
  assert (r"concat & $\mathbf{0.9100 \pm 0.0141}$ [0.7829, 1.0371] (2) & $0.9500$ (1/2) \\"
          in tex)
  assert r"Not in the table: merge=concat,num\_layers=2,seed=1; merge=sum,num\_layers=1," in tex
  with open(paths[2], "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_provenance_lists_each_run_command_and_the_table_commands(tmp_path, monkeypatch):
  monkeypatch.setattr(provenance, "git_commit", lambda: {"commit": "cd" * 20, "dirty": True})
  runs = _fabricate(tmp_path)
  done = [run for run in runs if run_files.read_results(run.workdir)]
  machine = {"cpu": "Test CPU", "cpu_count": 2, "backend": "cpu", "devices": "1 x cpu",
             "jax": "0.0", "python": "3.11"}
  for i, run in enumerate(done):
    results = run_files.read_results(run.workdir)
    # Two runs made before results.json recorded the dirty flag, one with uncommitted edits.
    dirty = {} if i < 2 else {"git_dirty": i == 2}
    run_files.write_results(run.workdir, {**results, "wall_time_s": 60.0, "git_commit": "ab" * 20,
                                          "command": f"/repo/bilstm_jax/main.py --workdir {run.workdir}",
                                          "machine": machine, **dirty})
  commands = ["bilstm-sweep run t.py --backend local", "bilstm-sweep table t.py"]
  paths, _, _ = tables.write_tables("t", TABLE, runs, str(tmp_path / "tables"), commands=commands)
  assert [os.path.basename(p) for p in paths[3:]] == ["t.runs.csv", "t.about.md"]
  frame = pd.read_csv(paths[3])
  assert len(frame) == len(runs) and frame["wall_time_s"].notna().sum() == len(done)
  assert frame["command"].notna().all()  # every planned row can be (re-)run
  first = shlex.split(frame["command"][0])
  assert first[:5] == ["bilstm-train", "--config", "configs/synthetic.py", "--workdir",
                       runs[0].workdir]
  assert {"--config.model.merge=concat", "--config.seed=0", "--config.wandb.group=t"} <= set(first)
  about = open(paths[4]).read()
  assert all(command in about for command in commands)
  assert f"runs: {len(done)} of {len(runs)} finished" in about
  assert f"compute: {len(done):.1f} min summed over runs" in about
  assert "machine: Test CPU (2 logical CPUs), cpu: 1 x cpu, jax 0.0, Python 3.11" in about
  assert (f"code: `{'ab' * 6}`, `{'ab' * 6}` (edits not recorded), `{'ab' * 6}` with "
          "uncommitted edits") in about
  assert f"- table: built by the code at `{'cd' * 6}` with uncommitted edits" in about
  by_name = dict(zip(frame["run_name"], frame["git_dirty"]))
  assert [by_name[run.run_name] for run in done[2:4]] == [True, False]
  assert all(pd.isna(by_name[run.run_name]) for run in done[:2])


@pytest.mark.parametrize("metric", ["test/per", "test/loss", "val/label_error_rate",
                                    "test/label_error_rate_beam"])
def test_a_loss_or_error_rate_bolds_the_lowest_and_units_plot(tmp_path, metric):
  # The direction comes from the metric's name (metric_direction.py), as the trainer's pick of
  # its best checkpoint does: no table setting can disagree with it.
  table = sweep.Table(metric=metric, rows=("model.merge",), cols=("model.units",), digits=2)
  rows = sweep.product(("model.merge", ["concat", "sum"]), ("model.units", [8, 16]))
  runs = [plan.Run(i, n, "c.py", r, str(tmp_path / n))
          for i, (r, n) in enumerate(zip(rows, naming.run_names(rows)))]
  for run, value in zip(runs, [0.3, 0.2, 0.25, 0.1]):
    run_files.write_results(_mkdir(run.workdir), {metric: value})
  paths, markdown, _ = tables.write_tables("u", table, runs, str(tmp_path / "tables"))
  assert "| concat | 0.30 (1) | 0.20 (1) |" in markdown
  assert "| sum | **0.25** (1) | **0.10** (1) |" in markdown
  assert "bold: the lowest per column" in markdown
  assert r"sum & $\mathbf{0.25}$ (1) & $\mathbf{0.10}$ (1) \\" in _read(paths[1])
  assert "Not in the table" not in markdown
  assert os.path.getsize(paths[2]) > 0


def test_several_metrics_share_the_runs_and_bold_by_their_own_direction(tmp_path):
  table = sweep.Table(metrics=("test/accuracy", "test/label_error_rate"),
                      rows=("model.merge",), cols=(sweep.METRIC_KEY,), digits=2)
  rows = sweep.product(("model.merge", ["concat", "sum"]), sweep.seeds(2))
  runs = [plan.Run(i, n, "c.py", r, str(tmp_path / n))
          for i, (r, n) in enumerate(zip(rows, naming.run_names(rows)))]
  # concat: more accurate and fewer label errors than sum would make one row all bold; here
  # concat wins accuracy and sum the error rate. The second sum seed never finished.
  for run, (acc, ler) in zip(runs, [(0.9, 0.3), (0.8, 0.3), (0.5, 0.1)]):
    run_files.write_results(_mkdir(run.workdir), {"test/accuracy": acc,
                                                  "test/label_error_rate": ler})
  paths, markdown, _ = tables.write_tables("m", table, runs, str(tmp_path / "tables"),
                                           commands=["bilstm-sweep table m.py"])
  assert "| merge | metric=test/accuracy | metric=test/label_error_rate |" in markdown
  assert "| concat | **0.85 ± 0.07** (2) | 0.30 ± 0.00 (2) |" in markdown
  assert "| sum | 0.50 (1/2) | **0.10** (1/2) |" in markdown
  assert "3 of 4 runs done." in markdown
  assert markdown.count(runs[3].run_name) == 1  # listed once, not once per metric
  frame = pd.read_csv(paths[3])
  assert len(frame) == 4
  assert frame["test/label_error_rate"].tolist()[:3] == [0.3, 0.3, 0.1]
  with pytest.raises(ValueError, match="puts 'metric' in cols"):
    sweep.Table(metrics=("test/accuracy",), rows=(sweep.METRIC_KEY,))


def test_a_row_that_repeats_another_is_shown_not_run(tmp_path):
  rows = sweep.product(("model.merge", ["concat", "sum", "none"]), sweep.seeds(2))
  names = naming.run_names(rows)
  note = "merge 'none': every head reads the forward and backward outputs concatenated"
  runs = [plan.Run(i, n, "c.py", r, str(tmp_path / n),
                    same_as=n.replace("none", "concat") if "none" in n else "",
                    same_note=note if "none" in n else "")
          for i, (r, n) in enumerate(zip(rows, names))]
  for run, value in zip(runs[:3], [0.9, 0.92, 0.8]):
    run_files.write_results(_mkdir(run.workdir), {"test/accuracy": value})
  table = sweep.Table(rows=("model.merge",))
  paths, markdown, _ = tables.write_tables("a", table, runs, str(tmp_path / "tables"),
                                           commands=["bilstm-sweep table a.py"])
  assert "| none | = concat |" in markdown.splitlines()
  assert f"`= concat`: not run, the same model as that row ({note})." in markdown
  assert "3 of 4 runs done." in markdown  # the two 'none' runs are not planned
  assert "- `merge=sum,seed=1` (row 3): not finished" in markdown
  assert "merge=none" not in markdown  # neither listed as missing nor run
  assert r"none & = concat \\" in _read(paths[1])
  assert len(pd.read_csv(paths[3])) == 4  # runs.csv: the runs that are run
  assert "- not run: 2 rows that train the very model of another row" in _read(paths[4])


def test_a_search_table_is_ordered_by_its_pick_metric(tmp_path):
  rows = sweep.product(("model.units", [8, 16, 32]), sweep.seeds(2))
  runs = [plan.Run(i, n, "c.py", r, str(tmp_path / n))
          for i, (r, n) in enumerate(zip(rows, naming.run_names(rows)))]
  dev = {8: [0.5, 0.7], 16: [0.9, 0.9], 32: [0.8]}
  for run in runs:
    units, seed = run.overrides["model.units"], run.overrides["seed"]
    if seed < len(dev[units]):
      run_files.write_results(_mkdir(run.workdir), {"val/accuracy": dev[units][seed],
                                                    "test/accuracy": units / 100})
  table = sweep.Table(rows=("model.units",), sort_by="val/accuracy")
  paths, markdown, _ = tables.write_tables("s", table, runs, str(tmp_path / "tables"))
  lines = markdown.splitlines()
  assert "| units | val/accuracy | test/accuracy |" in lines
  body = [line for line in lines if line.startswith("| ") and line[2].isdigit()]
  assert body == ["| 16 | 0.9000 | 0.1600 ± 0.0000 (2) |", "| 32 | 0.8000 | **0.3200** (1/2) |",
                  "| 8 | 0.6000 | 0.0800 ± 0.0000 (2) |"]
  assert "rows by val/accuracy (seed mean), best first" in markdown
  assert os.path.getsize(paths[2]) > 0
  with pytest.raises(ValueError, match="one-column table"):
    sweep.Table(rows=("model.units",), cols=("model.merge",), sort_by="val/accuracy")


def test_every_table_file_is_written_atomically(tmp_path, monkeypatch):
  runs = _fabricate(tmp_path)
  written = []
  real = files.atomic_open

  def spy(path, mode="w"):
    written.append((os.path.basename(path), mode))
    return real(path, mode)

  monkeypatch.setattr(files, "atomic_open", spy)
  paths, _, _ = tables.write_tables("t", TABLE, runs, str(tmp_path / "tables"), commands=["c"])
  assert sorted(written) == sorted([("t.md", "w"), ("t.tex", "w"), ("t.png", "wb"),
                                    ("t.runs.csv", "w"), ("t.about.md", "w")])
  assert not [p for p in os.listdir(tmp_path / "tables") if ".tmp." in p]
  assert all(os.path.getsize(p) > 0 for p in paths)


def test_results_without_the_metric_are_listed(tmp_path):
  run = plan.Run(0, "r", "c.py", {"seed": 0}, str(tmp_path / "r"))
  run_files.write_results(_mkdir(run.workdir), {"val/accuracy": 1.0})
  _, markdown, _ = tables.write_tables("m", sweep.Table(), [run], str(tmp_path / "tables"))
  assert "| – (0/1) |" in markdown
  assert "- `r` (row 0): results.json has no 'test/accuracy'" in markdown


def _mkdir(path):
  os.makedirs(path, exist_ok=True)
  return path


def _read(path):
  with open(path) as f:
    return f.read()


def test_table_is_logged_to_the_wandb_group_offline(tmp_path, monkeypatch):
  """The table and plot go to W&B (offline here: real run files under the sweep dir)."""
  pytest.importorskip("wandb")
  import pandas as pd

  from bilstm_jax.config import load_config
  from bilstm_jax.sweeps import table_tracking
  png = tmp_path / "t.png"
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  plt.plot([0, 1]); plt.savefig(png); plt.close()
  monkeypatch.setenv("WANDB_MODE", "offline")
  cfg = load_config(os.path.join(ROOT_DIR, "configs", "synthetic.py")).wandb
  cells = pd.DataFrame({"merge": ["sum"], "mean": [0.9], "std": [0.01], "n": [2]})
  table_tracking.log_table("t", cells, str(png), cfg, str(tmp_path / "sweep"))
  runs = os.listdir(tmp_path / "sweep" / "wandb")
  assert any(r.startswith("offline-run-") for r in runs)


def test_a_learning_curve_plots_against_its_numeric_key(tmp_path, monkeypatch):
  table = sweep.Table(metric="test/accuracy", rows=("model.bidirectional",),
                      cols=("data.train_fraction",), plot_x="data.train_fraction")
  rows = sweep.product(("data.train_fraction", [0.0625, 0.25, 1.0]),
                       ("model.bidirectional", [False, True]))
  runs = [plan.Run(i, n, "c.py", r, str(tmp_path / n))
          for i, (r, n) in enumerate(zip(rows, naming.run_names(rows)))]
  for run in runs:
    acc = 0.5 + 0.3 * run.overrides["data.train_fraction"] + 0.1 * run.overrides[
        "model.bidirectional"]
    run_files.write_results(_mkdir(run.workdir), {"test/accuracy": acc})
  drawn = {}

  def spy(ax, done, keys, x_key):
    drawn["x"] = (x_key, sorted(done[x_key].astype(float)))

  monkeypatch.setattr(tables.table_plot, "_by_numeric", spy)
  paths, _, _ = tables.write_tables("lc", table, runs, str(tmp_path / "tables"))
  assert drawn["x"] == ("data.train_fraction", [0.0625, 0.0625, 0.25, 0.25, 1.0, 1.0])
  assert os.path.getsize(paths[2]) > 0
  with pytest.raises(ValueError, match="plot_x='model.units' must be one of"):
    sweep.Table(rows=("model.merge",), plot_x="model.units")


def test_a_table_is_rebuilt_from_its_runs_csv_when_the_run_dirs_are_gone(tmp_path):
  runs = _fabricate(tmp_path)
  commands = ["bilstm-sweep table t.py"]
  paths, before, _ = tables.write_tables("t", TABLE, runs, str(tmp_path / "tables"),
                                         sweep_rows.run_status, commands=commands)
  csv_before, about_path = _read(paths[3]), paths[4]
  shutil.rmtree(tmp_path / "runs")
  from bilstm_jax.sweeps import table_csv  # pylint: disable=import-outside-toplevel
  read = table_csv.results_from_csv(paths[3], TABLE)
  for _ in range(2):  # twice: the section is replaced, not appended again
    _, after, cells = tables.write_tables("t", TABLE, runs, str(tmp_path / "tables"),
                                          results_of=read)
    table_csv.put_section(about_path, tables.table_significance.report_lines(
        cells, TABLE, "welch", 0.05))
  body = [line for line in before.splitlines() if line.startswith("| concat") or
          line.startswith("| sum")]
  assert body and all(line in after.splitlines() for line in body)
  assert _read(paths[3]) == csv_before  # the record of the runs is left alone
  about = _read(about_path)
  assert about.count("## Significance") == 1 and about.startswith("# How `t` was made")
  assert "[0.7829, 1.0371]" in about  # concat, 1 layer: two seeds' 95% interval
  with pytest.raises(ValueError, match="has no column test/per"):
    table_csv.results_from_csv(paths[3], sweep.Table(metrics=("test/per",),
                                                     cols=(sweep.METRIC_KEY,)))
