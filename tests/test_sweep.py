"""Sweeps: expansion order, run names (sanitised), manifest rows, skip/lock logic, local runs."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl import flags

from bilstm_jax import MERGE_MODES, models
from bilstm_jax import config as config_lib
from bilstm_jax.config import ConfigError
from bilstm_jax.sweeps import aliases, naming, plan
from bilstm_jax.sweeps import cli as launch
from bilstm_jax.sweeps import files as sweep_files
from bilstm_jax.sweeps import rows as sweep_rows
from bilstm_jax.sweeps import spec as sweep
from bilstm_jax.training import run_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYNTHETIC = os.path.join(ROOT, "configs", "synthetic.py")
TREC = os.path.join(ROOT, "configs", "trec.py")
QUICKSTART = os.path.join(ROOT, "experiments", "quickstart.py")


def _write_sweep(tmp_path, rows_code, name="toy", config=SYNTHETIC + ":smoke", table=""):
  path = tmp_path / f"{name}.py"
  path.write_text(textwrap.dedent(f"""
      from bilstm_jax.sweeps import spec as sweep
      def get_sweep():
        return sweep.Sweep(config={config!r}, rows={rows_code}{table})
      """))
  return str(path)


def test_product_zipped_chain_order_and_seed_innermost():
  rows = sweep.product(("model.merge", ["concat", "sum"]), ("model.num_layers", [1, 2]),
                       sweep.seeds(2))
  assert [tuple(r.values()) for r in rows][:5] == [
      ("concat", 1, 0), ("concat", 1, 1), ("concat", 2, 0), ("concat", 2, 1), ("sum", 1, 0)]
  assert len(rows) == 8
  assert sweep.zipped(("model.units", [8, 16]), ("model.embed_dim", [4, 8])) == [
      {"model.units": 8, "model.embed_dim": 4}, {"model.units": 16, "model.embed_dim": 8}]
  nested = sweep.product(sweep.zipped(("model.units", [8, 16]), ("model.embed_dim", [4, 8])),
                         sweep.seeds(1))
  assert nested[1] == {"model.units": 16, "model.embed_dim": 8, "seed": 0}
  both = sweep.chain(sweep.product(("model.bidirectional", [False]), sweep.seeds(2)),
                     sweep.product(("model.merge", ["sum"]), sweep.seeds(2)))
  assert [r.get("model.merge") for r in both] == [None, None, "sum", "sum"]
  assert sweep.product(("a", [1, 2]), ("seed", [0])) == sweep.product(("a", [1, 2]),
                                                                     ("seed", [0]))


def test_axis_mistakes_are_errors():
  with pytest.raises(ValueError, match="differ in length"):
    sweep.zipped(("a", [1, 2]), ("b", [1]))
  with pytest.raises(ValueError, match="set by two axes"):
    sweep.product(("a", [1]), ("a", [2]))
  with pytest.raises(TypeError, match="must be a list"):
    sweep.product(("a", "concat"))
  with pytest.raises(ValueError, match="innermost"):
    sweep.Sweep("x.py", sweep.product(sweep.seeds(2), ("model.merge", ["concat", "sum"])))


def test_run_names_use_only_varied_keys_seed_last():
  rows = sweep.product(("model.cell", ["lstm"]), ("model.merge", ["concat", "sum"]),
                       ("model.num_layers", [2]), sweep.seeds(2))
  rows = [dict(seed=r.pop("seed"), **r) for r in rows]  # seed first in the dict: still last
  assert naming.varied_keys(rows) == ["model.merge", "seed"]
  assert naming.run_names(rows) == ["merge=concat,seed=0", "merge=concat,seed=1",
                                   "merge=sum,seed=0", "merge=sum,seed=1"]
  # A key some rows leave out varies; two keys with the same last part keep their full names.
  rows = [{"model.dropout": 0.1, "data.dropout": 0.0}, {"model.dropout": 0.2}]
  assert naming.run_names(rows) == ["model.dropout=0.1,data.dropout=0",
                                   "model.dropout=0.2"]
  assert naming.run_names([{"seed": 0}]) == ["run"]


@pytest.mark.parametrize("value", ["../../etc", "/abs/path", "a/b", "..", ".", "-rf",
                                   "x y*?$\\", "é", "a" * 400])
def test_names_never_escape_the_sweep_dir(tmp_path, value):
  rows = [{"data.source_dir": value}, {"data.source_dir": "plain"}]
  names = naming.run_names(rows)
  for name in names:
    assert "/" not in name and ".." not in name and not name.startswith((".", "-"))
    assert len(name) <= 150
    root = tmp_path / "runs" / "toy"
    assert os.path.dirname(os.path.abspath(root / name)) == str(root)
  assert names[0] != names[1]
  assert naming.sanitize("..") == "_" and naming.sanitize("/etc/passwd") == "_etc_passwd"


def test_sanitising_collisions_stay_unique():
  names = naming.run_names([{"data.format": "a/b"}, {"data.format": "a_b"}])
  assert len(set(names)) == 2 and all(n.startswith("format=a_b") for n in names)


def test_quickstart_rows_all_build_configs():
  spec = sweep_files.load(QUICKSTART)[1]
  runs = plan.expand(spec, "quickstart", "runs")  # builds every row's config
  assert len(runs) == 2 + 2 * len(MERGE_MODES)
  assert runs[0].run_name == "bidirectional=False,seed=0"
  assert runs[-1].run_name == "bidirectional=True,merge=none,seed=1"
  assert runs[3].workdir == os.path.join("runs", "quickstart",
                                         "bidirectional=True,merge=concat,seed=1")
  assert spec.table.metric == "test/accuracy"
  # merge 'none' is the concat model: its rows stay in the table but are never run. The rows
  # that run keep their names, indices and configs (so their params_sha256 too).
  assert [(r.run_name, r.same_as) for r in runs if r.same_as] == [
      ("bidirectional=True,merge=none,seed=0", "bidirectional=True,merge=concat,seed=0"),
      ("bidirectional=True,merge=none,seed=1", "bidirectional=True,merge=concat,seed=1")]
  before = sweep.chain(sweep.product(("model.bidirectional", [False]), sweep.seeds(2)),
                       sweep.product(("model.bidirectional", [True]),
                                     ("model.merge", [m for m in MERGE_MODES if m != "none"]),
                                     sweep.seeds(2)))
  assert [(r.index, r.overrides) for r in plan.to_run(runs)] == list(enumerate(before))


def _merge_rows(config, *axes):
  return plan.expand(sweep.Sweep(config, sweep.product(*axes, ("model.merge", list(MERGE_MODES)),
                                                        sweep.seeds(2))), "m", check=False)


@pytest.mark.parametrize("config,axes", [
    (SYNTHETIC, ()),  # the tagger
    (TREC, (("model.pooling", ["final", "mean", "max", "mean_max", "attention"]),)),
    (TREC, (("model.num_layers", [1, 2]),))], ids=["tagger", "poolings", "depths"])
def test_merge_none_rows_of_concatenating_heads_are_not_run(config, axes):
  runs = _merge_rows(config, *axes)
  nones = [r for r in runs if r.overrides["model.merge"] == "none"]
  assert nones and all(r.same_as == r.run_name.replace("merge=none", "merge=concat")
                       for r in nones)
  assert all("concatenated" in r.same_note for r in nones)
  assert {r.overrides["model.merge"] for r in plan.to_run(runs)} == set(MERGE_MODES) - {"none"}
  assert plan.unfinished(runs) == plan.to_run(runs)
  # Forward-only never merges: every merge mode there is the concat model.
  one_way = _merge_rows(config, *axes, ("model.bidirectional", [False]))
  assert {r.overrides["model.merge"] for r in plan.to_run(one_way)} == {"concat"}
  # Without a concat row to point at, a 'none' row is run.
  only = plan.expand(sweep.Sweep(config, sweep.product(("model.merge", ["none"]),
                                                       sweep.seeds(1))), "m", check=False)
  assert not only[0].same_as


@pytest.mark.parametrize("task,pooling", [("tagging", None)] + [
    ("classification", p) for p in models.POOLINGS])
def test_rows_marked_alike_train_the_same_model(key, task, pooling):
  """aliases.py's rule checked against every head build_model makes: the same parameters and
  logits, bit for bit, for 'none' and 'concat' (the tagger: the same gradients too; and,
  forward-only, for any merge)."""
  info = {"task": task, "vocab_size": 10, "num_classes": 3}
  inputs = np.random.default_rng(0).integers(1, 9, size=(3, 6)).astype(np.int32)
  lengths = np.array([6, 2, 0], np.int32)
  pairs = [({"merge": "none"}, {"merge": "concat"})]
  if task == "tagging":  # the merge is never reached, whatever the head
    pairs.append(({"merge": "sum", "bidirectional": False}, {"bidirectional": False}))
  for changes, twin in pairs:
    flat = {"model.merge": "concat", "model.bidirectional": True}
    flat.update({f"model.{k}": v for k, v in changes.items()})
    assert aliases.twin(flat)[0] == {"model.merge": "concat"}
    outs = []
    for change in (changes, twin):
      cfg = config_lib.load_config(SYNTHETIC).model
      cfg.units, cfg.embed_dim, cfg.num_layers = 4, 5, 2
      cfg.pooling = pooling or cfg.pooling
      for k, v in change.items():
        cfg[k] = v
      model = models.build_model(cfg, info)
      params = model.init(key, inputs, lengths)["params"]

      def logits(p, model=model):
        return model.apply({"params": p}, inputs, lengths)

      def outputs(p, logits=logits):
        if task != "tagging":  # compiling the gradients of each pooling is slow on CPU
          return logits(p)
        return logits(p), jax.grad(lambda q: jnp.sum(logits(q) ** 2))(p)

      outs.append((params, jax.jit(outputs)(params)))
    jax.tree_util.tree_map(np.testing.assert_array_equal, outs[0], outs[1])


def test_a_manifest_holds_only_the_rows_that_run(tmp_path, capsys):
  path = _write_sweep(tmp_path, 'sweep.product(("model.merge", ["concat", "none", "sum"]), '
                      'sweep.seeds(1))')
  runs_dir = str(tmp_path / "runs")
  assert launch.main(["run", path, "--backend", "slurm", "--dry-run", "--sweep-dir",
                      runs_dir]) == 0
  out = capsys.readouterr().out
  assert "3 rows, 0 finished, 2 to run, 1 the same model as another row (not run)" in out
  assert "=    1 merge=none: same model as merge=concat (merge 'none': every head" in out
  assert "--array=0,2%8" in out
  runs = plan.expand(sweep_files.load(path)[1], "toy", runs_dir)
  manifest = str(tmp_path / plan.MANIFEST)
  plan.write_manifest(manifest, plan.to_run(runs))
  assert plan.manifest_row(manifest, 2).run_name == "merge=sum"  # rows keep their sweep index
  with pytest.raises(ConfigError, match="has rows 0,2; no row 1"):
    plan.manifest_row(manifest, 1)


def test_the_slurm_array_script_is_the_repositorys():
  assert launch.ARRAY_SCRIPT == os.path.join(ROOT, "slurm", "array.sbatch")
  assert os.path.isfile(launch.ARRAY_SCRIPT)


def test_long_names_keep_their_seed():
  settings = sweep.zipped(*[(f"model.k{i:02d}", ["v" * 9, "w" * 9]) for i in range(12)])
  names = naming.run_names(sweep.product(settings, sweep.seeds(2)))
  assert all(len(n) <= 150 for n in names) and len(set(names)) == 4
  assert [n.rsplit(",", 1)[1] for n in names] == ["seed=0", "seed=1"] * 2
  # The seeds of one setting share its digest; another setting has its own.
  heads = [n.rsplit(",", 1)[0] for n in names]
  assert heads[0] == heads[1] != heads[2] == heads[3]


def test_misspelled_key_is_one_error_naming_the_row(tmp_path):
  path = _write_sweep(tmp_path, 'sweep.product(("model.unitz", [8, 16]), sweep.seeds(1))')
  spec = sweep_files.load(path)[1]
  with pytest.raises(ConfigError, match=r"sweep 'toy' row 0 \(unitz=8\): config key "
                     r"'model.unitz' does not exist; valid keys at model: .*units"):
    plan.expand(spec, "toy")
  code = launch.main(["run", path, "--dry-run", "--sweep-dir", str(tmp_path / "runs")])
  assert code == 2


def test_named_grids_select_rows_and_name_their_run_directory(tmp_path):
  path = tmp_path / "grids.py"
  path.write_text(textwrap.dedent(f"""
      from bilstm_jax.sweeps import spec as sweep
      GRIDS = {{"cpu": [8], "paper": [8, 16, 32]}}
      def get_sweep(grid="cpu"):
        return sweep.Sweep(config={SYNTHETIC + ":smoke"!r}, rows=sweep.product(
            ("model.units", sweep.pick_grid(GRIDS, grid)), sweep.seeds(1)))
      """))
  path = str(path)
  assert len(sweep_files.load(path)[1].rows) == 1
  assert len(sweep_files.load(path + ":paper")[1].rows) == 3
  assert [sweep_files.load(s)[0] for s in (path, path + ":cpu", path + ":paper")] == [
      "grids", "grids", "grids_paper"]
  with pytest.raises(ConfigError, match=r"grids.py:huge: unknown grid 'huge'; allowed: cpu, paper"):
    sweep_files.load(path + ":huge")[1]
  plain = _write_sweep(tmp_path, 'sweep.seeds(1)')
  with pytest.raises(ConfigError, match=r"takes no grid argument; drop ':paper'"):
    sweep_files.load(plain + ":paper")[1]


def test_a_sweep_file_imports_the_modules_beside_it(tmp_path):
  (tmp_path / "_shared_rows.py").write_text(
      "from bilstm_jax.sweeps import spec as sweep\n"
      "ROWS = sweep.product(('model.units', [4, 8]), sweep.seeds(1))\n")
  path = _write_sweep(tmp_path, "_shared_rows.ROWS")
  text = open(path).read().replace("from bilstm_jax.sweeps import spec as sweep",
                                   "from bilstm_jax.sweeps import spec as sweep\n"
                                   "from . import _shared_rows")
  open(path, "w").write(text)
  assert [row["model.units"] for row in sweep_files.load(path)[1].rows] == [4, 8]
  assert str(tmp_path) not in sys.path  # only while the file loads


def test_set_adds_a_setting_to_every_row_and_never_replaces_one(tmp_path, capsys):
  path = _write_sweep(tmp_path, 'sweep.product(("model.units", [8, 16]), sweep.seeds(1))')
  runs_dir = str(tmp_path / "runs")
  assert launch.main(["run", path, "--sweep-dir", runs_dir, "--dry-run",
                      "--set", "data.max_len=9", "--set", "model.merge=sum"]) == 0
  spec = sweep.with_settings(sweep_files.load(path)[1], {"data.max_len": 9})
  assert [row["data.max_len"] for row in spec.rows] == [9, 9]
  assert naming.run_names(spec.rows) == ["units=8", "units=16"]  # names unchanged
  with pytest.raises(ConfigError, match=r"--set model.units=...: the sweep already sets"):
    sweep.with_settings(spec, {"model.units": 4})
  assert launch.main(["run", path, "--sweep-dir", runs_dir, "--dry-run",
                      "--set", "data.max_len=nine"]) == 2
  assert "'data.max_len': 'nine' is not an integer" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")  # ml_collections
def test_flags_round_trip_to_the_same_config():
  """Each override, written as a --config.key flag, parses back to apply_overrides' config."""
  row = {"model.merge": "sum", "model.bidirectional": False, "model.units": 16,
         "optim.learning_rate": 1e-3, "seed": 3, "data.format": "conllu"}
  run = plan.Run(0, "r", SYNTHETIC + ":smoke", row, "runs/toy/r", ("merge=sum",))
  args = plan.train_args(run, "toy", "disabled")
  assert args[:4] == ["--config", SYNTHETIC + ":smoke", "--workdir", "runs/toy/r"]
  expected = sweep.build_config(SYNTHETIC + ":smoke", {
      **row, "wandb.group": "toy", "wandb.name": "r", "wandb.tags": ("merge=sum",),
      "wandb.mode": "disabled"})
  argv = ["prog", f"--config={args[1]}"] + args[4:]
  values = flags.FlagValues()
  holder = config_lib.define_config_flag("config", "", flag_values=values, sys_argv=argv)
  values(argv)
  assert run_files.flat_config(holder.value) == run_files.flat_config(expected)
  with pytest.raises(ConfigError, match="None cannot be passed"):
    plan.flag_value("data.source_dir", None)


