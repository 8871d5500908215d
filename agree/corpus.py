"""Pre-training text: files -> documents -> a cached array of token ids -> BERT pre-training batches.

1. Readers turn a text file into documents, each a list of paragraphs. The layout follows the file name
   (a `.gz` ending is read through gzip and otherwise ignored):
   - `wiki.*.raw` or `wiki.*.tokens` (WikiText): a ` = Title = ` line starts a new document, ` = = Section = = `
     lines are dropped, every other non-blank line is a paragraph. WikiText puts a blank line around every
     line, so blank lines mean nothing there.
   - anything else (e.g. `enwiki_00.txt.gz`): one paragraph per line, a blank line between documents.
   A source can also be an NLI dataset spec (`snli:dev`, `mnli:dev_matched`, `sick:train`, a local file):
   the sentences of its pairs, without labels, each premise and its hypotheses one document, so that
   pre-training can see the language of the task (task-adaptive pre-training). Sentences of the splits in
   `CorpusConfig.exclude` (the test sets) are left out.
2. `load_corpus` splits paragraphs into sentences and words on all cores, builds the vocabulary and stores
   the ids under `cache_dir` in a folder named by a hash of the input files and the settings. Later runs
   with the same inputs memory-map that folder instead of tokenizing again.
3. `pretraining_data.py` turns the cached ids into BERT's examples (next-sentence pairs, 80/10/10 masking).
"""
import errno
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
from tqdm import tqdm

from agree.atomic import atomic_write_text, replace_directory
from agree.datasets import NAMED_SPLITS, load_pairs, resolve_specs
from agree.download import dataset_file
from agree.errors import UserError, naming, not_utf8
from data import Vocab, split_sentences, tokenize, use_nltk_data

CACHE_FORMAT_VERSION = 2                       # bump when the cached files change meaning
CORPUS_FILES = {                               # corpus names -> training file inside the downloaded folder
    "wikitext-103": "wikitext-103-raw/wiki.train.raw",
    "wikitext-2": "wikitext-2-raw/wiki.train.raw",
}
WIKITEXT_FILE_NAMES = ("wiki.*.raw", "wiki.*.tokens")
PARAGRAPHS_PER_CHUNK = 2000                    # one unit of work for a tokenizer process


@dataclass(frozen=True)
class CorpusConfig:
    max_samples: int | None = 100_000          # paragraphs to read; 0 or None reads everything
    vocab_size: int = 30_000                   # including the special tokens
    workers: int = 0                           # tokenizer processes; 0 means one per CPU core
    exclude: tuple = ()                        # NLI specs whose sentences an NLI source never yields


# --- 1. Reading documents ------------------------------------------------------------------------------------

class NliSentences(NamedTuple):
    """An NLI dataset spec used as pre-training text (see the module's docstring)."""
    spec: str
    path: Path      # the dataset's file, for the cache key
    data_dir: str


def is_nli_source(source):
    """Whether a corpus source (as written, or resolved) names NLI pairs rather than a text file."""
    if isinstance(source, NliSentences):
        return True
    name = str(source)
    return name.partition(":")[0] in NAMED_SPLITS or name.endswith((".jsonl", ".tsv", ".csv"))


def resolve_corpus(source, data_dir=None):
    """A corpus name (downloaded into `data_dir` if needed) or a path, as the path of an existing file; an NLI
    dataset spec as NliSentences."""
    if is_nli_source(source):
        return NliSentences(str(source), resolve_specs(str(source), data_dir, "nli")[0].path.resolve(),
                            data_dir)
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


def read_documents(path, exclude=frozenset()):
    """Yield the documents of one file (or NliSentences), each a list of paragraphs."""
    if isinstance(path, NliSentences):
        yield from _nli_documents(path, exclude)
        return
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            yield from (_wikitext_documents if is_wikitext(path) else _plain_documents)(lines)
    except UnicodeDecodeError:
        raise not_utf8(path, opener) from None


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


def _nli_documents(source, exclude):
    """A premise and its distinct hypotheses, one document per premise, in the order of the file; sentences
    in `exclude` (lower-cased, stripped) are left out."""
    pairs = load_pairs(source.spec, source.data_dir, "nli", log=_log)
    documents = {}
    for premise, hypothesis in zip(pairs.first, pairs.second):
        documents.setdefault(premise, {premise: None})[hypothesis] = None  # dicts as ordered sets
    for sentences in documents.values():
        kept = [sentence for sentence in sentences if _normalised(sentence) not in exclude]
        if kept:
            yield kept


