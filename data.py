"""Text to token ids: NLTK tokenization and the vocabulary.

Everything that turns raw text into model input lives here and in the modules it introduces:
`corpus.py` (pre-training text) and `nli.py` (sentence-pair datasets) build on these pieces.
"""
import functools
import hashlib
import os
import re
import warnings
from collections import Counter
from pathlib import Path

import nltk

try:
    import regex  # the engine NLTK runs its patterns on (NLTK 3.9 and later install it)
except ImportError:
    regex = None

from atomic import atomic_write_text

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
        searched = "\n  ".join(nltk.data.path)
        raise RuntimeError(
            "NLTK's English sentence splitter (punkt_tab) was not found. Searched:\n  " + searched +
            "\nInstall it with `python -m nltk.downloader -d <data-dir>/nltk_data punkt_tab`, "
            "or set NLTK_DATA to a folder that holds tokenizers/punkt_tab.") from None


def split_sentences(text):
    """Punkt sentence splitting on the original casing (capital letters help it find boundaries). The same
    sentences as `nltk.sent_tokenize(text)`."""
    splitter = _punkt_on_re()
    if splitter is None or _DISAGREEING_CHARACTER.search(text):
        return nltk.sent_tokenize(text)
    return splitter.tokenize(text)


def tokenize(sentence):
    """NLTK's word tokenizer on one sentence, lowercased. The same words as
    `nltk.word_tokenize(sentence, preserve_line=True)`; without `preserve_line` it would split the sentence
    into sentences once more before tokenizing."""
    tokenizer = _WORD_TOKENIZER_ON_RE
    if tokenizer is None or _DISAGREEING_CHARACTER.search(sentence):
        tokenizer = _NLTK_WORD_TOKENIZER
    return [word.lower() for word in tokenizer.tokenize(sentence)]


# --- NLTK's tokenizers, run on the standard library's `re` ----------------------------------------------------
# NLTK 3.9 and later send every regular expression through `nltk.redos`: the third-party `regex` engine, a
# Python wrapper around every call and a wall-clock timeout on every match (a system call to read the clock,
# on this project's machine). That guard protects NLTK from patterns that its callers supply; our tokenizers
# only run NLTK's own fixed patterns, and through the guard they take twice as long as on `re`. So we compile
# the very same patterns (source and flags, read from NLTK's classes) with `re` and let NLTK's own code run
# on them.
# The two engines disagree about a few characters: what `\w`, `\s` and `\d` match (combining accents are word
# characters to `regex` but not to `re`, `²` is one to `re` only, `regex` knows newer Unicode digits) and
# which characters ignoring case equates with an ASCII letter (`ı` is `i` to `re` only). Text that holds such
# a character goes to NLTK's tokenizers unchanged, so the output is NLTK's, character for character. Where
# NLTK's internals are not what this code expects (another version), all text goes to NLTK's tokenizers:
# the same output, only slower.

_NLTK_WORD_TOKENIZER = nltk.tokenize.NLTKWordTokenizer()  # what nltk.word_tokenize uses
_WORD_RULES = ("STARTING_QUOTES", "PUNCTUATION", "PARENS_BRACKETS", "CONVERT_PARENTHESES", "DOUBLE_DASHES",
               "ENDING_QUOTES", "CONTRACTIONS2", "CONTRACTIONS3")  # NLTKWordTokenizer's rule lists
