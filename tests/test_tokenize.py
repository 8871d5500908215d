"""data.py's tokenizers give exactly NLTK's output: on hand-picked sentences, on random strings made of the
pieces NLTK's rules care about, and on real Wikipedia text. They go through nltk_on_re, which runs NLTK's own
patterns on the standard library's `re` instead of `regex`; any difference between the engines would show up
here."""
import gzip
import random
import re
from pathlib import Path

import nltk
import pytest
import regex
from conftest import PUNKT_FIXTURE
from real_data import real_data

from agree import nltk_on_re
from agree.errors import UserError
from data import split_sentences, tokenize, use_nltk_data

SENTENCES = [
    'He said, "I can\'t go," and left.',
    "They're gonna win; she'd've known. 'Tis true, 'twas late, y'all.",
    "Cannot? GONNA! gimme lemme wanna gotta more'n d'ye whaddya whatcha",
    "The U.S. economy grew 3.5% in 2019 (see Fig. 2) -- a record.",
    "Prices rose from $1,000 to $12,500.50 on 1/2/2020 at 10:30, or 3,36 euros.",
    "Visit https://example.com/path?x=1&y=2#top or mail me@example.org; #tags *stars*.",
    "Wait... what?! Really?!... Yes..",
    "“Curly quotes” and ‘single ones’ and «guillemets» and „low quotes“.",
    "An en dash – an em dash — a figure dash ‒ and a bar ― between words.",
    "Café, naïve, Zürich, São Paulo, Øresund, Łódź, Ελληνικά, русский, 東京, عربي.",
    "It's John's book; the books' covers; rock 'n' roll; '90s music; the 'quoted' word.",
    "``Quoted'' text, ''double singles'' and a \"plain\" quote.",
    "[Brackets] {braces} <angles> and (parens), nested ([{<x>}]).",
    'Ends with a quote."',
    "Ends with brackets.)]}",
    "Mr. Smith met Dr. Jones at 5 p.m. on Jan. 5, e.g. at St. Mary's, i.e. nearby, etc.",
    "I'LL SEE WHAT YOU'VE DONE; WE'RE HERE AND THEY'D KNOW IT'S N'T",
    "   leading and trailing spaces   ",
    "tabs\tand\nnewlines\r\nin one sentence",
    "",
]
# Characters that `re` and `regex` treat differently, each in a sentence on which the engines' outputs
# differ: `²` is a word character to `re` only, a combining accent to `regex` only, and U+001C is
# whitespace to `re` only.
DISAGREEING = ["The x²'abc way.", "A cafe\u0301'abc menu.", "It ends.\x1c"]

PARAGRAPHS = [
    "Mr. Smith went to Washington. He arrived at 5 p.m. on Jan. 5. Then he left!",
    'He said "Stop." She stayed. (It was late.) Then: "Go!" They went.',
    "J. R. R. Tolkien wrote it... Nobody knew. The U.S. Army, No. 5, was there.",
    "“It ended.” Next one begins. ‘Single.’ «Guillemet.» Done?",
    "Version 2.0 came out in 2019. It was fine. e.g. this one. i.e. that one.",
    "One line.\nAnother line!\n\nA new paragraph? Yes.",
    "A paragraph without a full stop",
    "km² matter. Cafe\u0301s too. İt ends.",
]


@pytest.fixture(scope="module")
def punkt():
    use_nltk_data()  # as the entry points do; NLTK_DATA points at tests/fixtures (conftest.py)


def test_sentence_splitting_runs_on_the_punkt_parameters_found_on_the_nltk_data_path(punkt):
    """The suite's Punkt parameters are the fixture's, read by the product's own code: its abbreviations keep
    "Mr." and "p.m." inside a sentence; a word it does not list as one ends a sentence at its full stop."""
    found = Path(nltk.data.find("tokenizers/punkt_tab/english/").path)
    assert found.is_relative_to(PUNKT_FIXTURE)
    assert split_sentences("Mr. Smith left at 5 p.m. He sat down. Gen. Lee stayed.") == [
        "Mr. Smith left at 5 p.m.", "He sat down.", "Gen.", "Lee stayed."]


def test_without_punkt_parameters_the_error_says_where_it_looked_and_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "elsewhere")])
    with pytest.raises(UserError, match="punkt_tab.*was not found") as raised:
        use_nltk_data(tmp_path / "data")
    assert "\n" not in str(raised.value)  # the scripts print it as one line
    assert str(tmp_path / "data" / "nltk_data") in str(raised.value)
    assert "python -m nltk.downloader -d <data-dir>/nltk_data punkt_tab" in str(raised.value)


def nltk_words(sentence):
    return [word.lower() for word in nltk.word_tokenize(sentence, preserve_line=True)]


def test_the_fast_path_is_in_use(punkt):
    """With the NLTK this project installs, both tokenizers run on `re`; None would mean NLTK's internals
    changed, and every sentence would take the slow path (the same output, but several times slower)."""
    assert nltk_on_re.WORD_TOKENIZER_ON_RE is not None
    assert nltk_on_re.punkt_on_re() is not None


def test_tokenize_equals_nltk_on_hand_picked_sentences():
    for sentence in SENTENCES:
        assert tokenize(sentence) == nltk_words(sentence), sentence


