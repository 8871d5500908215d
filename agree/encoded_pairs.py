"""Sentence pairs as token ids: `EncodedPairs`, cached on disk, and their batches of tensors for training
(shuffled, a pure function of seed and epoch) and for evaluation (every row once, with its row index so
predictions can be put back in file order). nli.py reads the pairs as text.
"""
import hashlib
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from agree.atomic import atomic_path
from agree.datasets import read_source, resolve_specs, take_rows, target_values, targets_for
from agree.errors import FULL
from data import PAD_ID, by_length, encode_sentence

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

    def premise_keys(self):
        """One hashable key per row, equal for rows with the same premise: its token ids as bytes."""
        offsets, flat = self.first.offsets, self.first.flat
        return [flat[offsets[i]:offsets[i + 1]].tobytes() for i in range(len(self))]

    def subset(self, indices):
        return EncodedPairs(self.name, self.first.take(indices), self.second.take(indices),
                            take_rows(self.labels, indices), take_rows(self.scores, indices))


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
    return concatenate_pairs(specs, parts, task)


def concatenate_pairs(name, parts, task="nli"):
    """One `EncodedPairs` of every part's rows, in order."""
    return EncodedPairs(name, RaggedIds.concatenate([p.first for p in parts]),
                        RaggedIds.concatenate([p.second for p in parts]),
                        **targets_for(task, np.concatenate([target_values(p) for p in parts])))


def _encoded_source(source, vocab, max_len, task, cache_dir, log):
    path = cache_dir / "pairs" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', source.spec)[-60:]}-" \
                                 f"{_cache_key(source, vocab, max_len, task)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as arrays:
                pairs = EncodedPairs(source.spec, RaggedIds(arrays["first_ids"], arrays["first_offsets"]),
                                     RaggedIds(arrays["second_ids"], arrays["second_offsets"]),
                                     **targets_for(task, arrays["targets"]))
            log(f"{source.spec}: {len(pairs):,} tokenized pairs from {path}")
            return pairs
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:  # damaged: tokenize again
            log(f"warning: the cached pairs in {path} cannot be read ({error}); tokenizing {source.spec} again")
    pairs = encode_pairs(read_source(source, task, log), vocab, max_len)
    # The cache only saves time: a full disk or a read-only --cache-dir is a warning, and the run goes on.
    try:
        with atomic_path(path) as temporary, open(temporary, "wb") as file:  # a file object: savez adds no ".npz"
            np.savez(file, first_ids=pairs.first.flat, first_offsets=pairs.first.offsets,
                     second_ids=pairs.second.flat, second_offsets=pairs.second.offsets, targets=target_values(pairs))
    except OSError as error:
        log(f"warning: cannot cache the tokenized pairs of {source.spec} in {path} "
            f"({FULL.get(error.errno) or error.strerror or error}); going on without the cache")
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
    first, second = pairs.first.lengths(), pairs.second.lengths()
    # by the first sentence's length, then the second's: one key that orders as the pair of lengths
    for indices in by_length(first * (second.max(initial=0) + 1) + second, batch_size):
        yield collate(pairs, indices)


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
