"""corpus.py (readers, the token cache) and masking.py (the statistics of BERT pre-training examples)."""
import errno
import gzip
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fixture_server import register_fixture, serve
from stories import original_ids

import masking
from agree import corpus, download
from agree.corpus import CorpusConfig, load_corpus, read_corpus, read_documents
from data import CLS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID, tokenize
from masking import ExampleConfig, PretrainingData

WIKITEXT = """ 
 = Valkyria Chronicles III = 
 
 Senjō no Valkyria 3 is a tactical role @-@ playing game . It sold 1 @,@ 000 copies . 
 
 = = Gameplay = = 
 
 The game has 3 @.@ 5 modes . 
 
 = = = Maps = = = 
 
 Maps are small . 
 
 = Tower Building of the Little Rock Arsenal = 
 
 The tower is old . 
 
"""
WIKITEXT_DOCUMENTS = [
    ["Senjō no Valkyria 3 is a tactical role-playing game . It sold 1,000 copies .",
     "The game has 3.5 modes .", "Maps are small ."],
    ["The tower is old ."],
]
PLAIN = "\n\nFirst paragraph. Two sentences here.\nSecond paragraph.\n\n\n\nOther document.\n\nLast one.\nEnd.\n"
PLAIN_DOCUMENTS = [["First paragraph. Two sentences here.", "Second paragraph."], ["Other document."],
                   ["Last one.", "End."]]


def write(path, text):
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as file:
        file.write(text)
    return path


def unique_word_corpus(path, documents=10, seed=0):
    """Every word is unique (d<doc>p<paragraph>w<word>) and every paragraph is one sentence, so each token
    tells exactly where it came from."""
    rng = np.random.default_rng(seed)
    lines = []
    for d in range(documents):
        for p in range(rng.integers(3, 9)):
            lines.append(" ".join(f"d{d}p{p}w{w}" for w in range(rng.integers(2, 12))))
        lines.append("")
    return write(path, "\n".join(lines) + "\n")


def load(paths, tmp_path, **settings):
    # NLTK's sentence splitter comes from NLTK_DATA (tests/conftest.py), not from the data folder.
    return load_corpus(paths, data_dir=tmp_path / "data", cache_dir=tmp_path / "cache",
                       config=CorpusConfig(**settings))


# --- Reading -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["wiki.train.raw", "wiki.valid.raw.gz", "wiki.test.tokens"])
def test_wikitext_layout_titles_start_documents_and_section_headings_are_dropped(tmp_path, name):
    assert list(read_documents(write(tmp_path / name, WIKITEXT))) == WIKITEXT_DOCUMENTS


@pytest.mark.parametrize("name", ["enwiki_00.txt", "enwiki_00.txt.gz", "wiki.txt"])
def test_plain_layout_blank_lines_separate_documents(tmp_path, name):
    assert list(read_documents(write(tmp_path / name, PLAIN))) == PLAIN_DOCUMENTS


def test_max_samples_caps_paragraphs_across_files(tmp_path):
    first, second = write(tmp_path / "a.txt", PLAIN), write(tmp_path / "b.txt.gz", PLAIN)
    documents = lambda **limit: [document for _, document in read_corpus([first, second], **limit)]
    assert sum(map(len, documents())) == 10
    assert [source for source, _ in read_corpus([first, second])] == [0, 0, 0, 1, 1, 1]
    assert documents(max_paragraphs=4) == PLAIN_DOCUMENTS[:2] + [["Last one."]]
    assert documents(max_paragraphs=6)[-1] == ["First paragraph. Two sentences here."]
    # Through the cache too: each paragraph here is one sentence.
    unique = unique_word_corpus(tmp_path / "unique.txt")
    assert len(load(unique, tmp_path, max_samples=9).sentence_offsets) - 1 == 9
    assert len(load(unique, tmp_path, max_samples=0).sentence_offsets) - 1 == sum(
        len(document) for _, document in read_corpus([unique]))


def test_unknown_corpus_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a file nor one of: wikitext-103, wikitext-2"):
        load(tmp_path / "missing.txt", tmp_path)


@pytest.mark.parametrize("name", ["notes.txt", "notes.txt.gz", "wiki.train.raw"])
def test_a_corpus_file_that_is_not_utf8_is_named_with_its_line(tmp_path, name):
    path = write(tmp_path / name, PLAIN)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "ab") as file:
        file.write(b"Caf\xe9 au lait.\n")  # latin-1
    line, byte = PLAIN.count("\n") + 1, len(PLAIN.encode()) + len(b"Caf")  # counted in the uncompressed text
    with pytest.raises(ValueError, match=rf"^{path}, line {line}: not UTF-8 text \(byte 0xe9 at byte {byte} of "
                                         r"the file\)"):
        load(path, tmp_path)