def _normalised(sentence):
    return sentence.strip().lower()


def excluded_sentences(specs, data_dir):
    """The sentences of `specs` (NLI or STS), normalised as _nli_documents compares them."""
    excluded = set()
    for spec in specs:
        task = "sts" if spec.startswith("stsb:") else "nli"
        pairs = load_pairs(spec, data_dir, task, log=lambda message: None)
        excluded.update(map(_normalised, pairs.first + pairs.second))
    return frozenset(excluded)


def read_corpus(paths, max_paragraphs=None, exclude=frozenset()):
    """(source index, document) for the documents of all `paths` in order, stopping after `max_paragraphs`
    paragraphs of text files (0/None: all). NLI sources are always read whole: the cap is there to keep a
    big text corpus small, and NLI sentences placed after it would otherwise never be reached."""
    left = max_paragraphs or None
    for index, path in enumerate(paths):
        capped = left is not None and not isinstance(path, NliSentences)
        for document in read_documents(path, exclude):
            if capped:
                if left == 0:
                    break
                document = document[:left]
                left -= len(document)
            yield index, document


# --- 2. Tokenizing into the cache ----------------------------------------------------------------------------

class TokenizedCorpus(NamedTuple):
    """A tokenized corpus, memory-mapped from its cache folder (a big corpus is never loaded whole)."""
    directory: Path
    vocab: Vocab
    token_ids: np.ndarray         # (num_tokens,) the ids of every sentence, back to back
    sentence_offsets: np.ndarray  # (num_sentences + 1,) sentence i is token_ids[offsets[i]:offsets[i + 1]]
    document_offsets: np.ndarray  # (num_documents + 1,) document d is sentences offsets[d] to offsets[d + 1] - 1
    document_sources: np.ndarray  # (num_documents,) which of `sources` each document comes from
    sources: list                 # the files (paths) and NLI specs, in the order they were read

    @classmethod
    def load(cls, directory):
        # Plain-array views of the memory maps: the same pages, without np.memmap's cost on every slice.
        arrays = [np.asarray(np.load(directory / f"{name}.npy", mmap_mode="r"))
                  for name in ("token_ids", "sentence_offsets", "document_offsets", "document_sources")]
        sources = json.loads((directory / "meta.json").read_text(encoding="utf-8"))["sources"]
        return cls(directory, Vocab.load(directory / "vocab.txt"), *arrays, sources)

    @property
    def num_documents(self):
        return len(self.document_offsets) - 1

    def sentence(self, index):
        return self.token_ids[self.sentence_offsets[index]:self.sentence_offsets[index + 1]]


def load_corpus(sources, data_dir=None, cache_dir=".cache", config=CorpusConfig()):
    """Tokenize `sources` (names or paths) once, then reuse the cache in `cache_dir` on every later call. The
    cache is not optional: training reads the corpus from it. A full disk there is an OSError naming it."""
    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    paths = [resolve_corpus(source, data_dir) for source in sources]
    directory = Path(cache_dir) / f"corpus-{_cache_key(paths, config)}"
    if (directory / "meta.json").is_file():
        _log(f"reusing the tokenized corpus in {directory}")
    else:
        use_nltk_data(data_dir)
        with replace_directory(directory) as building:  # appears complete or not at all
            try:
                _build_cache(paths, config, building, data_dir)
            except OSError as error:
                if error.filename is None:  # numpy's writes (and the workers') name no file: name the cache
                    raise naming(error, directory) from error
                raise
        _log(f"wrote the tokenized corpus to {directory}")
    return TokenizedCorpus.load(directory)


def _cache_key(paths, config):
    """Changes whenever an input file or a setting that changes the result changes."""
    files = [[_name(path), str(_file(path)), _file(path).stat().st_size, _file(path).stat().st_mtime_ns]
             for path in paths]
    settings = {"format": CACHE_FORMAT_VERSION, "files": files, "max_samples": config.max_samples or 0,
                "vocab_size": config.vocab_size, "nltk": nltk.__version__}
    if any(isinstance(path, NliSentences) for path in paths):
        settings["exclude"] = list(config.exclude)
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _name(source):
    return source.spec if isinstance(source, NliSentences) else str(source)


def _file(source):
    return source.path if isinstance(source, NliSentences) else source


def _log(message):
    print(f"corpus: {message}", file=sys.stderr, flush=True)


