"""Where the checkout's config and sweep files are, for tests that load them by path."""

import os

from bilstm_jax.config import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs")
EXPERIMENTS = os.path.join(ROOT, "experiments")
# configs/common.py, the helpers every task config builds on (loaded as the configs load it).
CONFIGS_COMMON = load_file(os.path.join(CONFIGS, "common.py"))