# --- The token cache -----------------------------------------------------------------------------------------

def test_tokens_sentences_documents_and_vocabulary_with_unk(tmp_path):
    text = "The cat sat. The cat ran.\nThe dog sat.\n\nThe end. Rare word.\n"
    tokenized = load(write(tmp_path / "small.txt", text), tmp_path, vocab_size=5 + 4)
    vocab = tokenized.vocab
    assert vocab.tokens[5:] == [".", "the", "cat", "sat"]  # most frequent first, ties alphabetical
    sentences = [vocab.decode(tokenized.sentence(i).tolist()) for i in range(len(tokenized.sentence_offsets) - 1)]
    assert sentences == [["the", "cat", "sat", "."], ["the", "cat", "[UNK]", "."], ["the", "[UNK]", "sat", "."],
                         ["the", "[UNK]", "."], ["[UNK]", "[UNK]", "."]]
    assert tokenized.document_offsets.tolist() == [0, 3, 5]
    assert tokenized.token_ids.dtype == np.uint16 and isinstance(tokenized.token_ids.base, np.memmap)
    assert corpus.Vocab.load(tokenized.directory / "vocab.txt").tokens == vocab.tokens
    assert vocab.encode(tokenize("The dog sat.")) == [vocab.ids["the"], UNK_ID, vocab.ids["sat"], vocab.ids["."]]


@pytest.mark.parametrize("where", ["np.save", "posix_fallocate"])
def test_a_full_disk_under_the_corpus_cache_is_an_error_naming_it(tmp_path, monkeypatch, where):
    """The corpus cache is not optional: training reads the corpus from it. Its token array is written through a
    memory map, where a full disk would be a SIGBUS; its blocks are reserved first, so it is an error instead."""
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    if where == "np.save":
        monkeypatch.setattr(np, "save", full)
    else:
        monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    with pytest.raises(OSError) as raised:
        load(unique_word_corpus(tmp_path / "corpus.txt"), tmp_path)
    assert raised.value.errno == errno.ENOSPC
    assert list((tmp_path / "cache").iterdir()) == []  # no half-built cache left behind
    named = Path(raised.value.filename)  # the cache as it would have been named, not its temporary copy
    if where == "np.save":  # a write inside numpy names no file: the cache is named
        assert named.parent == tmp_path / "cache" and named.name.startswith("corpus-")
    else:
        assert named.parent.parent == tmp_path / "cache" and named.parent.name.startswith("corpus-")
        assert named.name == "token_ids.npy"


def test_second_load_reuses_the_cache_without_tokenizing_and_never_writes_the_data_dir(tmp_path, monkeypatch, capsys):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = unique_word_corpus(data_dir / "corpus.txt")
    first = load(path, tmp_path)
    assert first.directory.parent == tmp_path / "cache"
    assert sorted(p.name for p in first.directory.iterdir()) == [
        "document_offsets.npy", "document_sources.npy", "meta.json", "sentence_offsets.npy", "token_ids.npy",
        "vocab.txt"]
    assert [p.name for p in data_dir.iterdir()] == ["corpus.txt"]

    monkeypatch.setattr(corpus, "_build_cache", lambda *args: pytest.fail("tokenized again"))
    capsys.readouterr()
    again = load(path, tmp_path)
    assert "reusing the tokenized corpus" in capsys.readouterr().err
    assert again.directory == first.directory
    assert np.array_equal(again.token_ids, first.token_ids)
    # Other settings or a changed file need a new cache.
    with pytest.raises(pytest.fail.Exception, match="tokenized again"):
        load(path, tmp_path, vocab_size=100)
    path.write_text(path.read_text() + "more text\n")
    with pytest.raises(pytest.fail.Exception, match="tokenized again"):
        load(path, tmp_path)


