"""wordpiece.py against Hugging Face's BertTokenizer: the expected ids in tests/fixtures/huggingface/wordpiece
were made by BertTokenizer itself (tools/make_hf_fixtures.py); this suite never imports transformers."""
import json
from pathlib import Path

import pytest

from agree.hf.wordpiece import WordPiece, basic_words, load_tokenizer, word_pieces
from data import SPECIAL_TOKENS, Vocab, encode_sentence

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "huggingface" / "wordpiece"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
CASES = [(casing, case) for casing, expected in EXPECTED.items() for case in expected["cases"]]


def fixture_tokenizer(casing):
    return WordPiece.load(FIXTURES / EXPECTED[casing]["vocab"], EXPECTED[casing]["lowercase"])


@pytest.mark.parametrize("casing, case", CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)])
def test_same_ids_as_bert_tokenizer(casing, case):
    tokenizer = fixture_tokenizer(casing)
    assert encode_sentence(tokenizer, case["text"], max_len=512) == case["ids"], case["tokens"]


@pytest.mark.parametrize("casing", EXPECTED)
def test_cut_to_max_len_as_bert_tokenizer_truncates(casing):
    truncated = EXPECTED[casing]["truncated"]
    ids = encode_sentence(fixture_tokenizer(casing), truncated["text"], truncated["max_len"])
    assert ids == truncated["ids"] and len(ids) == truncated["max_len"]


def test_fixtures_hold_the_tricky_cases():
    """The comparison above is only as good as its strings: make sure the hard ones are there."""
    texts = {case["text"] for _, case in CASES}
    assert "" in texts and "x" * 100 in texts and "x" * 101 in texts
    assert any("\u0301" in text for text in texts) and any("中" in text for text in texts)
    tokens = [token for _, case in CASES for token in case["tokens"]]
    assert "[UNK]" in tokens and any(token.startswith("##") for token in tokens)


def test_uncased_strips_accents_and_cased_keeps_them():
    assert basic_words("Café NAÏVE", lowercase=True) == ["cafe", "naive"]
    assert basic_words("Café NAÏVE", lowercase=False) == ["Café", "NAÏVE"]


def test_punctuation_and_cjk_are_words_of_their_own():
    assert basic_words("don't!中国 $5", lowercase=True) == ["don", "'", "t", "!", "中", "国", "$", "5"]


def test_greedy_longest_match_first():
    vocabulary = {"un", "unaff", "##aff", "##able", "##a", "##ffable"}
    assert word_pieces("unaffable", vocabulary) == ["unaff", "##able"]  # not un ##aff ##able: longest first
    assert word_pieces("unx", vocabulary) is None  # no cover: the whole word is [UNK]
    assert word_pieces("u" * 101, {"u", "##u"}) is None
    assert word_pieces("u" * 100, {"u", "##u"}) == ["u"] + ["##u"] * 99


def test_a_vocabulary_must_pad_with_id_0():
    with pytest.raises(ValueError, match=r"\[PAD\] has id 1"):
        WordPiece(["[UNK]", "[PAD]", "[CLS]", "[SEP]"])
    with pytest.raises(ValueError, match=r"lacks \[CLS\], \[SEP\]"):
        WordPiece(["[PAD]", "[UNK]"])


def test_save_and_load_keep_every_token_and_id(tmp_path):
    tokenizer = fixture_tokenizer("cased")
    tokenizer.save(tmp_path / "vocab.txt")
    assert (tmp_path / "vocab.txt").read_bytes() == (FIXTURES / "vocab_cased.txt").read_bytes()


def test_fingerprint_changes_with_casing_and_tokens():
    uncased = fixture_tokenizer("uncased")
    cased = WordPiece(uncased.tokens, lowercase=False)
    longer = WordPiece(uncased.tokens + ["extra"])
    assert len({uncased.fingerprint(), cased.fingerprint(), longer.fingerprint()}) == 3


def test_checkpoint_config_chooses_the_tokenizer(tmp_path):
    WordPiece.load(FIXTURES / "vocab_cased.txt").save(tmp_path / "vocab.txt")
    tokenizer = load_tokenizer(tmp_path, {"tokenizer": {"name": "wordpiece", "lowercase": False}})
    assert isinstance(tokenizer, WordPiece) and tokenizer.lowercase is False
    assert tokenizer.split("Hello, the Man") == ["Hello", ",", "the", "Man"]
    Vocab(SPECIAL_TOKENS + ("hello",)).save(tmp_path / "vocab.txt")
    for config in ({}, {"tokenizer": {"name": "nltk-words"}}):  # no record: a checkpoint from before the choice
        assert isinstance(load_tokenizer(tmp_path, config), Vocab)
    with pytest.raises(ValueError, match="unknown tokenizer 'bpe'"):
        load_tokenizer(tmp_path, {"tokenizer": {"name": "bpe"}})


def test_tokenized_pairs_are_cached_per_tokenizer_setting(tmp_path):
    """The same vocabulary read cased and uncased gives other ids for "Hello": the cache must not mix them."""
    from agree.encoded_pairs import load_encoded_pairs
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"premise": "Hello, the Man.", "hypothesis": "A man.",
                                                      "label": "entailment"}) + "\n")
    cased = fixture_tokenizer("cased")
    ids = {}
    for lowercase in (False, True):
        tokenizer = WordPiece(cased.tokens, lowercase)
        pairs = load_encoded_pairs(str(tmp_path / "pairs.jsonl"), tokenizer, 16, tmp_path,
                                   cache_dir=tmp_path / "cache", log=lambda message: None)
        ids[lowercase] = pairs.first.flat.tolist()
        assert ids[lowercase] == encode_sentence(tokenizer, "Hello, the Man.", 16)
    assert ids[False] != ids[True]
