"""Text to token ids: NLTK tokenization and the vocabulary.

Everything that turns raw text into model input lives here and in the modules it introduces:
`corpus.py` (pre-training text) and `nli.py` (sentence-pair datasets) build on these pieces.
"""
import hashlib
import os
from collections import Counter
from pathlib import Path

import nltk
import numpy as np
import torch

from agree import nltk_on_re
from agree.atomic import atomic_write_text
from agree.errors import UserError, read_text

# The special tokens take the first ids, in this order, in every vocabulary.
SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")
PAD_ID, CLS_ID, SEP_ID, MASK_ID, UNK_ID = range(len(SPECIAL_TOKENS))
# Natural-language inference labels; their ids are 0, 1, 2 everywhere in agree.
LABELS = ("entailment", "neutral", "contradiction")


# --- NLTK -------------------------------------------------------------------------------------------------

def use_nltk_data(data_dir=None):
    """Make NLTK find punkt_tab offline: $NLTK_DATA first, then <data_dir>/nltk_data."""
    candidates = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    if data_dir is not None:
        candidates.append(str(Path(data_dir) / "nltk_data"))
    for candidate in reversed(candidates):
        if candidate not in nltk.data.path:
            nltk.data.path.insert(0, candidate)
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        raise UserError(  # one line: the scripts print it as their error
            f"NLTK's English sentence splitter (punkt_tab) was not found in {', '.join(nltk.data.path)}; install it "
            "with `python -m nltk.downloader -d <data-dir>/nltk_data punkt_tab`, or set NLTK_DATA to a folder that "
            "holds tokenizers/punkt_tab") from None


def split_sentences(text):
    """Punkt sentence splitting on the original casing (capital letters help it find boundaries): the
    sentences of `nltk.sent_tokenize(text)`, which nltk_on_re gives faster and unchanged."""
    return nltk_on_re.sent_tokenize(text)


def tokenize(sentence):
    """NLTK's word tokenizer on one sentence, lowercased: the words of
    `nltk.word_tokenize(sentence, preserve_line=True)`; without `preserve_line` it would split the sentence
    into sentences once more before tokenizing. nltk_on_re gives them faster and unchanged."""
    return [word.lower() for word in nltk_on_re.word_tokenize(sentence)]


# --- Vocabulary ---------------------------------------------------------------------------------------------

class Vocab:
    """Words <-> ids. The special tokens come first, then words by falling frequency."""
    name = "nltk-words"  # the tokenizer this vocabulary goes with, as a checkpoint's config.json records it
    cls_id, sep_id = CLS_ID, SEP_ID

    def __init__(self, tokens):
        tokens = list(tokens)
        if tuple(tokens[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary must start with {', '.join(SPECIAL_TOKENS)}")
        self.tokens = tokens
        self.ids = {token: i for i, token in enumerate(tokens)}
        if len(self.ids) != len(tokens):
            duplicate = next(t for t, n in Counter(tokens).items() if n > 1)
            raise ValueError(f"the vocabulary lists {duplicate!r} twice")

    @classmethod
    def from_counts(cls, counts, max_size):
        """Keep the `max_size - 5` most frequent words; ties go in alphabetical order, so a vocabulary
        built twice from the same text is the same."""
        words = sorted((w for w in counts if w not in SPECIAL_TOKENS), key=lambda w: (-counts[w], w))
        return cls(SPECIAL_TOKENS + tuple(words[:max(0, max_size - len(SPECIAL_TOKENS))]))

    def __len__(self):
        return len(self.tokens)

    def encode(self, words):
        return [self.ids.get(word, UNK_ID) for word in words]

    def decode(self, ids):
        return [self.tokens[i] for i in ids]

    def encode_text(self, text):
        return self.encode(tokenize(text))

    def settings(self):
        """What a checkpoint's config.json records as its tokenizer (wordpiece.load_tokenizer reads it)."""
        return {"name": self.name}

    def fingerprint(self):
        """Changes whenever the ids of some text would: here, with the list of words."""
        return hashlib.sha256("\n".join(self.tokens).encode()).hexdigest()

    def save(self, path):
        atomic_write_text(path, "".join(token + "\n" for token in self.tokens))

    @classmethod
    def load(cls, path):
        """A vocab.txt, one token a line; a file that is not one is a UserError naming it (and the line)."""
        path = Path(path)
        tokens = read_text(path).split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        for line_number, token in enumerate(tokens, start=1):
            if not token or token != token.strip():
                raise UserError(f"{path}, line {line_number}: expected one token without spaces, "
                                f"got {token!r}")
        try:
            return cls(tokens)
        except ValueError as error:
            raise UserError(f"{path}: {error}") from None


def encode_sentence(vocab, sentence, max_len):
    """`[CLS] words [SEP]` as ids, the words cut so that the whole fits in `max_len` positions. `vocab` is the
    model's tokenizer: a Vocab of NLTK words, or a wordpiece.WordPiece."""
    ids = vocab.encode_text(sentence)[:max_len - 2]
    return [vocab.cls_id] + ids + [vocab.sep_id]


# --- Batches of similar length ------------------------------------------------------------------------------

def by_length(lengths, group_size):
    """The positions of `lengths` in groups of up to `group_size`, shortest first (equal lengths keep their
    order): a batch of sequences of similar length pads little. Every batching of variable-length sequences
    in agree groups them this way."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[start:start + group_size] for start in range(0, len(order), group_size)]


def length_sorted_batches(ids, batch_size):
    """Id lists in padded batches of similar length: yields (the batch's positions in `ids`, its (B, T) tensor)."""
    for chosen in by_length([len(sequence) for sequence in ids], batch_size):
        yield chosen, pad([ids[i] for i in chosen])


def pad(sequences):
    """A list of id lists -> (B, longest) tensor, padded with [PAD]."""
    batch = torch.full((len(sequences), max(map(len, sequences))), PAD_ID, dtype=torch.long)
    for row, ids in enumerate(sequences):
        batch[row, :len(ids)] = torch.tensor(ids)
    return batch
