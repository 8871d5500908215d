"""NLTK's tokenizers, run on the standard library's `re`: a speed-up that gives NLTK's output unchanged.

`sent_tokenize(text)` gives the sentences of `nltk.sent_tokenize(text)` and `word_tokenize(sentence)` the
words of `nltk.word_tokenize(sentence, preserve_line=True)`, character for character, only faster. data.py
tokenizes through them; nothing here is needed to understand what the tokenization is.

Why it is faster. NLTK 3.9 and later send every regular expression through `nltk.redos`: the third-party
`regex` engine, a Python wrapper around every call and a wall-clock timeout on every match (a system call to
read the clock, on this project's machine). That guard protects NLTK from patterns that its callers supply;
our tokenizers only run NLTK's own fixed patterns, and the guard only slows them down.
So this module compiles the very same patterns (source and flags, read from NLTK's classes) with `re` and
lets NLTK's own code run on them.

Where it is not used. The two engines disagree about a few characters: what `\\w`, `\\s` and `\\d` match
(combining accents are word characters to `regex` but not to `re`, `²` is one to `re` only, `regex` knows
newer Unicode digits) and which characters ignoring case equates with an ASCII letter (`ı` is `i` to `re`
only). Text that holds such a character goes to NLTK's tokenizers unchanged. Where NLTK's internals are not
what this code expects (another version: it reads NLTK's private rule lists and Punkt's classes), all text
goes to NLTK's tokenizers: the same output, only slower. tests/test_tokenize.py compares both ways on
hand-picked sentences, random strings of the pieces NLTK's rules react to, and Wikipedia.
"""
import functools
import re
import warnings

import nltk

try:
    import regex  # the engine NLTK runs its patterns on (NLTK 3.9 and later install it)
except ImportError:
    regex = None

NLTK_WORD_TOKENIZER = nltk.tokenize.NLTKWordTokenizer()  # what nltk.word_tokenize uses
WORD_RULES = ("STARTING_QUOTES", "PUNCTUATION", "PARENS_BRACKETS", "CONVERT_PARENTHESES", "DOUBLE_DASHES",
              "ENDING_QUOTES", "CONTRACTIONS2", "CONTRACTIONS3")  # NLTKWordTokenizer's rule lists
PUNKT_TOKEN_PATTERNS = ("_RE_ELLIPSIS", "_RE_NUMERIC", "_RE_INITIAL", "_RE_ALPHA")
FLAG_NAMES = ("IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "UNICODE", "ASCII")
# What building the `re` versions raises where NLTK's internals differ from those this code was written for.
NOT_AS_EXPECTED = (AttributeError, TypeError, ValueError, re.error, Warning)


def sent_tokenize(text):
    """The sentences of `nltk.sent_tokenize(text)` (English Punkt)."""
    splitter = punkt_on_re()
    if splitter is None or DISAGREEING_CHARACTER.search(text):
        return nltk.sent_tokenize(text)
    return splitter.tokenize(text)


def word_tokenize(sentence):
    """The words of `nltk.word_tokenize(sentence, preserve_line=True)`."""
    tokenizer = WORD_TOKENIZER_ON_RE
    if tokenizer is None or DISAGREEING_CHARACTER.search(sentence):
        tokenizer = NLTK_WORD_TOKENIZER
    return tokenizer.tokenize(sentence)


# --- Building the `re` versions -------------------------------------------------------------------------------

def characters_the_engines_disagree_on():
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


def on_re(value):
    """`value` with each of NLTK's compiled patterns in it compiled again by `re`. `value` is a pattern, a
    replacement string, or a list or tuple of those (NLTK's rules are (pattern, replacement) pairs)."""
    if isinstance(value, (list, tuple)):
        return type(value)(on_re(item) for item in value)
    if isinstance(value, (str, re.Pattern)):  # a replacement, or a pattern NLTK compiled with `re` itself
        return value
    if not isinstance(value, nltk.redos.TimedPattern):
        raise TypeError(f"unexpected rule part {value!r}")
    # `regex` numbers its flags differently from `re` (its ASCII is `re`'s DEBUG): carry them over by name.
    names = [name for name in FLAG_NAMES if value.flags & getattr(regex, name)]
    known = regex.VERSION0 | sum(getattr(regex, name) for name in names)  # VERSION0: `re`-like behaviour
    if value.flags & ~known:
        raise ValueError(f"{value.pattern!r} uses a `regex` flag that `re` lacks")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "possible nested set": `re` would read the pattern differently
        return re.compile(value.pattern, sum(getattr(re, name) for name in names))


def word_tokenizer_on_re():
    """NLTKWordTokenizer with its rule lists compiled by `re` (its `tokenize` method is NLTK's own), or None
    where that cannot be built."""
    if DISAGREEING_CHARACTER is None:
        return None
    nltk_class = nltk.tokenize.NLTKWordTokenizer
    try:
        rules = {name: on_re(getattr(nltk_class, name)) for name in WORD_RULES}
    except NOT_AS_EXPECTED:
        return None
    return type("NLTKWordTokenizerOnRe", (nltk_class,), {"__module__": __name__, **rules})()


DISAGREEING_CHARACTER = characters_the_engines_disagree_on()
WORD_TOKENIZER_ON_RE = word_tokenizer_on_re()


@functools.cache  # built on first use: the trained English model is found through the NLTK data path
def punkt_on_re():
    """NLTK's English Punkt splitter, with the same trained parameters, its patterns compiled by `re`;
    None where that cannot be built."""
    if DISAGREEING_CHARACTER is None:
        return None
    try:
        english = nltk.tokenize.PunktTokenizer("english")  # what nltk.sent_tokenize uses
        language = english._lang_vars
        # Punkt's language variables compile two of their patterns on first use, in these two methods.
        language_on_re = type("PunktLanguageVarsOnRe", (type(language),), {
            "__module__": __name__,
            "re_boundary_realignment": on_re(language.re_boundary_realignment),
            "_word_tokenizer_re": _returning(on_re(language._word_tokenizer_re())),
            "period_context_re": _returning(on_re(language.period_context_re())),
        })
        token_on_re = type("PunktTokenOnRe", (english._Token,), {
            "__module__": __name__, "__slots__": (),
            **{name: on_re(getattr(english._Token, name)) for name in PUNKT_TOKEN_PATTERNS},
        })
        return nltk.tokenize.PunktSentenceTokenizer(english._params, lang_vars=language_on_re(),
                                                    token_cls=token_on_re)
    except NOT_AS_EXPECTED:
        return None


def _returning(pattern):
    """A method that returns `pattern`."""
    return lambda self: pattern
