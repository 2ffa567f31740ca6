"""Thin entry for `bilstm-bench` (code in bilstm_jax/benchmark.py): experiments/bench.py --help."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bilstm_jax.benchmark import run  # noqa: E402

if __name__ == "__main__":
  run()
