"""Sentence-pair datasets: NLI pairs with a three-way label, STS pairs with a similarity score.

Reading order: dataset specs -> reading files into `SentencePairs` -> token ids cached on disk as
`EncodedPairs` -> batches of tensors for training (shuffled, a pure function of seed and epoch) and for
evaluation (every row once, with its row index so predictions can be put back in file order).

A spec names one split of a known dataset (`snli:dev`, `sick:train`, ...) or a local `.jsonl`/`.tsv`/`.csv`
file; several specs joined by commas are read one after another and concatenated.
"""
import csv
import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from atomic import atomic_path
from data import LABELS, PAD_ID, encode_sentence
from download import dataset_file

# How a label may be written in a file, lowercased: its name or its id.
LABEL_IDS = {**{name: i for i, name in enumerate(LABELS)}, **{str(i): i for i in range(len(LABELS))}}
TASKS = ("nli", "sts")

# dataset -> split -> its file inside the data directory, where the official archive unpacks it
NAMED_SPLITS = {
    "snli": {split: f"snli_1.0/snli_1.0_{split}.jsonl" for split in ("train", "dev", "test")},
    "mnli": {split: f"multinli_1.0/multinli_1.0_{split}.jsonl"
             for split in ("train", "dev_matched", "dev_mismatched")},
    "sick": {split: "SICK/SICK.txt" for split in ("train", "trial", "test")},  # one file, a column per row
    "stsb": {split: f"stsbenchmark/sts-{split}.csv" for split in ("train", "dev", "test")},
}
TASKS_OF_DATASET = {"snli": ("nli",), "mnli": ("nli",), "sick": ("nli", "sts"), "stsb": ("sts",)}
LOCAL_SUFFIXES = (".jsonl", ".tsv", ".csv")
VALID_SPECS = (", ".join(f"{name}:{'|'.join(splits)}" for name, splits in NAMED_SPLITS.items())
               + ", or a path to a local .jsonl/.tsv/.csv file")

# Column (or JSON field) names accepted in local files, first match wins.
FIRST_NAMES = ("premise", "sentence1")
SECOND_NAMES = ("hypothesis", "sentence2")
LABEL_NAMES = ("label", "gold_label")
SCORE_NAMES = ("score", "similarity")


@dataclass
class SentencePairs:
    """Pairs as text. Exactly one of `labels` (int64 label ids, NLI) and `scores` (float, STS) is set."""
    name: str
    first: list = field(repr=False)
    second: list = field(repr=False)
    labels: np.ndarray | None = field(default=None, repr=False)
    scores: np.ndarray | None = field(default=None, repr=False)

    def __len__(self):
        return len(self.first)

    def subset(self, indices):
        return SentencePairs(self.name, [self.first[i] for i in indices], [self.second[i] for i in indices],
                             _take(self.labels, indices), _take(self.scores, indices))


def _take(array, indices):
    return None if array is None else array[np.asarray(indices, dtype=np.int64)]


def _targets(task, values):
    """Keyword arguments that put `values` where a task keeps them: NLI labels or STS scores."""
    return {"labels": values} if task == "nli" else {"scores": values}


def _target_values(pairs):
    return pairs.labels if pairs.labels is not None else pairs.scores


# --- Specs --------------------------------------------------------------------------------------------------

class RawPair(NamedTuple):
    """One row as a reader found it. `label`/`score` are None when the file has no such column."""
    line: int
    first: str | None
    second: str | None
    label: str | None
    score: str | None


class Source(NamedTuple):
    spec: str      # one spec as the user wrote it, e.g. "sick:trial"
    path: Path
    read: object   # the reader: path -> RawPair rows