def test_wikitext_name_downloads_through_the_mirror_and_reads_the_raw_train_file(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    body = WIKITEXT.replace("The tower is old .", "The tower is old . It has 2 floors .")
    archive = served / "wikitext-2-raw-v1.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for split in ("train", "valid", "test"):
            zipped.writestr(f"wikitext-2-raw/wiki.{split}.raw", body if split == "train" else " = Other = \n")
    register_fixture(monkeypatch, "wikitext-2", archive)
    with serve(served) as (url, requests):
        monkeypatch.setenv(download.MIRROR_VARIABLE, url)
        tokenized = load_corpus("wikitext-2", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
        assert requests == ["/wikitext-2-raw-v1.zip"]
    assert (tmp_path / "data" / "wikitext-2-raw" / "wiki.train.raw").read_text() == body
    words = tokenized.vocab.decode(tokenized.token_ids.tolist())
    assert words[:9] == ["senjō", "no", "valkyria", "3", "is", "a", "tactical", "role-playing", "game"]
    assert "1,000" in words and "3.5" in words and "@" not in words and "gameplay" not in words
    assert tokenized.document_offsets.tolist() == [0, 4, 6]


# --- Pre-training examples -----------------------------------------------------------------------------------


def test_layout_segments_padding_and_next_sentence_pairs_match_the_source_text(tmp_path):
    tokenized = load(unique_word_corpus(tmp_path / "unique.txt", documents=12), tmp_path)
    config = ExampleConfig(max_len=24, heldout_fraction=0.2)
    data = PretrainingData(tokenized, config)
    position = np.empty(len(tokenized.vocab), dtype=np.int64)  # every word occurs once: id -> place in corpus
    position[tokenized.token_ids] = np.arange(len(tokenized.token_ids))
    document_of_token = np.repeat(np.arange(tokenized.num_documents), np.diff(
        np.asarray(tokenized.sentence_offsets)[np.asarray(tokenized.document_offsets)]))
    sentence_starts = set(tokenized.sentence_offsets.tolist())
    rng = np.random.default_rng(1)
    heldout_documents = set(data.heldout_documents.tolist())
    assert len(heldout_documents) == 2 and heldout_documents != {10, 11}  # 20% of 12, drawn at random
    labels, adjacent_checked = [], 0
    for split in ["train"] * 40 + ["heldout"] * 10:
        batch = data.make_batch(rng, 64, split)
        ids, segments = original_ids(batch), batch["segment_ids"]
        lengths = (batch["input_ids"] != PAD_ID).sum(1)
        assert ids.shape[1] == lengths.max() <= config.max_len  # padded to the longest only
        assert batch["masked_positions"].shape[1] == (batch["masked_labels"] != -100).sum(1).max()
        for row, length in enumerate(lengths.tolist()):
            row_ids, row_segments = ids[row].tolist(), segments[row].tolist()
            a_end = row_segments.index(1) - 1  # position of the first [SEP]
            assert row_ids[0] == CLS_ID and row_ids[a_end] == SEP_ID and row_ids[length - 1] == SEP_ID
            assert row_ids[length:] == [PAD_ID] * (len(row_ids) - length)
            assert row_segments == [0] * (a_end + 1) + [1] * (length - a_end - 1) + [0] * (len(row_ids) - length)
            a, b = position[row_ids[1:a_end]], position[row_ids[a_end + 1:length - 1]]
            assert np.all(np.diff(a) == 1) and np.all(np.diff(b) == 1)  # each segment is contiguous text
            (a_document,), (b_document,) = set(document_of_token[a]), set(document_of_token[b])
            in_heldout = {a_document in heldout_documents, b_document in heldout_documents}
            assert in_heldout == {split == "heldout"}
            is_random = batch["nsp_labels"][row].item()
            labels.append(is_random)
            if is_random:
                assert b_document != a_document
            else:
                assert b[0] > a[-1]
                if len(a) + len(b) < config.max_len - 3:  # nothing was cut: A's last sentence, then B's first
                    assert b[0] == a[-1] + 1 and a[0] in sentence_starts and b[0] in sentence_starts
                    adjacent_checked += 1
    assert abs(np.mean(labels) - 0.5) < 0.03  # 3200 pairs: 3.4 standard deviations
    assert adjacent_checked > 300


def test_masking_chooses_15_percent_of_words_and_corrupts_them_80_10_10(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(400)]
    zipf = 1 / np.arange(1, 401)
    lines = []
    for _ in range(60):  # documents
        for _ in range(8):  # one-sentence paragraphs of Zipf-distributed words
            lines.append(" ".join(rng.choice(words, size=rng.integers(3, 30), p=zipf / zipf.sum())) + " .")
        lines.append("")
    tokenized = load(write(tmp_path / "zipf.txt", "\n".join(lines)), tmp_path, vocab_size=105)
    data = PretrainingData(tokenized, ExampleConfig(max_len=64))
    assert data.max_predictions == 11  # round(0.15 * 64) + 1

    chosen = corrupted_to_mask = corrupted_to_random = kept = words_seen = unk_seen = 0
    while chosen < 20_000:
        batch = data.make_batch(rng, 256)
        ids, inputs = original_ids(batch), batch["input_ids"]
        used = batch["masked_labels"] != -100
        for row in range(len(ids)):
            is_word = ids[row] > UNK_ID
            positions = batch["masked_positions"][row][used[row]]
            count = min(max(int(0.15 * is_word.sum().item() + 0.5), 1), 11)
            assert len(positions) == count and len(set(positions.tolist())) == count
            assert is_word[positions].all()  # never [CLS], [SEP], [PAD] or [UNK]
            untouched = torch.ones_like(is_word)
            untouched[positions] = False
            assert torch.equal(inputs[row][untouched], ids[row][untouched])
            words_seen += is_word.sum().item()
            unk_seen += (ids[row] == UNK_ID).sum().item()
        labels = batch["masked_labels"][used]
        now = torch.gather(inputs, 1, batch["masked_positions"])[used]  # what the model sees there
        chosen += len(labels)
        corrupted_to_mask += (now == MASK_ID).sum().item()
        replaced = (now != MASK_ID) & (now != labels)
        corrupted_to_random += replaced.sum().item()
        kept += (now == labels).sum().item()
        assert (now[replaced] > UNK_ID).all() and (now[replaced] < len(tokenized.vocab)).all()
    assert unk_seen > 1000  # the rare words are [UNK] here, and were never chosen
    assert abs(chosen / words_seen - 0.15) < 0.01
    # 20,000 draws: a standard deviation is 0.0028 for 80% and 0.0021 for 10%.
    assert abs(corrupted_to_mask / chosen - 0.8) < 0.012
    assert abs(corrupted_to_random / chosen - 0.1) < 0.009  # a random word equal to the original counts as kept
    assert abs(kept / chosen - 0.1) < 0.009


def test_batches_are_a_pure_function_of_the_generator(tmp_path):
    data = PretrainingData(load(unique_word_corpus(tmp_path / "u.txt"), tmp_path), ExampleConfig(max_len=32))
    first, second = (data.make_batch(np.random.default_rng([7, 3]), 8) for _ in range(2))
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert {key: value.dtype for key, value in first.items()} == dict.fromkeys(
        ["input_ids", "segment_ids", "masked_positions", "masked_labels", "nsp_labels"], torch.int64)
    other = data.make_batch(np.random.default_rng([7, 4]), 8)
    assert not torch.equal(first["input_ids"], other["input_ids"])


def test_too_small_corpora_are_clear_errors(tmp_path):
    one_document = load(write(tmp_path / "one.txt", "A first sentence.\nA second one.\n"), tmp_path)
    with pytest.raises(ValueError, match="1 text documents; pre-training needs at least 2"):
        PretrainingData(one_document, ExampleConfig(heldout_fraction=0))
    four = load(write(tmp_path / "four.txt", "One.\n\nTwo.\n\nThree.\n\nFour.\n"), tmp_path)
    with pytest.raises(ValueError, match="have one sentence each"):
        PretrainingData(four)
    with pytest.raises(ValueError, match="no 'heldout' split"):
        PretrainingData(load(unique_word_corpus(tmp_path / "u.txt"), tmp_path),
                        ExampleConfig(heldout_fraction=0)).make_batch(np.random.default_rng(0), 2, "heldout")
    with pytest.raises(ValueError, match="no words found"):
        load(write(tmp_path / "empty.txt", "\n\n"), tmp_path)


def test_truncation_matches_berts_one_token_at_a_time_loop():
    for budget in range(2, 20):
        for length_a in range(1, 30):
            for length_b in range(1, 30):
                a, b = length_a, length_b
                while a + b > budget:  # BERT: shorten the longer segment, A on a tie
                    if a >= b:
                        a -= 1
                    else:
                        b -= 1
                assert masking._kept_lengths(length_a, length_b, budget) == (a, b)
    rng = np.random.default_rng(0)
    cuts = [masking._trim(rng, (100, 120), keep=10) for _ in range(4000)]
    assert all(end - start == 10 and 100 <= start <= 110 for start, end in cuts)
    from_front = np.array([start - 100 for start, _ in cuts])
    assert abs(from_front.mean() - 5) < 0.1 and {0, 10} <= set(from_front.tolist())  # fair coin per token
