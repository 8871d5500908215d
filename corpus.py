"""Pre-training text: files -> documents -> a cached array of token ids -> BERT pre-training batches.

1. Readers turn a text file into documents, each a list of paragraphs. The layout follows the file name
   (a `.gz` ending is read through gzip and otherwise ignored):
   - `wiki.*.raw` or `wiki.*.tokens` (WikiText): a ` = Title = ` line starts a new document, ` = = Section = = `
     lines are dropped, every other non-blank line is a paragraph. WikiText puts a blank line around every
     line, so blank lines mean nothing there.
   - anything else (e.g. `enwiki_00.txt.gz`): one paragraph per line, a blank line between documents.
2. `load_corpus` splits paragraphs into sentences and words on all cores, builds the vocabulary and stores
   the ids under `cache_dir` in a folder named by a hash of the input files and the settings. Later runs
   with the same inputs memory-map that folder instead of tokenizing again.
3. `PretrainingData.make_batch(rng, batch_size)` draws examples the way BERT's `create_pretraining_data.py`
   builds them (next-sentence pairs, 80/10/10 masking), but each one independently from the numpy
   Generator it is given, so a batch is a pure function of that generator's seed.
"""
import fnmatch
import gzip
import hashlib
import json
import os
import shutil
import sys
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import nltk
import numpy as np
import torch
from tqdm import tqdm

from atomic import atomic_write_text, replace_directory
from data import CLS_ID, MASK_ID, PAD_ID, SEP_ID, SPECIAL_TOKENS, Vocab, split_sentences, tokenize, use_nltk_data
from download import dataset_file

CACHE_FORMAT_VERSION = 1                       # bump when the cached files change meaning
CORPUS_FILES = {                               # corpus names -> training file inside the downloaded folder
    "wikitext-103": "wikitext-103-raw/wiki.train.raw",
    "wikitext-2": "wikitext-2-raw/wiki.train.raw",
}
WIKITEXT_FILE_NAMES = ("wiki.*.raw", "wiki.*.tokens")
PARAGRAPHS_PER_CHUNK = 2000                    # one unit of work for a tokenizer process
IGNORE_INDEX = -100                            # label of unused prediction slots, the loss's ignore_index


@dataclass(frozen=True)
class CorpusConfig:
    max_samples: int | None = 100_000          # paragraphs to read; 0 or None reads everything
    vocab_size: int = 30_000                   # including the special tokens
    workers: int = 0                           # tokenizer processes; 0 means one per CPU core


# --- 1. Reading documents ------------------------------------------------------------------------------------

def resolve_corpus(source, data_dir=None):
    """A corpus name (downloaded into `data_dir` if needed) or a path, as the path of an existing file."""
    if source in CORPUS_FILES:
        if data_dir is None:
            raise ValueError(f"corpus {source!r} lives in a data directory; pass data_dir")
        return dataset_file(source, CORPUS_FILES[source], data_dir).resolve()
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"corpus {str(source)!r} is neither a file nor one of: {', '.join(CORPUS_FILES)}")
    return path.resolve()


def is_wikitext(path):
    name = Path(path).name.removesuffix(".gz")
    return any(fnmatch.fnmatch(name, pattern) for pattern in WIKITEXT_FILE_NAMES)


