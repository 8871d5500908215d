"""WordPiece, the tokenizer of Google's BERT checkpoints, written out: the same ids as Hugging Face's
`BertTokenizer` gives with an uncased or a cased vocabulary.

Two stages (Devlin et al. 2019, after Wu et al. 2016's WordPiece):
1. Basic tokenization. Clean the text (drop control characters; split on every kind of space),
   put spaces around CJK ideographs (Chinese writes no spaces, so each ideograph is a word of its own),
   lower-case and strip accents when the vocabulary is uncased, split on spaces, then cut every punctuation
   character out as a word of its own.
2. WordPiece. A word becomes the longest vocabulary entry that starts it, then the longest entry "##..." that
   continues it from there, and so on (greedy, longest match first). A word that cannot be covered that way,
   or that is longer than 100 characters, becomes a single [UNK].

A model pre-trained here keeps NLTK's words (data.py); a model imported from Hugging Face (checkpoints.py)
uses this. A checkpoint's config.json records which one it uses, and `load_tokenizer` gives that one back,
so fine-tuning, evaluation, encoding and the web page all tokenize as the model was trained.

Text is read as Google's reference tokenizer and the `tokenizers` library behind `BertTokenizer` read it. The
older pure-Python `BertTokenizer` of `transformers` 4 also composed accents (Unicode NFC) first: the ids differ
from it for cased text that writes an accent as a separate combining mark. Special-token strings typed into
the text ("[SEP]") are text here, cut into "[", "sep", "]"; `BertTokenizer` makes them the special token.
"""
import hashlib
import json
import unicodedata
from pathlib import Path

from agree.atomic import atomic_write_text
from agree.errors import UserError, read_text
from data import PAD_ID, Vocab

MAX_WORD_CHARS = 100  # longer words are [UNK] outright, as in BERT (the greedy search is quadratic)
# The CJK Unified Ideographs blocks (and compatibility blocks), as BERT lists them. Hangul, Hiragana and
# Katakana are not among them: those scripts write spaces between words.
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
REQUIRED_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


# --- Basic tokenization: text -> words ----------------------------------------------------------------------

def is_control(character):
    """Unicode "other" categories (control, format, unassigned, ...), except the three spaces BERT keeps."""
    return character not in "\t\n\r" and unicodedata.category(character).startswith("C")


def is_punctuation(character):
    """Unicode punctuation, plus every non-alphanumeric ASCII symbol ($, +, <, ^, `, ...) that Unicode files
    under symbols rather than punctuation."""
    code = ord(character)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(character).startswith("P")


def is_cjk(character):
    code = ord(character)
    return any(first <= code <= last for first, last in CJK_RANGES)


def clean(text):
    """Without U+FFFD (the mark of a decoding error) and control or format characters (NUL, zero-width
    space, ...). Every kind of space stays: `str.split` splits on them all."""
    return "".join(c for c in text if c != "\ufffd" and not is_control(c))


def strip_accents(word):
    """Decompose (NFD: "é" -> "e" + combining acute) and drop the combining marks."""
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def split_punctuation(word):
    """ "don't!" -> ["don", "'", "t", "!"]: each punctuation character alone, the runs between kept."""
    pieces, run = [], ""
    for character in word:
        if is_punctuation(character):
            pieces += [run, character] if run else [character]
            run = ""
        else:
            run += character
    return pieces + [run] if run else pieces


def basic_words(text, lowercase):
    """BERT's words before WordPiece: cleaned, CJK ideographs apart, lower-cased without accents when
    `lowercase`, split on spaces and around punctuation."""
    text = "".join(f" {c} " if is_cjk(c) else c for c in clean(text))
    if lowercase:
        text = strip_accents(text.lower())
    return [piece for word in text.split() for piece in split_punctuation(word)]


# --- WordPiece: word -> pieces --------------------------------------------------------------------------------