_PUNKT_TOKEN_PATTERNS = ("_RE_ELLIPSIS", "_RE_NUMERIC", "_RE_INITIAL", "_RE_ALPHA")
_FLAG_NAMES = ("IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "UNICODE", "ASCII")
# What building the `re` versions raises where NLTK's internals differ from those this code was written for.
_NOT_AS_EXPECTED = (AttributeError, TypeError, ValueError, re.error, Warning)


def _characters_the_engines_disagree_on():
    """A `re` pattern that finds any character on which `re` and `regex` differ in what NLTK's patterns use:
    the classes `\\w`, `\\s` and `\\d`, and matching ASCII letters while ignoring case. Characters beyond
    U+FFFF (emoji, historic scripts) are not compared, to keep this quick (~0.1 s), and count as disagreeing.
    None without `regex`: an NLTK that does not use it gains nothing here."""
    if regex is None:
        return None
    every_character = "".join(map(chr, range(0x10000)))
    disagreeing = set()
    for character_class in (r"\w", r"\s", r"\d"):
        disagreeing |= set(re.findall(character_class, every_character)) ^ \
            set(regex.findall(character_class, every_character))
    for engine in (re, regex):  # the ASCII letters themselves are the same in both, only the rest may differ
        disagreeing |= {c for c in engine.findall("(?i)[a-z]", every_character) if not c.isascii()}
    return re.compile("[" + "".join(map(re.escape, sorted(disagreeing))) + "\U00010000-\U0010ffff]")


def _on_re(value):
    """`value` with each of NLTK's compiled patterns in it compiled again by `re`. `value` is a pattern, a
    replacement string, or a list or tuple of those (NLTK's rules are (pattern, replacement) pairs)."""
    if isinstance(value, (list, tuple)):
        return type(value)(_on_re(item) for item in value)
    if isinstance(value, (str, re.Pattern)):  # a replacement, or a pattern NLTK compiled with `re` itself
        return value
    if not isinstance(value, nltk.redos.TimedPattern):
        raise TypeError(f"unexpected rule part {value!r}")
    # `regex` numbers its flags differently from `re` (its ASCII is `re`'s DEBUG): carry them over by name.
    names = [name for name in _FLAG_NAMES if value.flags & getattr(regex, name)]
    known = regex.VERSION0 | sum(getattr(regex, name) for name in names)  # VERSION0: `re`-like behaviour
    if value.flags & ~known:
        raise ValueError(f"{value.pattern!r} uses a `regex` flag that `re` lacks")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "possible nested set": `re` would read the pattern differently
        return re.compile(value.pattern, sum(getattr(re, name) for name in names))


def _word_tokenizer_on_re():
    """NLTKWordTokenizer with its rule lists compiled by `re` (its `tokenize` method is NLTK's own), or None
    where that cannot be built."""
    if _DISAGREEING_CHARACTER is None:
        return None
    nltk_class = nltk.tokenize.NLTKWordTokenizer
    try:
        rules = {name: _on_re(getattr(nltk_class, name)) for name in _WORD_RULES}
    except _NOT_AS_EXPECTED:
        return None
    return type("NLTKWordTokenizerOnRe", (nltk_class,), {"__module__": __name__, **rules})()


_DISAGREEING_CHARACTER = _characters_the_engines_disagree_on()
_WORD_TOKENIZER_ON_RE = _word_tokenizer_on_re()


@functools.cache  # built on first use: the trained English model is found through the NLTK data path
def _punkt_on_re():
    """NLTK's English Punkt splitter, with the same trained parameters, its patterns compiled by `re`;
    None where that cannot be built."""
    if _DISAGREEING_CHARACTER is None:
        return None
    try:
        english = nltk.tokenize.PunktTokenizer("english")  # what nltk.sent_tokenize uses
        language = english._lang_vars
        # Punkt's language variables compile two of their patterns on first use, in these two methods.
        language_on_re = type("PunktLanguageVarsOnRe", (type(language),), {
            "__module__": __name__,
            "re_boundary_realignment": _on_re(language.re_boundary_realignment),
            "_word_tokenizer_re": _returning(_on_re(language._word_tokenizer_re())),
            "period_context_re": _returning(_on_re(language.period_context_re())),
        })
        token_on_re = type("PunktTokenOnRe", (english._Token,), {
            "__module__": __name__, "__slots__": (),
            **{name: _on_re(getattr(english._Token, name)) for name in _PUNKT_TOKEN_PATTERNS},
        })
        return nltk.tokenize.PunktSentenceTokenizer(english._params, lang_vars=language_on_re(),
                                                    token_cls=token_on_re)
    except _NOT_AS_EXPECTED:
        return None


def _returning(pattern):
    """A method that returns `pattern`."""
    return lambda self: pattern


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
        path = Path(path)
        tokens = path.read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        for line_number, token in enumerate(tokens, start=1):
            if not token or token != token.strip():
                raise ValueError(f"{path}, line {line_number}: expected one token without spaces, "
                                 f"got {token!r}")
        try:
            return cls(tokens)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


def encode_sentence(vocab, sentence, max_len):
    """`[CLS] words [SEP]` as ids, the words cut so that the whole fits in `max_len` positions. `vocab` is the
    model's tokenizer: a Vocab of NLTK words, or a wordpiece.WordPiece."""
    ids = vocab.encode_text(sentence)[:max_len - 2]
    return [vocab.cls_id] + ids + [vocab.sep_id]
