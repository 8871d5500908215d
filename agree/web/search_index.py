"""Semantic search: the top k sentences of a fixed list for any query, ranked by the cosine of embeddings.

This is what Sentence-BERT was made for. A cross-encoder (BERT reading both sentences together) needs one
forward pass per pair, so finding the sentence nearest a query among N costs N passes; Sentence-BERT encodes
each sentence of the list once, ahead of time, and a query then costs one pass plus N dot products. (The
SBERT paper: the most similar pair among 10,000 sentences in about 5 seconds instead of about 65 hours.)

Reading order: the sentences (a text file with one per line, or the distinct sentences of a data set) ->
their embeddings, scaled to length 1 so that a dot product is the cosine, cached on disk under a name made
from the model's weights and the sentences themselves -> held and scanned as int8 or fp32 rows
(index_rows.py) -> `SentenceIndex.search`.
"""
import gzip
import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from agree import datasets
from agree.atomic import atomic_path
from agree.web.index_rows import Fp32Rows, rows_of

MAX_SENTENCE_CHARS = 2000  # the web page's limit for one sentence: a longer line is not one sentence
MAX_LINE_BYTES = 4 * MAX_SENTENCE_CHARS + 2  # UTF-8 takes at most 4 bytes a character, plus "\r\n"
TEXT_SUFFIXES = (".txt", ".gz")
ENCODE_CHUNK = 512  # sentences per step of the progress bar
CACHE_VERSION = 1  # bump when the way embeddings are computed or stored changes


# --- The sentences ----------------------------------------------------------------------------------------

def read_sentences(spec, data_dir=None):
    """The distinct sentences that `spec` names, in order of first appearance: a .txt or .gz file with one
    sentence per line, or data-set specs as agree/datasets.py reads them (`snli:test`, a local .jsonl, ...), whose
    premises and hypotheses both count. Raises ValueError or OSError with a message naming the file (and the
    line) when there is nothing usable to index."""
    if Path(spec).suffix in TEXT_SUFFIXES:
        sentences = read_sentence_file(Path(spec))
    else:
        sentences = read_dataset_sentences(spec, data_dir)
    return list(dict.fromkeys(sentences))  # a duplicate would only fill a second place with the same line


def read_sentence_file(path):
    """Every line of a text file (gzipped when it ends in .gz) as one sentence. A blank line, bytes that are
    not UTF-8 or a line too long to be one sentence is an error naming the line: it means the file is not
    what --index expects, and an index built from part of it would answer with part of it."""
    if not path.is_file():
        raise FileNotFoundError(f"index file {path} not found "
                                "(expected a .txt or .gz file, one sentence per line)")
    sentences = []
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as file:
            # readline with a limit, so that a file with no line breaks is never read into memory whole
            for number, line in enumerate(iter(lambda: file.readline(MAX_LINE_BYTES + 1), b""), start=1):
                sentences.append(_sentence(path, number, line))
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: not a complete gzip file ({error})") from None
    if not sentences:
        raise ValueError(f"{path} is empty (expected one sentence per line)")
    return sentences


def _sentence(path, number, line):
    if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
        raise _line_error(path, number, f"longer than {MAX_SENTENCE_CHARS:,} characters")
    if number == 1:
        line = line.removeprefix(b"\xef\xbb\xbf")  # the byte-order mark some editors write
    try:
        text = line.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError as error:
        raise _line_error(path, number, f"not UTF-8 text (byte {error.start + 1} of the line)") from None
    if not text.strip():
        raise _line_error(path, number, "blank")
    if len(text) > MAX_SENTENCE_CHARS:
        raise _line_error(path, number, f"longer than {MAX_SENTENCE_CHARS:,} characters")
    return text.strip()


def _line_error(path, number, problem):
    return ValueError(f"{path}, line {number}: {problem}; expected one sentence per line")


def read_dataset_sentences(specs, data_dir):
    sentences = []
    for spec in filter(None, (s.strip() for s in specs.split(","))):
        task = datasets.TASKS_OF_DATASET.get(spec.partition(":")[0], datasets.TASKS)[0]  # stsb has scores, not labels
        for source in datasets.resolve_specs(spec, data_dir, task):
            sentences += [text.strip() for row in source.read(source.path) for text in (row.first, row.second)
                          if isinstance(text, str) and text.strip()]
    if not sentences:
        raise ValueError(f"{specs}: no sentences to index")
    return sentences


# --- Their embeddings, cached --------------------------------------------------------------------------------

def model_fingerprint(model):
    """A digest of everything that decides a sentence's embedding: the configuration (pooling, sizes), the
    tokenizer (its kind, settings and words) and every weight, byte for byte (an int8 model's too: its integers
    and scales). A model trained one more step gets another one."""
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    digest.update(model.vocab.fingerprint().encode())
    for name, value in model.state_dict().items():
        for tensor in plain_tensors(value):
            tensor = tensor.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{name} {tensor.dtype} {tensor.numel()}".encode())
            digest.update(tensor.view(torch.uint8).numpy())
    return digest.hexdigest()