def test_manifest_rows_and_unfinished_selection(tmp_path):
  path = _write_sweep(tmp_path, 'sweep.product(("model.merge", ["concat", "sum"]), '
                      'sweep.seeds(2))')
  runs = plan.expand(sweep_files.load(path)[1], "toy", str(tmp_path / "runs"))
  manifest = str(tmp_path / "runs" / "toy" / plan.MANIFEST)
  plan.write_manifest(manifest, runs)
  assert plan.read_manifest(manifest) == runs
  assert plan.manifest_row(manifest, 2).run_name == "merge=sum,seed=0"
  with pytest.raises(ConfigError, match="no row 4"):
    plan.manifest_row(manifest, 4)
  run_files.write_results(_mkdir(runs[1].workdir), {"test/accuracy": 0.5})
  _mkdir(runs[2].workdir)  # started, no results: still to run (it resumes)
  assert [r.index for r in plan.unfinished(runs)] == [0, 2, 3]
  assert plan.compress_indices([0, 2, 3]) == "0,2-3"
  assert plan.compress_indices([0, 1, 2, 5, 7, 8, 9]) == "0-2,5,7-9"


def _mkdir(path):
  os.makedirs(path, exist_ok=True)
  return path


def test_dry_run_writes_nothing_and_shows_the_subset_array(tmp_path, capsys):
  path = _write_sweep(tmp_path, 'sweep.product(("model.merge", ["concat", "sum"]), '
                      'sweep.seeds(2))')
  runs_dir = tmp_path / "runs"
  runs = plan.expand(sweep_files.load(path)[1], "toy", str(runs_dir))
  run_files.write_results(_mkdir(runs[0].workdir), {"test/accuracy": 0.5})
  code = launch.main(["run", path, "--backend", "slurm", "--dry-run", "--sweep-dir",
                      str(runs_dir), "--max-parallel", "3", "--signal-seconds", "30"])
  out = capsys.readouterr().out
  assert code == 0
  assert "--array=1-3%3" in out and "--signal=B:USR1@30" in out and "--requeue" in out
  assert not (runs_dir / "toy" / plan.MANIFEST).exists()


