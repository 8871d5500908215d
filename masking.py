"""BERT pre-training examples from a tokenized corpus (corpus.py): next-sentence pairs and 80/10/10 masking.

`PretrainingData.make_batch(rng, batch_size)` draws examples the way BERT's `create_pretraining_data.py`
builds them, but each one independently from the numpy Generator it is given, so a batch is a pure function
of that generator's seed.

Two options change the examples, both off by default (BERT's recipe):
- `next_sentence=False` drops next-sentence prediction (RoBERTa, Cramming): an example is one segment of
  running text from one document, [CLS] text [SEP], and its NSP label is IGNORE_INDEX.
- `nli_share` fixes the share of examples drawn from the documents of NLI sentences (corpus.py reads the
  sentences of NLI training pairs as documents: a premise and its hypotheses), whatever their size beside
  the other text; by default every sentence of the corpus is equally likely to start an example.

`make_neighbour_pairs` draws something else, for the sentence-level term that the recipe adds to the loss
(pretrain.py --neighbour-contrastive-weight): a sentence and the one after it in the same document, each as
[CLS] sentence [SEP], unmasked.
"""
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from agree.corpus import is_nli_source
from agree.errors import UserError
from bert import IGNORE_INDEX
from data import CLS_ID, MASK_ID, PAD_ID, SEP_ID, SPECIAL_TOKENS

HELDOUT_SEED = 20_231_130  # which documents are held out: fixed, so every run with the corpus holds out the same


@dataclass(frozen=True)
class ExampleConfig:
    max_len: int = 128                  # [CLS] A [SEP] B [SEP] fits in this many positions
    mask_prob: float = 0.15             # share of the words chosen for prediction
    max_predictions: int | None = None  # per example; None: round(mask_prob * max_len) + 1, which is 20 at 128
    short_seq_prob: float = 0.1         # how often to aim for a shorter, random length (as BERT does)
    heldout_fraction: float = 0.01      # documents drawn at random, never sampled for training; 0 keeps none
    next_sentence: bool = True          # False: one segment per example and no next-sentence label
    nli_share: float | None = None      # share of examples from NLI-sentence documents; None: by their size


class Documents(NamedTuple):
    """The documents one split of one group samples from."""
    ids: np.ndarray          # document numbers, ascending
    starts: np.ndarray       # every sentence of those documents: where a one-segment example may begin
    pair_starts: np.ndarray  # sentences with a next sentence in the same document: where segment A may begin


class Example(NamedTuple):
    input_ids: np.ndarray          # (T,) [CLS] A [SEP] B [SEP] (or [CLS] A [SEP]), after masking
    segment_a_length: int          # positions of [CLS] A [SEP], which get segment id 0
    masked_positions: np.ndarray   # (P,) ascending
    masked_labels: np.ndarray      # (P,) the ids that were there before masking
    is_random_next: bool | None    # B comes from another document; None without next-sentence prediction


