"""TFDS builder for the Stanford Sentiment Treebank's trees: SST-1 or SST-2, sentences or phrases.

Where (config key data.source_dir): the treebank's zip itself (`trainDevTestTrees_PTB.zip`, any
name ending in .zip), or a folder holding the extracted `trees/train.txt`, `trees/dev.txt` and
`trees/test.txt` or else the zip under its own name; a folder with both reads the extracted
files. In a zip the members are `trees/<split>.txt`, and errors name them as Python's zipimport
does, `<zip>/trees/train.txt:<line>`. dev is our `val` split.

Trees: one per line in PTB brackets, a node being `(<label> <word>)` or `(<label> <node> ...)`
with a sentiment label 0-4 on every node. Brackets and words are separated by spaces (or tabs)
only: a word may hold other whitespace (the treebank writes `2 1\\/2` with a no-break space as
one leaf). Words are stored as written: original case, PTB escapes (`-LRB-`, `\\/`) kept. Blank
lines are skipped; any other line that is not exactly one tree is an error naming file:line.

The prepared copy holds, per split and tree in line order, the words, one (start, end, label)
span over them per node (end exclusive, in pre-order: the root, (0, len), comes first, then
each left subtree before its right one) and file:line. SST-1/SST-2 and phrases/sentences are
chosen when reading it, so all four share one copy.

read_sst_trees makes the examples:
- The text is the lowercased words joined by spaces: exactly the lines of Kim (2014)'s
  `stsa.*` files, so data.lowercase changes nothing here.
- data.sst_classes 5 (SST-1): labels "0".."4". 2 (SST-2): neutral (2) dropped, 0-1 -> "0"
  (negative), 3-4 -> "1" (positive).
- data.sst_phrases True: train is every node of the training trees (sentences included), once
  per distinct text, with the file:line of the tree it was first met in. A text met again keeps
  the label of its first occurrence (trees in line order, nodes in pre-order, so a sentence
  keeps its root label); SST-2 then drops the texts whose kept label is neutral. The rule
  matters: 583 of the 156,817 distinct texts carry two labels (`not` is mostly 1, sometimes 2),
  so SST-2 keeps 76,961 phrases where the last occurrence winning would keep 76,971. False:
  train is the sentences (roots) only, each as often as it occurs, as in Kim's files.
- dev and test are always the sentences (roots) only. Phrases are read from trees/train.txt
  alone: no dev or test tree, whole or in part, is read into training.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds

from bilstm_jax.config import ConfigError
from bilstm_jax.data import builders

ZIP_NAME = "trainDevTestTrees_PTB.zip"
SPLIT_FILES = {"train": "trees/train.txt", "val": "trees/dev.txt", "test": "trees/test.txt"}
EXPECTED = f"{ZIP_NAME}, or a folder holding it or holding trees/train.txt, dev.txt and test.txt"
NODE = "a node is '(<label 0-4> <word>)' or '(<label 0-4> <node> <node> ...)'"
LABELS = ("0", "1", "2", "3", "4")
# A piece of a tree line: a bracket or a word; what lies between pieces is spaces or tabs.
PIECE = re.compile(r"[()]|[^ \t()]+")
CLASSES = {5: {0: "0", 1: "1", 2: "2", 3: "3", 4: "4"},  # SST-1
           2: {0: "0", 1: "0", 3: "1", 4: "1"}}  # SST-2: neutral dropped


class TreeError(ValueError):
  """A line that is not one tree; the message says what was expected where."""


def parse_tree(line: str) -> tuple[list[str], list[tuple[int, int, int]]]:
  """(words, (start, end, label) per node in pre-order) of one bracketed tree."""
  pieces = PIECE.findall(line)
  words, spans = [], []
  open_nodes = []  # indices into spans of the nodes not closed yet

  def found(pos):
    return repr(pieces[pos]) if pos < len(pieces) else "the end of the line"

  pos = 0
  while True:
    # A node starts here: '(' and its label.
    if pos >= len(pieces) or pieces[pos] != "(":
      raise TreeError(f"expected '(' to open a node, found {found(pos)}")
    if pos + 1 >= len(pieces) or pieces[pos + 1] not in LABELS:
      raise TreeError(f"expected a label 0-4 after '(', found {found(pos + 1)}")
    open_nodes.append(len(spans))
    spans.append([len(words), -1, int(pieces[pos + 1])])
    pos += 2
    if pos < len(pieces) and pieces[pos] == "(":
      continue  # its first child
    if pos >= len(pieces) or pieces[pos] == ")":
      raise TreeError(f"expected a word or '(' after the label, found {found(pos)}")
    words.append(pieces[pos])
    pos += 1
    if pos >= len(pieces) or pieces[pos] != ")":
      raise TreeError(f"expected ')' after the word {words[-1]!r}, found {found(pos)}")
    # Close the leaf and every node that ends with it.
    while pos < len(pieces) and pieces[pos] == ")" and open_nodes:
      spans[open_nodes.pop()][1] = len(words)
      pos += 1
    if not open_nodes:
      if pos < len(pieces):
        raise TreeError(f"expected the end of the line after the tree, found {found(pos)}")
      return words, [tuple(span) for span in spans]
    if pos >= len(pieces) or pieces[pos] != "(":
      raise TreeError(f"expected '(' for another child or ')', found {found(pos)}")


def locate_trees(source_dir: str | None) -> tuple[str, str | None, dict[str, str]]:
  """(folder, zip path or None, {our split: file path, or member name in the zip})."""
  if not source_dir:
    raise ConfigError(f"config key data.source_dir is not set; expected {EXPECTED}")
  path = os.path.abspath(os.path.expanduser(source_dir))
  if os.path.isdir(path):
    extracted = {split: os.path.join(path, name) for split, name in SPLIT_FILES.items()}
    if all(os.path.isfile(p) for p in extracted.values()):
      return path, None, extracted
    if not os.path.isfile(os.path.join(path, ZIP_NAME)):
      raise ConfigError(f"config key data.source_dir={source_dir!r}: found neither {ZIP_NAME} "
                        f"nor trees/train.txt, dev.txt and test.txt; expected {EXPECTED}")
    path = os.path.join(path, ZIP_NAME)
  elif not (os.path.isfile(path) and path.endswith(".zip")):
    raise ConfigError(f"config key data.source_dir={source_dir!r} is neither a folder nor a "
                      f".zip file; expected {EXPECTED}")
  try:
    with zipfile.ZipFile(path) as archive:
      members = set(archive.namelist())
  except zipfile.BadZipFile:
    raise ConfigError(f"config key data.source_dir={source_dir!r}: {path} is not a readable "
                      f"zip file; expected {EXPECTED}") from None
  missing = [name for name in SPLIT_FILES.values() if name not in members]
  if missing:
    raise ConfigError(f"config key data.source_dir={source_dir!r}: {path} lacks "
                      f"{', '.join(missing)}; expected the treebank's trees/train.txt, "
                      "dev.txt and test.txt")
  return os.path.dirname(path), path, dict(SPLIT_FILES)


def read_trees(zip_path: str | None, name: str) -> Iterator[tuple[str, list[str], list]]:
  """(file:line, words, spans) per tree of a file, or of a zip member when zip_path is set."""
  if zip_path is None:
    display, lines = name, builders.read_lines(name)
  else:
    display, lines = os.path.join(zip_path, name), _zip_lines(zip_path, name)
  for lineno, line in lines:
    if not line.strip():
      continue
    try:
      words, spans = parse_tree(line)
    except TreeError as err:
      raise ConfigError(f"{display}:{lineno}: not a tree: {err} ({NODE})") from None
    yield f"{display}:{lineno}", words, spans


def _zip_lines(zip_path: str, member: str) -> Iterator[tuple[int, str]]:
  """builders.read_lines for a zip member: each line UTF-8, or latin-1 where it is not."""
  with zipfile.ZipFile(zip_path) as archive, archive.open(member) as member_file:
    yield from builders.decode_lines(member_file)


class SstTrees(builders.LocalSource, tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """One prepared copy per source file state: the config name is its fingerprint."""

  name = "sst_trees"
  # 1.1.0: array_record files, read without TensorFlow (data/prepared.py)
  VERSION = tfds.core.Version("1.1.0")

  def __init__(self, *, zip_path: str | None, files: dict[str, str], key: str, **kwargs):
    self._zip_path = zip_path
    self._files = files  # our split -> path, or member name in the zip
    config = tfds.core.BuilderConfig(name=key, description=f"sst_trees: {zip_path or files}")
    super().__init__(config=config, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
        "idx": np.int64,
        "where": tfds.features.Text(),
        "tokens": tfds.features.Sequence(tfds.features.Text()),
        "phrases": tfds.features.Sequence({"start": np.int32, "end": np.int32,
                                           "label": np.int32}),
    }))

  def _split_generators(self, dl_manager):
    del dl_manager  # everything is local
    return {builders.TFDS_SPLITS[split]: self._generate_examples(name)
            for split, name in self._files.items()}

  def _generate_examples(self, name):
    for idx, (where, words, spans) in enumerate(read_trees(self._zip_path, name)):
      starts, ends, labels = zip(*spans)
      yield idx, {"idx": idx, "where": where, "tokens": words,
                  "phrases": {"start": list(starts), "end": list(ends), "label": list(labels)}}


def read_sst_trees(source_dir: str | None, data_dir: str, classes: int,
                   phrases: bool) -> dict[str, list[builders.Example]]:
  """{'train', 'val', 'test'} -> (lowercased text, label, file:line) under the rules above."""
  if classes not in CLASSES:
    raise ConfigError(f"config key data.sst_classes={classes!r}: allowed: 2 (SST-2: negative "
                      "0-1 vs positive 3-4, neutral dropped), 5 (SST-1: labels 0-4)")
  label_of = CLASSES[classes]
  folder, zip_path, files = locate_trees(source_dir)
  on_disk = [zip_path] if zip_path else list(files.values())
  key = builders.fingerprint(folder, on_disk, format="sst_trees")
  builder = builders.prepare(SstTrees(zip_path=zip_path, files=files, key=key,
                                      data_dir=data_dir))
  splits = {}
  for split in files:
    rows = []  # (text, label 0-4, file:line)
    for ex in builders.read_split(builder, builders.TFDS_SPLITS[split]):
      words = [builders.decode(token).lower() for token in ex["tokens"]]
      where = builders.decode(ex["where"])
      nodes = ex["phrases"]
      if split == "train" and phrases:
        rows += [(" ".join(words[start:end]), int(label), where) for start, end, label
                 in zip(nodes["start"], nodes["end"], nodes["label"], strict=True)]
      else:
        rows.append((" ".join(words), int(nodes["label"][0]), where))  # pre-order: root first
    if split == "train" and phrases:
      rows = first_of_each(rows)
    splits[split] = [builders.Example(text, label_of[label], where)
                     for text, label, where in rows if label in label_of]
  return splits


def first_of_each(rows: list[tuple]) -> list[tuple]:
  """The first row of each distinct text (row[0]), in the order the texts first occur."""
  first = {}
  for row in rows:
    first.setdefault(row[0], row)
  return list(first.values())