def test_finished_and_locked_rows_are_not_run(tmp_path):
  path = _write_sweep(tmp_path, 'sweep.product(("model.merge", ["concat", "sum"]), '
                      'sweep.seeds(1))')
  runs = plan.expand(sweep_files.load(path)[1], "toy", str(tmp_path / "runs"))
  manifest = str(tmp_path / "runs" / "toy" / plan.MANIFEST)
  plan.write_manifest(manifest, runs)
  run_files.write_results(_mkdir(runs[0].workdir), {"test/accuracy": 0.5})
  assert sweep_rows.exec_row(manifest, 0) == 0  # finished: returns instead of exec'ing a trainer
  fd = sweep_rows.try_lock(runs[1].workdir)
  try:
    assert sweep_rows.exec_row(manifest, 1) == sweep_rows.EXIT_LOCKED
    assert sweep_rows.run_status(runs[1]) == "running"
  finally:
    os.close(fd)
  assert sweep_rows.run_status(runs[1]) == "incomplete"


def test_lock_excludes_another_process_and_dies_with_it(tmp_path):
  workdir = str(tmp_path / "run")
  holder = subprocess.Popen(
      [sys.executable, "-c", ("import time; from bilstm_jax.sweeps import rows as sweep_rows; "
                              f"fd = sweep_rows.try_lock({workdir!r}); "
                              "print('locked', flush=True); time.sleep(60)")],
      stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "locked"
    assert sweep_rows.try_lock(workdir) is None
  finally:
    holder.kill()
    holder.wait()
  fd = sweep_rows.try_lock(workdir)  # released by the kernel when the holder died: no stale lock
  assert fd is not None
  os.close(fd)


def test_run_status_from_files(tmp_path):
  run = plan.Run(0, "r", SYNTHETIC, {"seed": 0}, str(tmp_path / "r"))
  assert sweep_rows.run_status(run) == "not started"
  sweep_rows.record_exit(run.workdir, 75)
  assert sweep_rows.run_status(run) == "stopped (resumable)"
  sweep_rows.record_exit(run.workdir, 1)
  assert sweep_rows.run_status(run).startswith("failed (exit 1; log ")
  run_files.write_results(run.workdir, {"test/accuracy": 1.0})
  assert sweep_rows.run_status(run) == "done"


def test_local_backend_skips_finished_and_locked_reports_failed(tmp_path):
  """One real smoke row trains; a finished row is skipped, a locked one left to its holder,
  and a failing one is reported with its log while the others go on."""
  path = _write_sweep(tmp_path, 'sweep.product(("model.merge", ["concat", "sum", "mul", '
                      '"ave"]), sweep.seeds(1))')
  runs_dir = str(tmp_path / "runs")
  runs = plan.expand(sweep_files.load(path)[1], "toy", runs_dir)
  run_files.write_results(_mkdir(runs[0].workdir), {"test/accuracy": 0.5})
  # A file where the trainer keeps its checkpoint folder makes it fail: a failed row.
  with open(os.path.join(_mkdir(runs[2].workdir), "checkpoints"), "w") as f:
    f.write("not a folder\n")
  fd = sweep_rows.try_lock(runs[3].workdir)
  try:
    result = subprocess.run(
        [sys.executable, "-m", "bilstm_jax.sweeps.cli", "run", path, "--backend", "local",
         "--workers", "2", "--sweep-dir", runs_dir],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
        env={**os.environ, "WANDB_MODE": "disabled"})
  finally:
    os.close(fd)
  out = result.stdout
  assert result.returncode == 1, out + result.stderr
  assert "1 finished, 3 to run" in out
  assert [r.run_name for r in runs] == ["merge=concat", "merge=sum", "merge=mul", "merge=ave"]
  assert "merge=sum: done" in out
  assert f"merge=mul: FAILED (exit 1); log: {runs[2].workdir}/train.log" in out
  assert "merge=ave: skipped: running in another launcher" in out
  assert run_files.read_results(runs[1].workdir)["final_step"] == 4
  assert "checkpoints" in open(os.path.join(runs[2].workdir, "train.log")).read()
  with open(os.path.join(runs_dir, "toy", plan.MANIFEST)) as f:
    assert [json.loads(line)["run_name"] for line in f] == [r.run_name for r in runs]


def test_a_run_directory_from_another_config_is_refused_not_reused(tmp_path, capsys):
  # The same sweep file with another --set (another corpus, say) must not take over the
  # finished runs of the first: they would be skipped and tabled as its rows.
  path = _write_sweep(tmp_path, 'sweep.product(("model.units", [8]), sweep.seeds(1))')
  runs_dir = str(tmp_path / "runs")
  (run,) = plan.expand(sweep.with_settings(sweep_files.load(path)[1], {"data.max_len": 9}),
                        "toy", runs_dir)
  config = sweep.build_config(run.config, run.overrides)
  os.makedirs(run.workdir)
  run_files.write_or_check_config(run.workdir, config)
  run_files.write_results(run.workdir, {"test/accuracy": 0.5})
  argv = ["--sweep-dir", runs_dir, "--set", "data.max_len=12"]
  assert launch.main(["run", path, "--dry-run", *argv]) == 2
  assert launch.main(["table", path, "--tables-dir", str(tmp_path / "t"), *argv]) == 2
  err = capsys.readouterr().err
  assert "holds a run with a different config (data.max_len: 9 -> 12)" in err
  assert "own --sweep-dir" in err
  assert launch.main(["run", path, "--dry-run", "--sweep-dir", runs_dir, "--set",
                      "data.max_len=9"]) == 0
  # A key added to the code after the run was made: at its default it is no change, set to
  # something else it is one.
  saved = json.load(open(os.path.join(run.workdir, "config.json")))
  del saved["data.word_dropout"]
  json.dump(saved, open(os.path.join(run.workdir, "config.json"), "w"))
  assert launch.main(["run", path, "--dry-run", "--sweep-dir", runs_dir, "--set",
                      "data.max_len=9"]) == 0
  assert launch.main(["run", path, "--dry-run", "--sweep-dir", runs_dir, "--set",
                      "data.max_len=9", "--set", "data.word_dropout=0.5"]) == 2
  assert "(data.word_dropout: None -> 0.5)" in capsys.readouterr().err
