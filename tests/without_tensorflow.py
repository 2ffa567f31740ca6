"""Runs a project command line as if TensorFlow were not installed, or reports if it loaded.

  python tests/without_tensorflow.py --block bilstm-train --config ... --workdir ...
  python tests/without_tensorflow.py --watch bilstm-train ...

--block: `import tensorflow` fails and importlib's find_spec says there is none, as on a
machine without it (TFDS and etils ask find_spec before they import). --watch: nothing is
blocked. Either way the last line printed is `tensorflow loaded: True|False`.
"""

import importlib.util
import sys

COMMANDS = {"bilstm-train": "bilstm_jax.training.cli",
            "bilstm-prepare": "bilstm_jax.data.prepare_cli"}


def _is_tensorflow(name: str) -> bool:
  return name == "tensorflow" or name.startswith("tensorflow.")


class _NoTensorFlow:
  """A meta-path finder that fails every tensorflow import."""

  def find_spec(self, name, path=None, target=None):
    del path, target
    if _is_tensorflow(name):
      raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def block_tensorflow() -> None:
  real_find_spec = importlib.util.find_spec

  def find_spec(name, package=None):
    return None if _is_tensorflow(name) else real_find_spec(name, package)

  importlib.util.find_spec = find_spec
  sys.meta_path.insert(0, _NoTensorFlow())


def main() -> None:
  mode, command, *args = sys.argv[1:]
  if mode == "--block":
    block_tensorflow()
  elif mode != "--watch":
    sys.exit(f"usage: {sys.argv[0]} --block|--watch {'|'.join(COMMANDS)} ARGS...")
  sys.argv = [command, *args]
  try:
    importlib.import_module(COMMANDS[command]).run()
  finally:
    print(f"tensorflow loaded: {'tensorflow' in sys.modules}", flush=True)


if __name__ == "__main__":
  main()