def word_pieces(word, vocabulary):
    """Greedy longest-match-first: ["un", "##aff", "##able"] for "unaffable"; None where no cover exists."""
    if len(word) > MAX_WORD_CHARS:
        return None
    pieces, start = [], 0
    while start < len(word):
        prefix = "##" if start else ""
        end = next((end for end in range(len(word), start, -1) if prefix + word[start:end] in vocabulary), None)
        if end is None:
            return None
        pieces.append(prefix + word[start:end])
        start = end
    return pieces


class WordPiece:
    """A BERT vocabulary (vocab.txt, one token a line, its id the line number from 0) and its tokenizer.

    It offers what the rest of agree uses of a vocabulary (`tokens`, `len`, `encode_text`, the ids of [CLS]
    and [SEP], `save`), so a SentenceBERT holds either this or a data.Vocab of NLTK words."""
    name = "wordpiece"

    def __init__(self, tokens, lowercase=True):
        self.tokens = list(tokens)
        self.lowercase = lowercase
        # As BertTokenizer reads vocab.txt: a token listed twice keeps its last line's id.
        self.ids = {token: i for i, token in enumerate(self.tokens)}
        missing = [token for token in REQUIRED_TOKENS if token not in self.ids]
        if missing:
            raise ValueError(f"the vocabulary lacks {', '.join(missing)}")
        if self.ids["[PAD]"] != PAD_ID:
            raise ValueError(f"[PAD] has id {self.ids['[PAD]']}, but agree pads with id {PAD_ID}")
        self.unk_id, self.cls_id, self.sep_id = (self.ids[t] for t in ("[UNK]", "[CLS]", "[SEP]"))
        self._ids_of_word = {}  # the pieces of a word never change: running text repeats its words a lot

    def __len__(self):
        return len(self.tokens)

    def split(self, text):
        """Text -> WordPiece tokens, [UNK] where a word cannot be covered."""
        return [self.tokens[i] for i in self.encode_text(text)]

    def encode_text(self, text):
        """Text -> ids, without [CLS] and [SEP] (data.encode_sentence adds them)."""
        return [i for word in basic_words(text, self.lowercase) for i in self._word_ids(word)]

    def _word_ids(self, word):
        ids = self._ids_of_word.get(word)
        if ids is None:
            pieces = word_pieces(word, self.ids)
            ids = [self.unk_id] if pieces is None else [self.ids[piece] for piece in pieces]
            if len(self._ids_of_word) < 1_000_000:  # bounded: a server sees endless new words
                self._ids_of_word[word] = ids
        return ids

    def settings(self):
        """What a checkpoint's config.json records as its tokenizer."""
        return {"name": self.name, "lowercase": self.lowercase}

    def fingerprint(self):
        """Changes whenever the ids of some text would: with the tokens and with the casing."""
        described = json.dumps(self.settings()) + "\n" + "\n".join(self.tokens)
        return hashlib.sha256(described.encode()).hexdigest()

    def save(self, path):
        atomic_write_text(path, "".join(token + "\n" for token in self.tokens))

    @classmethod
    def load(cls, path, lowercase=True):
        """vocab.txt as BertTokenizer reads it: every line a token, even an odd one."""
        path = Path(path)
        tokens = read_text(path).split("\n")
        if tokens[-1] == "":  # the newline after the last token
            tokens.pop()
        try:
            return cls(tokens, lowercase)
        except ValueError as error:
            raise UserError(f"{path}: {error}") from None


# --- Which tokenizer a checkpoint uses ------------------------------------------------------------------------

def load_tokenizer(directory, config):
    """The tokenizer recorded in a checkpoint's config.json, with the directory's vocab.txt. A checkpoint
    that records none comes from before the choice existed: it used NLTK's words."""
    settings = config.get("tokenizer", {"name": Vocab.name})
    vocab_path = Path(directory) / "vocab.txt"
    if settings["name"] == Vocab.name:
        return Vocab.load(vocab_path)
    if settings["name"] == WordPiece.name:
        return WordPiece.load(vocab_path, settings["lowercase"])
    raise UserError(f"{Path(directory) / 'config.json'}: unknown tokenizer {settings['name']!r}; expected "
                     f"{Vocab.name!r} or {WordPiece.name!r}")