def test_text_the_engines_disagree_on_goes_to_nltk():
    """Why nltk_on_re checks every sentence for such characters: on `re`, NLTK's rules would split these
    sentences differently."""
    for sentence in DISAGREEING:
        assert nltk_on_re.WORD_TOKENIZER_ON_RE.tokenize(sentence) != nltk_on_re.NLTK_WORD_TOKENIZER.tokenize(sentence)
        assert nltk_on_re.DISAGREEING_CHARACTER.search(sentence)
        assert tokenize(sentence) == nltk_words(sentence), sentence
    for text in ["İstanbul's ınstance, ſ's and \u212a's.", "An emoji 👍'tis and 𝐛𝐨𝐥𝐝 'math' letters."]:
        assert nltk_on_re.DISAGREEING_CHARACTER.search(text)  # case-insensitive look-alikes; beyond U+FFFF
        assert tokenize(text) == nltk_words(text)


def test_split_sentences_equals_nltk_on_hand_picked_paragraphs(punkt):
    for paragraph in PARAGRAPHS + SENTENCES + DISAGREEING:
        assert split_sentences(paragraph) == nltk.sent_tokenize(paragraph), paragraph


# Pieces that NLTK's rules react to, including the characters the two engines disagree about.
PIECES = ["a", "A", "is", "was", "can", "not", "gon", "na", "more", "d", "ye", "re", "ll", "ve", "s", "t",
          "n't", "'s", "abc", "'", '"', "`", "``", "''", ".", "..", "...", ",", ":", ";", "?", "!", "(", ")",
          "[", "]", "{", "}", "<", ">", "-", "--", "–", "—", "«", "»", "“", "”", "‘", "’", "„", "$", "%", "&",
          "#", "@", "*", "1", "2,000", "3.5", "U.S.", "Mr.", "No.", "I", "The", " ", " ", " ", "  ", "\t", "\n",
          "\r", "\x85", "\u2028", "é", "e\u0301", "²", "½", "\x1c", "ı", "İ", "ſ", "\u212a", "😀", "٣"]


def test_equal_to_nltk_on_random_strings(punkt):
    """A few thousand strings of random pieces: unusual neighbours that real text rarely puts together."""
    rng = random.Random(0)
    for _ in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30)))
        assert tokenize(text) == nltk_words(text), repr(text)
        assert split_sentences(text) == nltk.sent_tokenize(text), repr(text)


def test_equal_to_nltk_on_wikipedia(punkt):
    """Every 25th paragraph of a Wikipedia file (about 2,000), split and tokenized both ways."""
    with gzip.open(real_data("wikipedia/enwiki_00.txt.gz"), "rt", encoding="utf-8") as lines:
        paragraphs = [line.strip() for line in lines if line.strip()][::25][:2000]
    assert len(paragraphs) >= 1000
    # Nearly every paragraph must take the fast path, or this test would only compare NLTK with itself.
    on_nltk = sum(bool(nltk_on_re.DISAGREEING_CHARACTER.search(p)) for p in paragraphs)
    assert on_nltk < 0.05 * len(paragraphs)

    # How much faster the fast path is, is measured by benchmarks/tokenize_speed.py, not asserted here.
    sentences = [sentence for paragraph in paragraphs for sentence in split_sentences(paragraph)]
    assert sentences == [sentence for paragraph in paragraphs for sentence in nltk.sent_tokenize(paragraph)]
    assert [tokenize(s) for s in sentences] == [nltk_words(sentence) for sentence in sentences]


def test_patterns_that_re_would_read_differently_are_refused():
    """NLTK's internals are checked, not assumed: a `regex` flag that `re` lacks, or syntax that `re` reads
    another way, makes building the fast path fail with an error the builders catch."""
    with pytest.raises(nltk_on_re.NOT_AS_EXPECTED):
        nltk_on_re.on_re(nltk.redos.compile("--", regex.VERSION1))
    with pytest.raises(nltk_on_re.NOT_AS_EXPECTED):
        nltk_on_re.on_re(nltk.redos.compile("[[:alpha:]]+"))  # a POSIX class to `regex`, a nested set to `re`
    with pytest.raises(nltk_on_re.NOT_AS_EXPECTED):
        nltk_on_re.on_re(object())
    pattern = nltk_on_re.on_re(nltk.redos.compile(r"(?i)\bcan(?=not)", re.U))
    assert (pattern.pattern, pattern.flags) == (r"(?i)\bcan(?=not)", re.I | re.U)


def test_other_nltk_internals_fall_back_to_nltk(monkeypatch, punkt):
    """Where NLTK's rules are not what nltk_on_re expects, the builders give None and NLTK does the work."""
    monkeypatch.setattr(nltk.tokenize.NLTKWordTokenizer, "DOUBLE_DASHES",
                        (nltk.redos.compile("--", regex.VERSION1), r" -- "))
    assert nltk_on_re.word_tokenizer_on_re() is None
    ellipsis = nltk.redos.compile(r"\.\.+$", regex.VERSION1)
    monkeypatch.setattr(nltk.tokenize.punkt.PunktToken, "_RE_ELLIPSIS", ellipsis)
    nltk_on_re.punkt_on_re.cache_clear()
    try:
        assert nltk_on_re.punkt_on_re() is None
    finally:
        monkeypatch.undo()
        nltk_on_re.punkt_on_re.cache_clear()
    assert nltk_on_re.punkt_on_re() is not None
