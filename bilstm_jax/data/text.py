"""Text tasks: a local folder or a TFDS catalog dataset -> encoded ArrayDatasets and model info.

Splits the data does not have are cut with a fixed seed (SPLIT_SEED), never the run's seed, so
every run and every fold sees the same examples:
- no validation split (TREC, imdb_reviews, GLUE after its test swap): data.val_fraction of train,
  drawn at random, becomes val.
- polarity pairs (no split at all): a fixed permutation of all lines is dealt into
  data.num_folds folds; fold data.fold is test, and data.val_fraction of the rest is val. The
  test folds of fold=0..num_folds-1 cover every line exactly once.
Either way a warning at load time says how many examples were carved, and from what.
"""

from __future__ import annotations

import os
import re

import numpy as np
from absl import logging

from bilstm_jax.config import ConfigError
from bilstm_jax.data import (
  builders,
  catalog,
  chars,
  subsets,
  token_features,
  vocab,
  word_dropout,
)
from bilstm_jax.data.batching import ArrayDataset
from bilstm_jax.data.builders import Example, conll, conllu, sentences, sst_trees

FORMAT_TASKS = {"conllu": "tagging", "conll": "tagging", "label_sentence": "classification",
                "trec": "classification", "polarity": "classification",
                "sst_trees": "classification"}
UNSEEN_LABEL = ("error", "oov")
SPLIT_SEED = 0
DEFAULT_CACHE_DIR = "~/.cache/bilstm_jax"
BIO_TAG = re.compile(r"O|[BI]-.+")
FEATURE_FORMATS = ("conll", "conllu")  # local formats with token feature columns


def tfds_data_dir(data_cfg) -> str:
  """Where local folders are prepared: <data.cache_dir or ~/.cache/bilstm_jax>/tfds."""
  return os.path.join(os.path.expanduser(data_cfg.cache_dir or DEFAULT_CACHE_DIR), "tfds")


def _check_file_keys(data_cfg, fmt: str) -> None:
  """The explicit file keys and data.feature_columns fit the format (one error each)."""
  if fmt == "sst_trees" and (data_cfg.train_files or data_cfg.val_files or data_cfg.test_files
                             or data_cfg.class_files):
    raise ConfigError("config keys data.train_files/val_files/test_files and data.class_files "
                      "name files; data.format=sst_trees reads the treebank's trees/train.txt, "
                      "dev.txt and test.txt from data.source_dir (the zip or its folder): set "
                      "them to ''")
  if fmt == "polarity" and (data_cfg.train_files or data_cfg.val_files or data_cfg.test_files):
    raise ConfigError("config keys data.train_files/val_files/test_files name split files; "
                      "data.format=polarity reads one file per class: set data.class_files")
  if fmt != "polarity" and data_cfg.class_files:
    raise ConfigError(f"config key data.class_files is for data.format=polarity; for "
                      f"data.format={fmt} use data.train_files/val_files/test_files")
  if fmt not in FEATURE_FORMATS and data_cfg.feature_columns:
    raise ConfigError(f"config key data.feature_columns={data_cfg.feature_columns!r} is for "
                      f"token-tagging files (data.format: {', '.join(FEATURE_FORMATS)}), not "
                      f"data.format={fmt}; set it to ''")


def read_examples(data_cfg) -> tuple[dict[str, list[Example]], str]:
  """Raw examples by split (as the data has them) and the task they make."""
  file_keys = {"train": data_cfg.train_files, "val": data_cfg.val_files,
               "test": data_cfg.test_files}
  named_files = any(file_keys.values()) or bool(data_cfg.class_files)
  if data_cfg.source_dir is None and not named_files:
    splits, tagging = catalog.read_catalog(data_cfg)
    return splits, "tagging" if tagging else "classification"
  fmt = data_cfg.format
  if fmt not in FORMAT_TASKS:
    raise ConfigError(f"config key data.format={fmt!r}: allowed for text with data.source_dir "
                      f"or data.*_files: {', '.join(FORMAT_TASKS)}")
  _check_file_keys(data_cfg, fmt)
  data_dir = tfds_data_dir(data_cfg)
  if fmt == "sst_trees":
    splits = sst_trees.read_sst_trees(data_cfg.source_dir, data_dir, data_cfg.sst_classes,
                                      data_cfg.sst_phrases)
  elif fmt in FEATURE_FORMATS:
    read = conllu.read_conllu_folder if fmt == "conllu" else conll.read_conll_folder
    splits = read(data_cfg.source_dir, data_cfg.label_column, data_dir,
                  feature_columns=data_cfg.feature_columns, file_keys=file_keys)
  else:
    splits = sentences.read_sentence_folder(data_cfg.source_dir, fmt, data_cfg.label_field,
                                            data_dir, file_keys=file_keys,
                                            class_files=data_cfg.class_files)
  return splits, FORMAT_TASKS[fmt]


