"""Flax modules over the pure core: encoder.py, heads.py, and build.py (reads config.model)."""

from bilstm_jax.models.build import build_model, check_model_config, num_cores
from bilstm_jax.models.encoder import BiLSTM, CharWordEncoder, Encoder
from bilstm_jax.models.heads import POOLINGS, AttentionPool, Classifier, Tagger, pool

__all__ = ["POOLINGS", "AttentionPool", "BiLSTM", "CharWordEncoder", "Classifier", "Encoder",
           "Tagger", "build_model", "check_model_config", "num_cores", "pool"]
