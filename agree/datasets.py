"""Sentence-pair datasets: NLI pairs with a three-way label, STS pairs with a similarity score.

Reading order: dataset specs -> reading files into `SentencePairs` -> a validation split by premise.
encoded_pairs.py turns the pairs into token ids and batches.

A spec names one split of a known dataset (`snli:dev`, `sick:train`, ...) or a local `.jsonl`/`.tsv`/`.csv`
file; several specs joined by commas are read one after another and concatenated.
"""
import csv
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from agree.download import dataset_file
from agree.errors import UserError, not_utf8
from data import LABELS

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

    def premise_keys(self):
        """One hashable key per row, equal for rows with the same premise."""
        return self.first

    def subset(self, indices):
        return SentencePairs(self.name, [self.first[i] for i in indices], [self.second[i] for i in indices],
                             take_rows(self.labels, indices), take_rows(self.scores, indices))


def take_rows(array, indices):
    """The rows at `indices` of labels or scores (None stays None)."""
    return None if array is None else array[np.asarray(indices, dtype=np.int64)]


def targets_for(task, values):
    """Keyword arguments that put `values` where a task keeps them: NLI labels or STS scores."""
    return {"labels": values} if task == "nli" else {"scores": values}


def target_values(pairs):
    """The labels or the scores, whichever the pairs have."""
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
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")  # the code's mistake, not the user's
    sources = [_resolve(spec.strip(), data_dir, task) for spec in specs.split(",") if spec.strip()]
    if not sources:
        raise UserError(f"no dataset spec given; valid specs: {VALID_SPECS}")
    return sources


def _resolve(spec, data_dir, task):
    name, _, split = spec.partition(":")
    if name in NAMED_SPLITS:
        if split not in NAMED_SPLITS[name]:
            raise UserError(f"unknown split in {spec!r}; valid specs: {VALID_SPECS}")
        if task not in TASKS_OF_DATASET[name]:
            raise UserError(f"{spec} has no {'NLI labels' if task == 'nli' else 'similarity scores'}; "
                             f"{task} specs: {', '.join(n for n, t in TASKS_OF_DATASET.items() if task in t)}")
        read = {"sick": partial(read_sick, semeval_set=split.upper()), "stsb": read_stsb}.get(name, read_jsonl)
        return Source(spec, dataset_file(name, NAMED_SPLITS[name][split], data_dir), read)
    path = Path(spec)
    if path.suffix not in LOCAL_SUFFIXES:
        raise UserError(f"unknown dataset spec {spec!r}; valid specs: {VALID_SPECS}")
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {spec!r} does not exist")
    read = {".jsonl": read_jsonl, ".tsv": partial(read_table, delimiter="\t"),
            ".csv": partial(read_table, delimiter=",")}[path.suffix]
    return Source(spec, path, read)


# --- Readers: each yields RawPair rows and raises on a line it cannot make sense of -------------------------

# Files are opened as "utf-8-sig": the same as UTF-8, but a byte-order mark (Excel writes one) is dropped. A
# file in another encoding is refused with the line and byte where it stops being UTF-8 (errors.not_utf8).

def _format_error(path, line, expected):
    return UserError(f"{path}, line {line}: {expected}")


def read_jsonl(path):
    """One JSON object per line (SNLI, MultiNLI, local files); blank lines are allowed."""
    try:
        yield from _jsonl_rows(path)
    except UnicodeDecodeError:
        raise not_utf8(path) from None


def _jsonl_rows(path):
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
        except UnicodeDecodeError:
            raise not_utf8(path) from None


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
    parts = [read_source(source, task, log) for source in resolve_specs(specs, data_dir, task)]
    return SentencePairs(specs, [s for p in parts for s in p.first], [s for p in parts for s in p.second],
                         **targets_for(task, np.concatenate([target_values(p) for p in parts])))


def read_source(source, task, log):
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
        raise UserError(f"{source.spec}: no usable {task} pairs in {source.path}")
    dtype = np.int64 if task == "nli" else np.float32
    return SentencePairs(source.spec, first, second, **targets_for(task, np.array(targets, dtype=dtype)))


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
        raise UserError(f"the validation fraction must be between 0 and 1, got {fraction}")
    group_of_row = _premise_groups(pairs)
    groups = int(group_of_row.max(initial=-1)) + 1
    if groups < 2:
        raise UserError(f"{pairs.name}: pairs on {groups} distinct premise(s) cannot be split into "
                         "training and validation")
    held_out = min(max(1, round(groups * fraction)), groups - 1)
    is_held_out = np.zeros(groups, dtype=bool)
    is_held_out[np.random.default_rng(seed).permutation(groups)[:held_out]] = True
    rows = is_held_out[group_of_row]
    return pairs.subset(np.flatnonzero(~rows)), pairs.subset(np.flatnonzero(rows))


def _premise_groups(pairs):
    """A number per row, the same for rows with the same premise (text, or token ids once encoded)."""
    numbers = {}
    return np.array([numbers.setdefault(key, len(numbers)) for key in pairs.premise_keys()], dtype=np.int64)