def carve(examples: list, fraction: float, *seed) -> tuple[list, list]:
  """(rest, carved): a random `fraction` of the examples, both kept in their original order."""
  if not 0.0 < fraction < 1.0:
    raise ConfigError(f"config key data.val_fraction={fraction} must be in (0, 1)")
  n = len(examples)
  num_carved = max(1, round(fraction * n))
  if not 0 < num_carved < n:
    raise ConfigError(f"config key data.val_fraction={fraction} of {n} examples leaves an "
                      "empty split")
  carved = np.zeros(n, bool)
  carved[np.random.default_rng([SPLIT_SEED, *seed]).permutation(n)[:num_carved]] = True
  return ([ex for ex, c in zip(examples, carved, strict=True) if not c],
          [ex for ex, c in zip(examples, carved, strict=True) if c])


def fold_split(examples: list, num_folds: int, fold: int, val_fraction: float) -> dict:
  """train/val/test for cross-validation fold `fold` (see the module docstring)."""
  if not 2 <= num_folds <= len(examples) or not 0 <= fold < num_folds:
    raise ConfigError(f"config keys data.num_folds={num_folds}, data.fold={fold}: need "
                      f"2 <= num_folds <= {len(examples)} examples and 0 <= fold < num_folds")
  fold_of = np.empty(len(examples), np.int64)
  fold_of[np.random.default_rng(SPLIT_SEED).permutation(len(examples))] = (
      np.arange(len(examples)) % num_folds)
  rest = [ex for ex, f in zip(examples, fold_of, strict=True) if f != fold]
  train, val = carve(rest, val_fraction, fold)
  test = [ex for ex, f in zip(examples, fold_of, strict=True) if f == fold]
  return {"train": train, "val": val, "test": test}


def _source(data_cfg) -> str:
  """The data as the config names it, for the log."""
  if data_cfg.source_dir is None and not (data_cfg.train_files or data_cfg.class_files):
    return f"TFDS dataset {data_cfg.tfds_name!r}"
  return data_cfg.source_dir or data_cfg.train_files or data_cfg.class_files


def make_splits(raw: dict[str, list[Example]], data_cfg) -> dict[str, list[Example]]:
  if sentences.POLARITY_SPLIT in raw:
    splits = fold_split(raw[sentences.POLARITY_SPLIT], data_cfg.num_folds, data_cfg.fold,
                        data_cfg.val_fraction)
    # Said at load: a score on a carved dev set is not one on a dataset's own dev split.
    logging.warning("data: %s has no splits; fold %d of %d (%d examples) is test and %d of the "
                    "other %d examples are carved from them as validation "
                    "(data.val_fraction=%g)", _source(data_cfg), data_cfg.fold,
                    data_cfg.num_folds, len(splits["test"]), len(splits["val"]),
                    len(splits["train"]) + len(splits["val"]), data_cfg.val_fraction)
    return splits
  if "val" in raw:
    return {"train": raw["train"], "val": raw["val"], "test": raw["test"]}
  train, val = carve(raw["train"], data_cfg.val_fraction)
  logging.warning("data: %s has no validation split to use; carved %d of the %d examples of "
                  "the train split as validation (data.val_fraction=%g)", _source(data_cfg),
                  len(val), len(raw["train"]), data_cfg.val_fraction)
  return {"train": train, "val": val, "test": raw["test"]}


def _tokens(split: str, examples: list[Example], task: str, lowercase: bool) -> list[list[str]]:
  """Tokens per example; tagging examples must have one tag per token."""
  token_lists = []
  for ex in examples:
    if isinstance(ex.input, str):
      tokens = vocab.tokenize(ex.input, lowercase)
    else:
      tokens = [t.lower() for t in ex.input] if lowercase else list(ex.input)
    if not tokens:
      raise ConfigError(f"{ex.where}: an example of the {split!r} split has no tokens")
    if task == "tagging" and len(ex.label) != len(tokens):
      raise ConfigError(f"{ex.where}: {len(tokens)} tokens but {len(ex.label)} tags")
    token_lists.append(tokens)
  return token_lists