def plain_tensors(value):
    """The ordinary tensors that make up a state_dict entry: itself; for an int8 layer's packed weights (a
    tuple) and quantized tensors, their integers, scales and zero points; for anything else (a dtype), its name."""
    if isinstance(value, (tuple, list)):
        return [tensor for item in value for tensor in plain_tensors(item)]
    if not isinstance(value, torch.Tensor):
        return [torch.tensor(list(str(value).encode()), dtype=torch.uint8)]
    if not value.is_quantized:
        return [value]
    if value.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        return [value.int_repr(), value.q_per_channel_scales(), value.q_per_channel_zero_points()]
    return [value.int_repr(), torch.tensor([value.q_scale()]), torch.tensor([value.q_zero_point()])]


def cache_path(cache_dir, model, sentences):
    """Where the embeddings of `sentences` under `model` are kept: the name is a digest of both, so a changed
    model or a changed file never finds the old vectors, and a copy of the file under another name does."""
    content = hashlib.sha256(json.dumps(sentences, ensure_ascii=False).encode()).hexdigest()
    key = hashlib.sha256(f"{CACHE_VERSION} {model_fingerprint(model)} {content}".encode()).hexdigest()
    return Path(cache_dir) / "index" / f"{key[:32]}.npy"


def read_cached(path, shape):
    """The cached embeddings, or None when there are none or they are not what was written (a file cut
    short or damaged by hand): then they are computed again."""
    try:
        embeddings = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if embeddings.shape != shape or embeddings.dtype != np.float32 or not np.isfinite(embeddings).all():
        return None
    return embeddings


def encode_normalised(model, sentences, progress=True):
    """(N, d) float32 embeddings of length 1. Sentences of similar length are encoded together (less
    padding); the rows come back in the order given."""
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    embeddings = np.empty((len(sentences), model.config.bert.d_model), dtype=np.float32)
    with tqdm(total=len(sentences), unit=" sentences", desc="encoding the index", disable=not progress) as bar:
        for start in range(0, len(order), ENCODE_CHUNK):
            chosen = order[start:start + ENCODE_CHUNK]
            embeddings[chosen] = F.normalize(model.encode([sentences[i] for i in chosen]), dim=1).numpy()
            bar.update(len(chosen))
    return embeddings


def build_index(model, spec, data_dir=None, cache_dir=".cache", progress=True, log=print, rows="int8"):
    """The index of the sentences that `spec` names: read from the cache when this model already encoded
    these sentences, else encoded now (with a progress bar) and cached. The cache file is written only once
    every sentence is encoded, and atomically, so an interrupted start leaves no half-built index behind.
    `rows`: how the index holds them in memory, "int8" or "fp32" (index_rows.py)."""
    sentences = read_sentences(spec, data_dir)
    path = cache_path(cache_dir, model, sentences)
    if read_cached(path, (len(sentences), model.config.bert.d_model)) is None:
        embeddings = encode_normalised(model, sentences, progress)
        with atomic_path(path) as temporary, open(temporary, "wb") as file:  # a file object: no ".npy" added
            np.save(file, embeddings)
        log(f"index: {len(sentences):,} sentences of {spec} encoded, cached in {path}")
    else:
        log(f"index: {len(sentences):,} sentences of {spec}, embeddings read from {path}")
    shown = Path(spec).name if Path(spec).suffix else spec  # the page names the file, not where it lives
    index = SentenceIndex(shown, sentences, rows_of(path, rows))
    log(f"index: held as {rows} rows, {index.rows.nbytes / 2**20:.1f} MiB")
    return index


# --- Searching --------------------------------------------------------------------------------------------

class SentenceIndex:
    """Sentences and their rows (index_rows.py: the unit-length embeddings, one row per sentence, in int8 or
    fp32; a tensor (N, d) is taken as fp32 rows); rows None: the sentences only (`without_rows`)."""

    def __init__(self, name, sentences, rows):
        if isinstance(rows, torch.Tensor):
            rows = Fp32Rows(rows)
        if rows is not None and len(rows) != len(sentences):
            raise ValueError(f"{len(sentences)} sentences but {len(rows)} embeddings")
        self.name, self.sentences, self.rows = name, sentences, rows

    def __len__(self):
        return len(self.sentences)

    @property
    def embeddings(self):
        """The exact unit-length fp32 embeddings (N, d), whatever the rows' format; None without rows."""
        return None if self.rows is None else self.rows.embeddings

    def without_rows(self):
        """The same sentences without their rows: what a server needs whose encoder process holds them
        (they would be a second copy of the index's memory)."""
        return SentenceIndex(self.name, self.sentences, None)

    def search(self, query_embedding, k):
        """The k sentences (all of them when there are fewer) nearest to a query embedding (d,) by cosine,
        best first, as [(sentence, cosine)]."""
        return [(self.sentences[i], cosine) for i, cosine in self.rows.nearest(query_embedding[None], k)[0]]