class PretrainingData:
    """Samples next-sentence-prediction pairs (or single segments) with masked words from a TokenizedCorpus."""

    def __init__(self, corpus, config=ExampleConfig()):
        if config.max_len < 5:
            raise UserError(f"max_len {config.max_len} leaves no room for two segments and 3 special tokens")
        if len(corpus.vocab) <= len(SPECIAL_TOKENS):
            raise UserError("the vocabulary holds no words besides the special tokens")
        if config.nli_share is not None and not 0 <= config.nli_share <= 1:
            raise UserError(f"nli_share must be between 0 and 1, got {config.nli_share}")
        self.corpus, self.config = corpus, config
        self.max_predictions = config.max_predictions or round(config.mask_prob * config.max_len) + 1
        is_nli = np.array([is_nli_source(source) for source in corpus.sources])[corpus.document_sources]
        groups = {"text": np.flatnonzero(~is_nli), "nli": np.flatnonzero(is_nli)}
        if config.nli_share is not None and config.nli_share not in (0, 1) and not all(map(len, groups.values())):
            raise UserError("nli_share mixes NLI sentences with other text, but the corpus has only one kind; "
                             "give both text files and NLI dataset specs as sources")
        self.splits = {}
        for group, documents in groups.items():
            if len(documents) and self._share(group) != 0:
                for split, ids in self._split(documents, group).items():
                    self.splits.setdefault(split, {})[group] = self._documents(ids)

    def _share(self, group):
        share = self.config.nli_share
        return None if share is None else (share if group == "nli" else 1 - share)

    def _split(self, documents, group):
        """{"train": ids, "heldout": ids}: the held-out documents are drawn at random from the whole group
        (the end of a file list is often unlike the rest), at least two so that held-out negatives can come
        from another held-out document."""
        fraction = self.config.heldout_fraction
        heldout = max(2, round(fraction * len(documents))) if fraction > 0 else 0
        if len(documents) - heldout < 2:
            raise UserError(f"the corpus has {len(documents)} {group} documents; pre-training needs at least 2 "
                             f"for training{f' and {heldout} held out' if heldout else ''} (next-sentence "
                             "negatives come from a different document)")
        chosen = np.zeros(len(documents), dtype=bool)
        chosen[np.random.default_rng(HELDOUT_SEED).permutation(len(documents))[:heldout]] = True
        return {"train": documents[~chosen], **({"heldout": documents[chosen]} if heldout else {})}

    def _documents(self, ids):
        offsets = self.corpus.document_offsets
        first, end = np.asarray(offsets[ids]), np.asarray(offsets[ids + 1])
        sizes = end - first
        # Every sentence of the chosen documents: each document's first sentence number plus 0, 1, 2, ...
        starts = np.repeat(first, sizes) + np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        pair_starts = np.setdiff1d(starts, end - 1)
        if self.config.next_sentence and len(pair_starts) == 0:
            raise UserError(f"documents {ids[0]} to {ids[-1]} have one sentence each; segment A and its true "
                             "next sentence need a document with at least two")
        return Documents(ids, starts, pair_starts)

    @property
    def heldout_documents(self):
        return np.sort(np.concatenate([d.ids for d in self.splits.get("heldout", {}).values()] or [[]]))

    def make_batch(self, rng, batch_size, split="train"):
        """A dict of tensors: input_ids, segment_ids (B, T); masked_positions, masked_labels (B, P);
        nsp_labels (B,) with 0 = B follows A, 1 = B is random (IGNORE_INDEX without next-sentence
        prediction). T and P are the batch's longest."""
        if split not in self.splits:
            raise ValueError(f"no {split!r} split; there are: {', '.join(self.splits)}")
        return collate([self.make_example(rng, split) for _ in range(batch_size)])

    def make_neighbour_pairs(self, rng, count, split="train"):
        """`count` pairs as two lists of id lists, [CLS] sentence [SEP] cut to max_len: `second[i]` is the
        sentence that follows `first[i]` in its document (for an NLI document, the premise and a hypothesis,
        or two hypotheses of one premise). Groups are drawn with the examples' shares; no label is read."""
        if split not in self.splits:
            raise ValueError(f"no {split!r} split; there are: {', '.join(self.splits)}")
        starts = []
        for _ in range(count):
            documents = self._pick_group(rng, self.splits[split])
            if len(documents.pair_starts) == 0:
                raise UserError(f"documents {documents.ids[0]} to {documents.ids[-1]} have one sentence each; "
                                 "neighbour pairs need documents of at least two sentences")
            starts.append(int(documents.pair_starts[rng.integers(len(documents.pair_starts))]))
        return [self._sentence(n) for n in starts], [self._sentence(n + 1) for n in starts]

    def _sentence(self, number):
        offsets = self.corpus.sentence_offsets
        words = self.corpus.token_ids[offsets[number]:offsets[number + 1]][:self.config.max_len - 2]
        return [CLS_ID, *words.tolist(), SEP_ID]

    def make_example(self, rng, split="train"):
        documents = self._pick_group(rng, self.splits[split])
        budget = self.config.max_len - (3 if self.config.next_sentence else 2)  # room left by [CLS], [SEP]s
        target = int(rng.integers(2, budget + 1)) if rng.random() < self.config.short_seq_prob else budget
        if self.config.next_sentence:
            return self._sentence_pair(rng, documents, budget, target)
        return self._one_segment(rng, documents, budget, target)

    def _pick_group(self, rng, groups):
        if len(groups) == 1:
            return next(iter(groups.values()))
        share = self.config.nli_share
        if share is None:  # in proportion to the places an example can start
            places = {g: len(d.pair_starts if self.config.next_sentence else d.starts) for g, d in groups.items()}
            share = places["nli"] / sum(places.values())
        return groups["nli" if rng.random() < share else "text"]

    def _sentence_pair(self, rng, documents, budget, target):
        offsets = self.corpus.sentence_offsets
        # A chunk of whole sentences that reaches the target length (at least two sentences, so that a true
        # continuation exists); A is a random number of its leading sentences.
        start = int(documents.pair_starts[rng.integers(len(documents.pair_starts))])
        document = self._document_of(start)
        chunk_end = self._extend(start, target, min_sentences=2, document=document)
        a_end = int(rng.integers(start + 1, chunk_end))
        a = (int(offsets[start]), int(offsets[a_end]))
        is_random_next = bool(rng.random() < 0.5)
        if is_random_next:
            b = self._random_segment(rng, documents, document, target - (a[1] - a[0]))
        else:
            b = (int(offsets[a_end]), int(offsets[chunk_end]))
        a, b = _truncate_pair(rng, a, b, budget)
        tokens = self.corpus.token_ids
        input_ids = np.concatenate(([CLS_ID], tokens[a[0]:a[1]], [SEP_ID], tokens[b[0]:b[1]], [SEP_ID]))
        return self._masked(rng, input_ids.astype(np.int64), a[1] - a[0] + 2, is_random_next)

    def _one_segment(self, rng, documents, budget, target):
        """RoBERTa's DOC-SENTENCES: whole sentences from a random one on, within its document, up to the
        target length; cut to the budget from the front or back as BERT cuts a segment."""
        start = int(documents.starts[rng.integers(len(documents.starts))])
        end = self._extend(start, target, min_sentences=1, document=self._document_of(start))
        offsets = self.corpus.sentence_offsets
        span = (int(offsets[start]), int(offsets[end]))
        span = _trim(rng, span, min(span[1] - span[0], budget))
        input_ids = np.concatenate(([CLS_ID], self.corpus.token_ids[span[0]:span[1]], [SEP_ID]))
        return self._masked(rng, input_ids.astype(np.int64), len(input_ids), None)

    def _masked(self, rng, input_ids, segment_a_length, is_random_next):
        positions, labels = self._mask(rng, input_ids)
        return Example(input_ids, segment_a_length, positions, labels, is_random_next)

    def _document_of(self, sentence):
        return int(np.searchsorted(self.corpus.document_offsets, sentence, side="right")) - 1

    def _extend(self, start, length, min_sentences, document):
        """End (exclusive) of the shortest run of sentences from `start` with at least `length` tokens and
        `min_sentences` sentences, cut at the end of `document`."""
        offsets = self.corpus.sentence_offsets
        end = int(np.searchsorted(offsets, offsets[start] + length, side="left"))
        return min(max(end, start + min_sentences), int(self.corpus.document_offsets[document + 1]))

    def _random_segment(self, rng, documents, document, length):
        """Token range of sentences from a random place in another document of the same split and group."""
        other = int(documents.ids[rng.integers(len(documents.ids) - 1)])
        if other == document:  # draw among all but the last, and let the last stand in for `document`
            other = int(documents.ids[-1])
        first, end = self.corpus.document_offsets[other:other + 2]
        start = int(rng.integers(first, end))
        offsets = self.corpus.sentence_offsets
        return int(offsets[start]), int(offsets[self._extend(start, length, 1, other)])

    def _mask(self, rng, input_ids):
        """Choose words to predict and corrupt them in place: 80% [MASK], 10% a random word, 10% unchanged."""
        # Only words are candidates: never [CLS], [SEP] or [UNK] (nothing to learn from predicting [UNK]).
        candidates = np.flatnonzero(input_ids >= len(SPECIAL_TOKENS))
        count = int(self.config.mask_prob * len(candidates) + 0.5)  # rounded half up
        count = min(max(count, 1), self.max_predictions, len(candidates))
        positions = np.sort(rng.permutation(candidates)[:count])
        labels = input_ids[positions].copy()
        roll = rng.random(count)
        input_ids[positions[roll < 0.8]] = MASK_ID
        replaced = positions[(roll >= 0.8) & (roll < 0.9)]
        input_ids[replaced] = rng.integers(len(SPECIAL_TOKENS), len(self.corpus.vocab), size=len(replaced))
        return positions, labels