def load_text_task(data_cfg, workdir: str | None) -> tuple[dict[str, ArrayDataset], dict]:
  """Splits 'train', 'val', 'test' -> ArrayDataset, and what the model needs to know.

  The token and label vocabularies (and the character and feature ones) come from the training
  split only and are saved as vocab.json / labels.json (chars.json, features.json) in `workdir`
  (when given), then reused from there.
  """
  raw, task = read_examples(data_cfg)
  if data_cfg.task != task:
    raise ConfigError(f"config key data.task={data_cfg.task!r}, but this data is a {task} task")
  if data_cfg.unseen_label not in UNSEEN_LABEL:
    raise ConfigError(f"config key data.unseen_label={data_cfg.unseen_label!r}; allowed: "
                      + ", ".join(UNSEEN_LABEL))
  word_dropout.check_word_dropout(data_cfg.word_dropout, data_cfg.word_dropout_alpha)
  examples = make_splits(raw, data_cfg)
  examples["train"] = subsets.take(
      examples["train"], subsets.train_indices(len(examples["train"]), data_cfg.train_fraction))
  tokens = {split: _tokens(split, exs, task, data_cfg.lowercase)
            for split, exs in examples.items()}

  token_names = vocab.load_or_build(
      workdir, vocab.VOCAB_FILE,
      {"lowercase": data_cfg.lowercase, "min_count": data_cfg.min_count,
       "max_vocab": data_cfg.max_vocab},
      lambda: vocab.build_vocab(tokens["train"], data_cfg.min_count, data_cfg.max_vocab))
  train_labels = [ex.label for ex in examples["train"]]
  if task == "tagging":
    train_labels = [tag for tags in train_labels for tag in tags]
  label_names = vocab.load_or_build(
      workdir, vocab.LABELS_FILE, {"unseen_label": data_cfg.unseen_label},
      lambda: vocab.build_labels(train_labels, data_cfg.unseen_label == "oov"))

  max_chars = chars.check_max_word_chars(data_cfg.max_word_chars)
  char_names, spelled = [], tokens
  if max_chars:
    # The characters' own casing: as the words', or as written (data.chars_keep_case).
    chars_lowercase = data_cfg.lowercase and not data_cfg.chars_keep_case
    if chars_lowercase != data_cfg.lowercase:
      spelled = {split: _tokens(split, exs, task, lowercase=False)
                 for split, exs in examples.items()}
    char_names = vocab.load_or_build(workdir, chars.CHARS_FILE, {"lowercase": chars_lowercase},
                                     lambda: chars.build_char_vocab(spelled["train"]))
  char_index = {ch: i for i, ch in enumerate(char_names)}

  num_features = len(builders.feature_names(data_cfg.feature_columns))
  feature_vocabs = []
  if num_features:
    for split, exs in examples.items():
      token_features.check_aligned(split, exs, num_features)
    feature_vocabs = vocab.load_or_build(
        workdir, token_features.FEATURES_FILE, {"feature_columns": data_cfg.feature_columns},
        lambda: token_features.build_feature_vocabs(examples["train"], num_features))
  feature_indexes = [{value: i for i, value in enumerate(names)} for names in feature_vocabs]

  token_index = {t: i for i, t in enumerate(token_names)}
  label_index = {label: i for i, label in enumerate(label_names)}
  splits = {}
  for split, exs in examples.items():
    inputs = [vocab.encode_tokens(t, token_index, data_cfg.max_tokens) for t in tokens[split]]
    if max_chars:
      inputs = [chars.with_chars(ids, t, char_index, max_chars)
                for ids, t in zip(inputs, spelled[split], strict=True)]
    if num_features:
      inputs = [token_features.with_features(
          x, token_features.encode_features(ex, feature_indexes, len(x)))
          for x, ex in zip(inputs, exs, strict=True)]
    if task == "tagging":
      labels = [np.array(vocab.label_ids(ex.label, label_index, split, ex.where)[:len(x)],
                         np.int32) for ex, x in zip(exs, inputs, strict=True)]
    else:
      labels = np.array([vocab.label_ids([ex.label], label_index, split, ex.where)[0]
                         for ex in exs], np.int32)
    splits[split] = ArrayDataset(inputs, labels)

  real_labels = [name for name in label_names if name != vocab.OOV_LABEL]
  bio = task == "tagging" and all(BIO_TAG.fullmatch(name) for name in real_labels)
  info = {"task": task, "vocab_size": len(token_names), "feature_dim": None,
          "num_classes": len(label_names), "label_names": list(label_names),
          "scheme": "bio" if bio else None, "pad_id": vocab.PAD_ID, "oov_id": vocab.OOV_ID,
          "char_vocab_size": len(char_names) or None, "token_names": list(token_names),
          "feature_vocab_sizes": [len(names) for names in feature_vocabs] or None,
          "token_counts": _token_counts(splits["train"].inputs, len(token_names))}
  return splits, info


def _token_counts(train_inputs, vocab_size: int) -> np.ndarray:
  """How often each token id occurs in the training split (for frequency-aware word dropout)."""
  ids = np.concatenate([np.asarray(x)[..., 0] if np.ndim(x) == 2 else np.asarray(x)
                        for x in train_inputs])
  return np.bincount(ids, minlength=vocab_size)