def read_documents(path):
    """Yield the documents of one file, each a list of paragraphs."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        yield from (_wikitext_documents if is_wikitext(path) else _plain_documents)(lines)


def _plain_documents(lines):
    document = []
    for line in map(str.strip, lines):
        if line:
            document.append(line)
        elif document:
            yield document
            document = []
    if document:
        yield document


def _wikitext_documents(lines):
    document = []
    for line in map(str.strip, lines):
        is_heading = line.startswith("=") and line.endswith("=")
        if is_heading and not line.startswith("= ="):  # "= Title =" starts an article
            if document:
                yield document
            document = []
        elif line and not is_heading:
            # WikiText spells "1,000" and "well-known" as "1 @,@ 000" and "well @-@ known"; undo that.
            document.append(line.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", "."))
    if document:
        yield document


def read_corpus(paths, max_paragraphs=None):
    """The documents of all `paths` in order, stopping after `max_paragraphs` paragraphs (0/None: all)."""
    left = max_paragraphs or None
    for path in paths:
        for document in read_documents(path):
            if left is not None:
                document = document[:left]
                left -= len(document)
            yield document
            if left == 0:
                return


# --- 2. Tokenizing into the cache ----------------------------------------------------------------------------

class TokenizedCorpus(NamedTuple):
    """A tokenized corpus, memory-mapped from its cache folder (a big corpus is never loaded whole)."""
    directory: Path
    vocab: Vocab
    token_ids: np.ndarray         # (num_tokens,) the ids of every sentence, back to back
    sentence_offsets: np.ndarray  # (num_sentences + 1,) sentence i is token_ids[offsets[i]:offsets[i + 1]]
    document_offsets: np.ndarray  # (num_documents + 1,) document d is sentences offsets[d] to offsets[d + 1] - 1

    @classmethod
    def load(cls, directory):
        # Plain-array views of the memory maps: the same pages, without np.memmap's cost on every slice.
        arrays = [np.asarray(np.load(directory / f"{name}.npy", mmap_mode="r"))
                  for name in ("token_ids", "sentence_offsets", "document_offsets")]
        return cls(directory, Vocab.load(directory / "vocab.txt"), *arrays)

    @property
    def num_documents(self):
        return len(self.document_offsets) - 1

    def sentence(self, index):
        return self.token_ids[self.sentence_offsets[index]:self.sentence_offsets[index + 1]]


def load_corpus(sources, data_dir=None, cache_dir=".cache", config=CorpusConfig()):
    """Tokenize `sources` (names or paths) once, then reuse the cache in `cache_dir` on every later call."""
    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    paths = [resolve_corpus(source, data_dir) for source in sources]
    directory = Path(cache_dir) / f"corpus-{_cache_key(paths, config)}"
    if (directory / "meta.json").is_file():
        _log(f"reusing the tokenized corpus in {directory}")
    else:
        use_nltk_data(data_dir)
        with replace_directory(directory) as building:  # appears complete or not at all
            _build_cache(paths, config, building)
        _log(f"wrote the tokenized corpus to {directory}")
    return TokenizedCorpus.load(directory)


def _cache_key(paths, config):
    """Changes whenever an input file or a setting that changes the result changes."""
    files = [[str(path), path.stat().st_size, path.stat().st_mtime_ns] for path in paths]
    settings = {"format": CACHE_FORMAT_VERSION, "files": files, "max_samples": config.max_samples or 0,
                "vocab_size": config.vocab_size, "nltk": nltk.__version__}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _log(message):
    print(f"corpus: {message}", file=sys.stderr, flush=True)


def _build_cache(paths, config, directory):
    # Pass 1 (all cores): each chunk's words become ids into the chunk's own word list, written to disk.
    # Only the word counts come back, so the main process never holds the corpus's strings.
    chunk_dir = directory / "chunks"
    chunk_dir.mkdir()
    counts, chunks, num_tokens = _tokenize_in_chunks(paths, config, chunk_dir)
    if num_tokens == 0:
        raise ValueError(f"no words found in {', '.join(map(str, paths))}")
    vocab = Vocab.from_counts(counts, config.vocab_size)
    # Pass 2: translate every chunk's local ids into vocabulary ids, straight into the memory-mapped array.
    num_sentences, num_documents = _write_arrays(chunks, vocab, num_tokens, directory)
    shutil.rmtree(chunk_dir)
    vocab.save(directory / "vocab.txt")
    meta = {"sources": [str(path) for path in paths], **asdict(config), "format": CACHE_FORMAT_VERSION,
            "num_tokens": num_tokens, "num_sentences": num_sentences, "num_documents": num_documents}
    atomic_write_text(directory / "meta.json", json.dumps(meta, indent=2) + "\n")


def _tokenize_in_chunks(paths, config, chunk_dir):
    workers = config.workers or os.cpu_count() or 1
    jobs = ((chunk_dir / f"{number:06d}", documents)
            for number, documents in enumerate(_chunks(read_corpus(paths, config.max_samples))))
    counts, chunks, num_tokens = Counter(), [], 0
    # Workers start with NLTK's default search path under "spawn"; hand them the one set up here.
    with ProcessPoolExecutor(workers, initializer=_set_nltk_path, initargs=(list(nltk.data.path),)) as pool, \
            tqdm(desc="tokenizing", unit=" words", unit_scale=True) as progress:
        for chunk, chunk_counts, chunk_tokens in _ordered_map(pool, _tokenize_chunk, jobs, 2 * workers):
            counts.update(chunk_counts)
            chunks.append(chunk)
            num_tokens += chunk_tokens
            progress.update(chunk_tokens)
    return counts, chunks, num_tokens


def _chunks(documents):
    """Group whole documents into chunks of about PARAGRAPHS_PER_CHUNK paragraphs."""
    chunk, paragraphs = [], 0
    for document in documents:
        chunk.append(document)
        paragraphs += len(document)
        if paragraphs >= PARAGRAPHS_PER_CHUNK:
            yield chunk
            chunk, paragraphs = [], 0
    if chunk:
        yield chunk


def _ordered_map(pool, function, jobs, in_flight):
    """Like pool.map, but reads `jobs` only a few steps ahead, so the corpus is never all in memory."""
    pending = deque()
    for job in jobs:
        pending.append(pool.submit(function, job))
        if len(pending) >= in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _set_nltk_path(paths):
    nltk.data.path[:] = paths


def _tokenize_chunk(job):
    """In a worker: write `<chunk>.npz` (ids into the chunk's word list, sentence and document sizes) and
    `<chunk>.words` (that word list); return the chunk, its word counts and its number of words."""
    chunk, documents = job
    local_ids, ids, sentence_lengths, document_sizes = {}, [], [], []
    for document in documents:
        sentences_before = len(sentence_lengths)
        for paragraph in document:
            for sentence in split_sentences(paragraph):
                words = tokenize(sentence)
                if words:
                    ids.extend(local_ids.setdefault(word, len(local_ids)) for word in words)
                    sentence_lengths.append(len(words))
        if len(sentence_lengths) > sentences_before:  # a document without words is no document
            document_sizes.append(len(sentence_lengths) - sentences_before)
    words = list(local_ids)  # in local-id order
    ids = np.array(ids, dtype=np.int32)
    np.savez(chunk.with_suffix(".npz"), ids=ids, sentence_lengths=np.array(sentence_lengths, dtype=np.int64),
             document_sizes=np.array(document_sizes, dtype=np.int64))
    # NLTK's words never contain whitespace, so one per line is safe.
    chunk.with_suffix(".words").write_text("\n".join(words), encoding="utf-8")
    counts = np.bincount(ids, minlength=len(words)).tolist()
    return chunk, dict(zip(words, counts)), len(ids)


def _write_arrays(chunks, vocab, num_tokens, directory):
    dtype = np.uint16 if len(vocab) <= np.iinfo(np.uint16).max + 1 else np.int32
    token_ids = np.lib.format.open_memmap(directory / "token_ids.npy", mode="w+", dtype=dtype,
                                          shape=(num_tokens,))
    sentence_lengths, document_sizes, position = [], [], 0
    for chunk in chunks:
        words = chunk.with_suffix(".words").read_text(encoding="utf-8").split("\n")
        vocab_id_of_local_id = np.array(vocab.encode(words), dtype=dtype)
        with np.load(chunk.with_suffix(".npz")) as arrays:
            ids = vocab_id_of_local_id[arrays["ids"]]
            sentence_lengths.append(arrays["sentence_lengths"])
            document_sizes.append(arrays["document_sizes"])
        token_ids[position:position + len(ids)] = ids
        position += len(ids)
    token_ids.flush()
    del token_ids  # closes the memory map before its folder is renamed
    sentence_lengths, document_sizes = np.concatenate(sentence_lengths), np.concatenate(document_sizes)
    np.save(directory / "sentence_offsets.npy", np.concatenate(([0], np.cumsum(sentence_lengths))))
    np.save(directory / "document_offsets.npy", np.concatenate(([0], np.cumsum(document_sizes))))
    return len(sentence_lengths), len(document_sizes)


# --- 3. Pre-training examples --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExampleConfig:
    max_len: int = 128                  # [CLS] A [SEP] B [SEP] fits in this many positions
    mask_prob: float = 0.15             # share of the words chosen for prediction
    max_predictions: int | None = None  # per example; None: round(mask_prob * max_len) + 1, which is 20 at 128
    short_seq_prob: float = 0.1         # how often to aim for a shorter, random length (as BERT does)
    heldout_fraction: float = 0.01      # the last documents, never sampled for training; 0 keeps none


class Documents(NamedTuple):
    """A contiguous range of documents that one split samples from."""
    first: int
    end: int
    pair_starts: np.ndarray  # sentences with a next sentence in the same document: where segment A may begin


class Example(NamedTuple):
    input_ids: np.ndarray          # (T,) [CLS] A [SEP] B [SEP], after masking
    segment_a_length: int          # positions of [CLS] A [SEP], which get segment id 0
    masked_positions: np.ndarray   # (P,) ascending
    masked_labels: np.ndarray      # (P,) the ids that were there before masking
    is_random_next: bool           # B comes from another document


class PretrainingData:
    """Samples next-sentence-prediction pairs with masked words from a TokenizedCorpus."""

    def __init__(self, corpus, config=ExampleConfig()):
        if config.max_len < 5:
            raise ValueError(f"max_len {config.max_len} leaves no room for two segments and 3 special tokens")
        if len(corpus.vocab) <= len(SPECIAL_TOKENS):
            raise ValueError("the vocabulary holds no words besides the special tokens")
        self.corpus, self.config = corpus, config
        self.max_predictions = config.max_predictions or round(config.mask_prob * config.max_len) + 1
        num_documents = corpus.num_documents
        # At least two held-out documents, so held-out negatives can come from another held-out document.
        heldout = max(2, round(config.heldout_fraction * num_documents)) if config.heldout_fraction > 0 else 0
        if num_documents - heldout < 2:
            raise ValueError(f"the corpus has {num_documents} documents; pre-training needs at least 2 for "
                             f"training{f' and {heldout} held out' if heldout else ''} (next-sentence "
                             "negatives come from a different document)")
        self.splits = {"train": self._documents(0, num_documents - heldout)}
        if heldout:
            self.splits["heldout"] = self._documents(num_documents - heldout, num_documents)

    def _documents(self, first, end):
        offsets = self.corpus.document_offsets
        last_sentences = np.asarray(offsets[first + 1:end + 1]) - 1
        pair_starts = np.setdiff1d(np.arange(offsets[first], offsets[end]), last_sentences)
        if len(pair_starts) == 0:
            raise ValueError(f"documents {first} to {end - 1} have one sentence each; segment A and its "
                             "true next sentence need a document with at least two")
        return Documents(first, end, pair_starts)

    def make_batch(self, rng, batch_size, split="train"):
        """A dict of tensors: input_ids, segment_ids (B, T); masked_positions, masked_labels (B, P);
        nsp_labels (B,) with 0 = B follows A, 1 = B is random. T and P are the batch's longest."""
        if split not in self.splits:
            raise ValueError(f"no {split!r} split; there are: {', '.join(self.splits)}")
        return collate([self.make_example(rng, split) for _ in range(batch_size)])

    def make_example(self, rng, split="train"):
        documents = self.splits[split]
        offsets = self.corpus.sentence_offsets
        budget = self.config.max_len - 3  # room left by [CLS], [SEP], [SEP]
        target = int(rng.integers(2, budget + 1)) if rng.random() < self.config.short_seq_prob else budget
        # A chunk of whole sentences that reaches the target length (at least two sentences, so that a true
        # continuation exists); A is a random number of its leading sentences.
        start = int(documents.pair_starts[rng.integers(len(documents.pair_starts))])
        document = int(np.searchsorted(self.corpus.document_offsets, start, side="right")) - 1
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
        input_ids = input_ids.astype(np.int64)
        positions, labels = self._mask(rng, input_ids)
        return Example(input_ids, a[1] - a[0] + 2, positions, labels, is_random_next)

    def _extend(self, start, length, min_sentences, document):
        """End (exclusive) of the shortest run of sentences from `start` with at least `length` tokens and
        `min_sentences` sentences, cut at the end of `document`."""
        offsets = self.corpus.sentence_offsets
        end = int(np.searchsorted(offsets, offsets[start] + length, side="left"))
        return min(max(end, start + min_sentences), int(self.corpus.document_offsets[document + 1]))

    def _random_segment(self, rng, documents, document, length):
        """Token range of sentences from a random place in another document of the split."""
        other = int(rng.integers(documents.first, documents.end - 1))
        other += other >= document  # skips `document` itself, keeping the others equally likely
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
    nsp_labels = np.array([int(e.is_random_next) for e in examples], dtype=np.int64)
    batch = {"input_ids": input_ids, "segment_ids": segment_ids, "masked_positions": masked_positions,
             "masked_labels": masked_labels, "nsp_labels": nsp_labels}
    return {name: torch.from_numpy(array) for name, array in batch.items()}
