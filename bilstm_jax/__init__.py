"""bilstm_jax: a fast scanned bidirectional LSTM in JAX, with Flax models, a trainer and sweeps."""

from bilstm_jax.lstm import MERGE_MODES, bilstm, init_params, merged_size

__all__ = ["MERGE_MODES", "bilstm", "init_params", "merged_size"]
__version__ = "0.1.0"