def _truncate_pair(rng, a, b, budget):
    """BERT's truncation: remove a token from the longer segment (A on a tie), from its front or back by a
    coin flip, until both fit in `budget`. How many go from each segment is fixed by the lengths, and the
    coin flips of one segment add up to a binomial draw, so this costs two draws instead of one per token."""
    keep_a, keep_b = _kept_lengths(a[1] - a[0], b[1] - b[0], budget)
    return _trim(rng, a, keep_a), _trim(rng, b, keep_b)


def _kept_lengths(length_a, length_b, budget):
    if length_a + length_b <= budget:
        return length_a, length_b
    shorter = min(length_a, length_b)
    if shorter <= budget - shorter:  # cutting the longer one alone is enough
        return (budget - length_b, length_b) if length_a > length_b else (length_a, budget - length_a)
    return budget // 2, budget - budget // 2  # both get cut down to half; ties cut A, so A ends no longer


def _trim(rng, span, keep):
    start, end = span
    removed = end - start - keep
    from_front = int(rng.binomial(removed, 0.5)) if removed else 0
    return start + from_front, end - (removed - from_front)


def collate(examples):
    """Pad to the longest example (with [PAD] = 0) and to the most predictions (label IGNORE_INDEX)."""
    rows, length = len(examples), max(len(e.input_ids) for e in examples)
    predictions = max(len(e.masked_positions) for e in examples)
    input_ids = np.full((rows, length), PAD_ID, dtype=np.int64)
    segment_ids = np.zeros((rows, length), dtype=np.int64)
    masked_positions = np.zeros((rows, predictions), dtype=np.int64)
    masked_labels = np.full((rows, predictions), IGNORE_INDEX, dtype=np.int64)
    for row, example in enumerate(examples):
        size, count = len(example.input_ids), len(example.masked_positions)
        input_ids[row, :size] = example.input_ids
        segment_ids[row, example.segment_a_length:size] = 1  # B [SEP]
        masked_positions[row, :count] = example.masked_positions
        masked_labels[row, :count] = example.masked_labels
    nsp_labels = np.array([IGNORE_INDEX if e.is_random_next is None else int(e.is_random_next) for e in examples],
                          dtype=np.int64)
    batch = {"input_ids": input_ids, "segment_ids": segment_ids, "masked_positions": masked_positions,
             "masked_labels": masked_labels, "nsp_labels": nsp_labels}
    return {name: torch.from_numpy(array) for name, array in batch.items()}