def resolve_specs(specs, data_dir, task):
    """'snli:dev,sick:train' -> one Source per spec, downloading official archives that are missing."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    sources = [_resolve(spec.strip(), data_dir, task) for spec in specs.split(",") if spec.strip()]
    if not sources:
        raise ValueError(f"no dataset spec given; valid specs: {VALID_SPECS}")
    return sources


def _resolve(spec, data_dir, task):
    name, _, split = spec.partition(":")
    if name in NAMED_SPLITS:
        if split not in NAMED_SPLITS[name]:
            raise ValueError(f"unknown split in {spec!r}; valid specs: {VALID_SPECS}")
        if task not in TASKS_OF_DATASET[name]:
            raise ValueError(f"{spec} has no {'NLI labels' if task == 'nli' else 'similarity scores'}; "
                             f"{task} specs: {', '.join(n for n, t in TASKS_OF_DATASET.items() if task in t)}")
        read = {"sick": partial(read_sick, semeval_set=split.upper()), "stsb": read_stsb}.get(name, read_jsonl)
        return Source(spec, dataset_file(name, NAMED_SPLITS[name][split], data_dir), read)
    path = Path(spec)
    if path.suffix not in LOCAL_SUFFIXES:
        raise ValueError(f"unknown dataset spec {spec!r}; valid specs: {VALID_SPECS}")
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {spec!r} does not exist")
    read = {".jsonl": read_jsonl, ".tsv": partial(read_table, delimiter="\t"),
            ".csv": partial(read_table, delimiter=",")}[path.suffix]
    return Source(spec, path, read)


# --- Readers: each yields RawPair rows and raises on a line it cannot make sense of -------------------------

# Files are opened as "utf-8-sig": the same as UTF-8, but a byte-order mark (Excel writes one) is dropped.

def _format_error(path, line, expected):
    return ValueError(f"{path}, line {line}: {expected}")


def read_jsonl(path):
    """One JSON object per line (SNLI, MultiNLI, local files); blank lines are allowed."""
    with open(path, encoding="utf-8-sig") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise _format_error(path, line_number, f"expected a JSON object ({error.msg})") from None
            if not isinstance(record, dict):
                raise _format_error(path, line_number, "expected a JSON object")
            for names in (FIRST_NAMES, SECOND_NAMES):
                if not any(name in record for name in names):
                    raise _format_error(path, line_number, f"expected a field named {' or '.join(names)}")
            # JSON labels may be numbers (0, 1, 2): every label and score is compared as text.
            first, second, label, score = (next((record[n] for n in names if n in record), None)
                                           for names in (FIRST_NAMES, SECOND_NAMES, LABEL_NAMES, SCORE_NAMES))
            yield RawPair(line_number, first, second, None if label is None else str(label),
                          None if score is None else str(score))


def _table_rows(path, delimiter="\t"):
    """(line number, fields) of every non-blank line. A .csv follows the usual quoting rules (a sentence with a
    comma in it is quoted); tab-separated files are split as they are: NLI sentences are full of quotes."""
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    with open(path, encoding="utf-8-sig", newline="") as file:
        rows = csv.reader(file, delimiter=delimiter, quoting=quoting, strict=True)
        try:
            for fields in rows:
                if fields:
                    yield rows.line_num, fields
        except csv.Error as error:
            raise _format_error(path, rows.line_num, f"expected {delimiter!r}-separated fields ({error})") \
                from None


def _check_columns(path, line_number, fields, needed):
    if len(fields) < needed:
        raise _format_error(path, line_number, f"expected {needed} columns, got {len(fields)}")


def read_table(path, delimiter):
    """A local .tsv/.csv file whose header names its columns."""
    rows = _table_rows(path, delimiter)
    header = [name.strip().lower() for name in next(rows, (1, []))[1]]
    columns = [next((header.index(n) for n in names if n in header), None)
               for names in (FIRST_NAMES, SECOND_NAMES, LABEL_NAMES, SCORE_NAMES)]
    if columns[0] is None or columns[1] is None:
        raise _format_error(path, 1, f"expected a header naming the columns {'/'.join(FIRST_NAMES)} "
                                     f"and {'/'.join(SECOND_NAMES)}, got {header}")
    for line_number, fields in rows:
        _check_columns(path, line_number, fields, max(c for c in columns if c is not None) + 1)
        yield RawPair(line_number, *(None if c is None else fields[c] for c in columns))


def read_sick(path, semeval_set):
    """SICK.txt: tab separated with a header; every split lives in the one file, told apart by SemEval_set."""
    wanted = ("sentence_A", "sentence_B", "entailment_label", "relatedness_score", "SemEval_set")
    rows = _table_rows(path)
    header = next(rows, (1, []))[1]
    if not set(wanted) <= set(header):
        raise _format_error(path, 1, f"expected a header with the columns {', '.join(wanted)}")
    first, second, label, score, split = (header.index(name) for name in wanted)
    for line_number, fields in rows:
        _check_columns(path, line_number, fields, len(header))
        if fields[split] == semeval_set:
            yield RawPair(line_number, fields[first], fields[second], fields[label], fields[score])


def read_stsb(path):
    """STS Benchmark: genre, file, year, id, score, sentence1, sentence2, and on some lines the source of
    each sentence in two more fields, which are ignored. No header."""
    for line_number, fields in _table_rows(path):
        _check_columns(path, line_number, fields, 7)
        yield RawPair(line_number, fields[5], fields[6], None, fields[4])


# --- Loading: rows -> SentencePairs, skipping unusable rows -------------------------------------------------

def load_pairs(specs, data_dir, task="nli", log=print):
    """Read the pairs of every comma-separated spec, in order; one summary line per file goes to `log`."""
    parts = [_read_source(source, task, log) for source in resolve_specs(specs, data_dir, task)]
    return SentencePairs(specs, [s for p in parts for s in p.first], [s for p in parts for s in p.second],
                         **_targets(task, np.concatenate([_target_values(p) for p in parts])))


def _read_source(source, task, log):
    first, second, targets, skipped = [], [], [], Counter()
    for row in source.read(source.path):
        target, reason = _target(row, task, source.path)
        if reason is None and not all(isinstance(s, str) and s.strip() for s in (row.first, row.second)):
            reason = "empty text"
        if reason is not None:
            skipped[reason] += 1
            continue
        first.append(row.first)
        second.append(row.second)
        targets.append(target)
    reasons = ", ".join(f"{reason}: {count:,}" for reason, count in skipped.most_common())
    log(f"{source.spec}: kept {len(first):,} pairs, skipped {sum(skipped.values()):,}"
        + (f" ({reasons})" if reasons else ""))
    if not first:
        raise ValueError(f"{source.spec}: no usable {task} pairs in {source.path}")
    dtype = np.int64 if task == "nli" else np.float32
    return SentencePairs(source.spec, first, second, **_targets(task, np.array(targets, dtype=dtype)))


def _target(row, task, path):
    """(label id or score, None), or (None, why the row is skipped). A file without the column is an error;
    an unknown label is not: '-' marks the SNLI/MultiNLI pairs whose annotators did not agree."""
    if task == "nli":
        if row.label is None:
            raise _format_error(path, row.line, f"expected an NLI label ({' or '.join(LABEL_NAMES)})")
        label_id = LABEL_IDS.get(row.label.strip().lower())
        return (label_id, None) if label_id is not None else (None, f"label {row.label!r}")
    try:
        score = float(row.score)
    except (TypeError, ValueError):
        score = math.nan
    if not math.isfinite(score):
        raise _format_error(path, row.line, f"expected a similarity score ({' or '.join(SCORE_NAMES)}) "
                                            f"as a number, got {row.score!r}")
    return score, None


def split_pairs(pairs, fraction, seed):
    """Hold out a random `fraction` of the premises, with every pair built on them, as (train, validation).
    SNLI and MultiNLI write three hypotheses for each premise: splitting rows instead would put the same
    premise on both sides and flatter the validation accuracy. The same seed gives the same split; each part
    keeps the original row order."""
    if not 0 < fraction < 1:
        raise ValueError(f"the validation fraction must be between 0 and 1, got {fraction}")
    group_of_row = _premise_groups(pairs)
    groups = int(group_of_row.max(initial=-1)) + 1
    if groups < 2:
        raise ValueError(f"{pairs.name}: pairs on {groups} distinct premise(s) cannot be split into "
                         "training and validation")
    held_out = min(max(1, round(groups * fraction)), groups - 1)
    is_held_out = np.zeros(groups, dtype=bool)
    is_held_out[np.random.default_rng(seed).permutation(groups)[:held_out]] = True
    rows = is_held_out[group_of_row]
    return pairs.subset(np.flatnonzero(~rows)), pairs.subset(np.flatnonzero(rows))


def _premise_groups(pairs):
    """A number per row, the same for rows with the same premise (text, or token ids once encoded)."""
    if isinstance(pairs.first, RaggedIds):
        offsets, flat = pairs.first.offsets, pairs.first.flat
        keys = [flat[offsets[i]:offsets[i + 1]].tobytes() for i in range(len(pairs))]
    else:
        keys = pairs.first
    numbers = {}
    return np.array([numbers.setdefault(key, len(numbers)) for key in keys], dtype=np.int64)


# --- Token ids, cached ----------------------------------------------------------------------------------------

@dataclass
class RaggedIds:
    """Many id sequences of different lengths stored back to back, which is far smaller than a padded
    matrix: sequence i is `flat[offsets[i]:offsets[i + 1]]`."""
    flat: np.ndarray       # (total ids,) int32
    offsets: np.ndarray    # (sequences + 1,) int64, starting at 0

    @classmethod
    def from_lists(cls, sequences):
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        flat = np.fromiter((i for s in sequences for i in s), dtype=np.int32, count=int(lengths.sum()))
        return cls(flat, _offsets(lengths))

    @classmethod
    def concatenate(cls, parts):
        lengths = np.concatenate([part.lengths() for part in parts])
        return cls(np.concatenate([part.flat for part in parts]), _offsets(lengths))

    def __len__(self):
        return len(self.offsets) - 1

    def lengths(self):
        return np.diff(self.offsets)

    def take(self, indices):
        """The sequences at `indices`, in that order, as a new RaggedIds."""
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths()[indices]
        offsets = _offsets(lengths)
        # For each output position: where its sequence starts in `flat`, plus how far into the sequence it is.
        positions = np.repeat(self.offsets[indices] - offsets[:-1], lengths) + np.arange(offsets[-1])
        return RaggedIds(self.flat[positions], offsets)

    def padded(self, indices):
        """(len(indices), longest of them) long tensor, [PAD] after each sequence."""
        chosen = self.take(indices)
        lengths = chosen.lengths()
        ids = np.full((len(chosen), lengths.max(initial=0)), PAD_ID, dtype=np.int64)
        ids[np.arange(ids.shape[1]) < lengths[:, None]] = chosen.flat  # row-major fill matches `flat`
        return torch.from_numpy(ids)


def _offsets(lengths):
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])


@dataclass
class EncodedPairs:
    """`SentencePairs` after tokenization: `[CLS] words [SEP]` ids for each side."""
    name: str
    first: RaggedIds = field(repr=False)
    second: RaggedIds = field(repr=False)
    labels: np.ndarray | None = field(default=None, repr=False)
    scores: np.ndarray | None = field(default=None, repr=False)

    def __len__(self):
        return len(self.first)

    def subset(self, indices):
        return EncodedPairs(self.name, self.first.take(indices), self.second.take(indices),
                            _take(self.labels, indices), _take(self.scores, indices))


def encode_pairs(pairs, vocab, max_len):
    # SNLI repeats each premise for three hypotheses: tokenize every distinct sentence once.
    ids_of = {s: encode_sentence(vocab, s, max_len) for s in dict.fromkeys(pairs.first + pairs.second)}
    return EncodedPairs(pairs.name, RaggedIds.from_lists([ids_of[s] for s in pairs.first]),
                        RaggedIds.from_lists([ids_of[s] for s in pairs.second]), pairs.labels, pairs.scores)


def load_encoded_pairs(specs, vocab, max_len, data_dir, task="nli", cache_dir=".cache", log=print):
    """Token ids of every comma-separated spec, concatenated. Each spec is tokenized once and cached under
    `cache_dir`; the cache is used again while the file, the vocabulary and `max_len` stay the same."""
    parts = [_encoded_source(source, vocab, max_len, task, Path(cache_dir), log)
             for source in resolve_specs(specs, data_dir, task)]
    return EncodedPairs(specs, RaggedIds.concatenate([p.first for p in parts]),
                        RaggedIds.concatenate([p.second for p in parts]),
                        **_targets(task, np.concatenate([_target_values(p) for p in parts])))


def _encoded_source(source, vocab, max_len, task, cache_dir, log):
    path = cache_dir / "pairs" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', source.spec)[-60:]}-" \
                                 f"{_cache_key(source, vocab, max_len, task)}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as arrays:
            pairs = EncodedPairs(source.spec, RaggedIds(arrays["first_ids"], arrays["first_offsets"]),
                                 RaggedIds(arrays["second_ids"], arrays["second_offsets"]),
                                 **_targets(task, arrays["targets"]))
        log(f"{source.spec}: {len(pairs):,} tokenized pairs from {path}")
        return pairs
    pairs = encode_pairs(_read_source(source, task, log), vocab, max_len)
    with atomic_path(path) as temporary, open(temporary, "wb") as file:  # a file object: savez adds no ".npz"
        np.savez(file, first_ids=pairs.first.flat, first_offsets=pairs.first.offsets,
                 second_ids=pairs.second.flat, second_offsets=pairs.second.offsets, targets=_target_values(pairs))
    return pairs


CACHE_VERSION = 1  # bump when reading or encoding changes, so that old cache files are not used


def _cache_key(source, vocab, max_len, task):
    """Anything that changes the ids changes the key: the file (by path, size and modification time), the
    spec (SICK splits share a file), the tokenizer (its words and settings), max_len and the task (which rows
    are kept)."""
    stat = source.path.stat()
    described = json.dumps([CACHE_VERSION, str(source.path.resolve()), stat.st_size, stat.st_mtime_ns,
                            source.spec, vocab.fingerprint(), max_len, task])
    return hashlib.sha256(described.encode()).hexdigest()[:16]


# --- Batches --------------------------------------------------------------------------------------------------

BATCHES_PER_CHUNK = 100  # rows are sorted by length within chunks of this many batches


def batches_per_epoch(pairs, batch_size, min_batch=1):
    return len(epoch_batch_indices(pairs, batch_size, seed=0, epoch=0, min_batch=min_batch))


def epoch_batch_indices(pairs, batch_size, seed, epoch, min_batch=1):
    """The row indices of every batch of one epoch; a pure function of (seed, epoch), so a resumed run can
    skip the batches it has done. Rows are shuffled, cut into chunks, sorted by length within each chunk and
    cut into batches, so a batch pads little yet its rows are random; then the batch order is shuffled
    (otherwise every chunk would run from short to long). Every row appears exactly once; only the last
    batch may be smaller, and it joins the one before if it has fewer than `min_batch` rows."""
    generator = np.random.default_rng([seed, epoch])
    order = generator.permutation(len(pairs))
    first_lengths, second_lengths = pairs.first.lengths(), pairs.second.lengths()
    batches = []
    for start in range(0, len(order), batch_size * BATCHES_PER_CHUNK):
        chunk = order[start:start + batch_size * BATCHES_PER_CHUNK]
        chunk = chunk[np.lexsort((second_lengths[chunk], first_lengths[chunk]))]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < min_batch:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return [batches[i] for i in generator.permutation(len(batches))]


def training_batches(pairs, batch_size, seed, epoch, skip=0, rank=0, world_size=1):
    """Yield the batches of one epoch as tensors, leaving out the first `skip` (already trained on). With
    several data-parallel processes, each global batch is dealt out: rank r takes rows r, r + world_size, …"""
    for indices in epoch_batch_indices(pairs, batch_size, seed, epoch, min_batch=world_size)[skip:]:
        yield collate(pairs, indices[rank::world_size])


def evaluation_batches(pairs, batch_size):
    """Every row once, in batches of similar length; each batch's `indices` say which rows it holds, so
    `predictions[batch["indices"]] = ...` puts the results back in file order."""
    by_length = np.lexsort((pairs.second.lengths(), pairs.first.lengths()))
    for start in range(0, len(pairs), batch_size):
        yield collate(pairs, by_length[start:start + batch_size])


def collate(pairs, indices):
    """One batch: each side padded only to its own longest sentence in this batch.
    first_ids (B, T1) long, second_ids (B, T2) long, labels (B,) long or scores (B,) float, indices (B,) long."""
    batch = {"first_ids": pairs.first.padded(indices), "second_ids": pairs.second.padded(indices),
             "indices": torch.as_tensor(indices, dtype=torch.long)}
    if pairs.labels is not None:
        batch["labels"] = torch.as_tensor(pairs.labels[indices], dtype=torch.long)
    if pairs.scores is not None:
        batch["scores"] = torch.as_tensor(pairs.scores[indices], dtype=torch.float)
    return batch