def _build_cache(paths, config, directory, data_dir):
    # Pass 1 (all cores): each chunk's words become ids into the chunk's own word list, written to disk.
    # Only the word counts come back, so the main process never holds the corpus's strings.
    chunk_dir = directory / "chunks"
    chunk_dir.mkdir()
    reads_nli = any(isinstance(path, NliSentences) for path in paths)
    exclude = excluded_sentences(config.exclude, data_dir) if reads_nli and config.exclude else frozenset()
    counts, chunks, num_tokens = _tokenize_in_chunks(paths, config, chunk_dir, exclude)
    if num_tokens == 0:
        raise UserError(f"no words found in {', '.join(map(_name, paths))}")
    vocab = Vocab.from_counts(counts, config.vocab_size)
    # Pass 2: translate every chunk's local ids into vocabulary ids, straight into the memory-mapped array.
    num_sentences, num_documents = _write_arrays(chunks, vocab, num_tokens, directory)
    shutil.rmtree(chunk_dir)
    vocab.save(directory / "vocab.txt")
    meta = {"sources": [_name(path) for path in paths], **asdict(config), "format": CACHE_FORMAT_VERSION,
            "num_tokens": num_tokens, "num_sentences": num_sentences, "num_documents": num_documents}
    atomic_write_text(directory / "meta.json", json.dumps(meta, indent=2) + "\n")


def _tokenize_in_chunks(paths, config, chunk_dir, exclude):
    workers = config.workers or os.cpu_count() or 1
    jobs = ((chunk_dir / f"{number:06d}", source, documents)
            for number, (source, documents) in enumerate(_chunks(read_corpus(paths, config.max_samples, exclude))))
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
    """Group whole documents of one source into chunks of about PARAGRAPHS_PER_CHUNK paragraphs:
    (source index, documents)."""
    chunk, paragraphs, chunk_source = [], 0, None
    for source, document in documents:
        if chunk and (paragraphs >= PARAGRAPHS_PER_CHUNK or source != chunk_source):
            yield chunk_source, chunk
            chunk, paragraphs = [], 0
        chunk.append(document)
        paragraphs += len(document)
        chunk_source = source
    if chunk:
        yield chunk_source, chunk


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
    `<chunk>.words` (that word list); return (the chunk, its source), its word counts and its number of words."""
    chunk, source, documents = job
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
    return (chunk, source), dict(zip(words, counts)), len(ids)


def _write_arrays(chunks, vocab, num_tokens, directory):
    dtype = np.uint16 if len(vocab) <= np.iinfo(np.uint16).max + 1 else np.int32
    token_ids = np.lib.format.open_memmap(directory / "token_ids.npy", mode="w+", dtype=dtype,
                                          shape=(num_tokens,))
    _reserve(directory / "token_ids.npy")
    sentence_lengths, document_sizes, document_sources, position = [], [], [], 0
    for chunk, source in chunks:
        words = chunk.with_suffix(".words").read_text(encoding="utf-8").split("\n")
        vocab_id_of_local_id = np.array(vocab.encode(words), dtype=dtype)
        with np.load(chunk.with_suffix(".npz")) as arrays:
            ids = vocab_id_of_local_id[arrays["ids"]]
            sentence_lengths.append(arrays["sentence_lengths"])
            document_sizes.append(arrays["document_sizes"])
            document_sources.append(np.full(len(arrays["document_sizes"]), source, dtype=np.int16))
        token_ids[position:position + len(ids)] = ids
        position += len(ids)
    token_ids.flush()
    del token_ids  # closes the memory map before its folder is renamed
    sentence_lengths, document_sizes = np.concatenate(sentence_lengths), np.concatenate(document_sizes)
    np.save(directory / "sentence_offsets.npy", np.concatenate(([0], np.cumsum(sentence_lengths))))
    np.save(directory / "document_offsets.npy", np.concatenate(([0], np.cumsum(document_sizes))))
    np.save(directory / "document_sources.npy", np.concatenate(document_sources))
    return len(sentence_lengths), len(document_sizes)


def _reserve(path):
    """Give a memory-mapped file its disk blocks before it is written: a write through a map onto a full disk
    is no error but a SIGBUS, which kills the process without a word. Where the file system cannot reserve
    blocks, it is written as before."""
    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as file:
        try:
            os.posix_fallocate(file.fileno(), 0, os.fstat(file.fileno()).st_size)
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise naming(error, path) from error
