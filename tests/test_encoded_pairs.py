"""Sentence pairs as token ids: what the ids are, their cache on disk, and the batches made of them."""
import numpy as np
import pytest
import torch
from nli_files import VOCAB, encode, load, write_local_nli, write_sick

from agree import encoded_pairs
from data import CLS_ID, PAD_ID, SEP_ID, Vocab, tokenize

# --- Token ids and their cache ------------------------------------------------------------------------------

def test_encoded_pairs_are_cls_words_sep_cut_to_max_len(tmp_path):
    write_sick(tmp_path)
    path = write_local_nli(tmp_path / "mine.jsonl")
    pairs = encode(f"sick:train,{path}", tmp_path, tmp_path / "cache", max_len=8)
    text, _ = load(f"sick:train,{path}", tmp_path)
    assert len(pairs) == len(text) == 42 and pairs.labels.tolist() == text.labels.tolist()
    for i in (0, 1, 2, 41):
        for side, sentences in ((pairs.first, text.first), (pairs.second, text.second)):
            ids = side.flat[side.offsets[i]:side.offsets[i + 1]].tolist()
            assert ids == [CLS_ID] + VOCAB.encode(tokenize(sentences[i]))[:6] + [SEP_ID]


def test_the_cache_is_reused_and_lives_in_cache_dir(tmp_path, monkeypatch):
    data_dir, cache_dir = tmp_path / "data", tmp_path / "cache"
    write_local_nli(data_dir / "mine.jsonl")
    spec = str(data_dir / "mine.jsonl")
    first = encode(spec, data_dir, cache_dir)
    assert [p.name for p in data_dir.iterdir()] == ["mine.jsonl"]
    assert len(list((cache_dir / "pairs").glob("*.npz"))) == 1

    def no_tokenizing(*args):
        raise AssertionError("tokenized again although the cache was valid")
    monkeypatch.setattr(encoded_pairs, "encode_sentence", no_tokenizing)
    second = encode(spec, data_dir, cache_dir)
    for a, b in ((first.first, second.first), (first.second, second.second)):
        assert np.array_equal(a.flat, b.flat) and np.array_equal(a.offsets, b.offsets)
    assert np.array_equal(first.labels, second.labels)
    for changed in ({"max_len": 9}, {"vocab": Vocab(VOCAB.tokens + ["extra"])}):
        with pytest.raises(AssertionError, match="tokenized again"):
            encode(spec, data_dir, cache_dir, **changed)


def test_the_cache_notices_a_changed_file(tmp_path):
    path = write_local_nli(tmp_path / "mine.jsonl", count=5)
    assert len(encode(str(path), tmp_path, tmp_path / "cache")) == 5
    write_local_nli(path, count=7)
    assert len(encode(str(path), tmp_path, tmp_path / "cache")) == 7


def test_the_cache_is_optional_a_write_that_fails_is_a_warning_and_a_damaged_file_is_tokenized_again(
        tmp_path, monkeypatch):
    path, cache_dir = write_local_nli(tmp_path / "mine.jsonl", count=6), tmp_path / "cache"
    lines = []
    encode_logged = lambda: encoded_pairs.load_encoded_pairs(str(path), VOCAB, 16, tmp_path, cache_dir=cache_dir,
                                                             log=lines.append)
    real_savez = np.savez

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez", full)
    assert len(encode_logged()) == 6
    assert lines[-1].startswith(f"warning: cannot cache the tokenized pairs of {path} in {cache_dir / 'pairs'}/")
    assert lines[-1].endswith("(no space left on device); going on without the cache")
    assert list((cache_dir / "pairs").iterdir()) == []

    monkeypatch.setattr(np, "savez", real_savez)
    first = encode_logged()
    (cached,) = (cache_dir / "pairs").iterdir()
    cached.write_bytes(cached.read_bytes()[:100])  # cut short
    again = encode_logged()
    assert lines[-2].startswith(f"warning: the cached pairs in {cached} cannot be read (")
    assert lines[-2].endswith(f"); tokenizing {path} again")
    assert np.array_equal(again.first.flat, first.first.flat) and np.array_equal(again.labels, first.labels)
    assert encoded_pairs.load_encoded_pairs(str(path), VOCAB, 16, tmp_path, cache_dir=cache_dir,
                                            log=lines.append).labels.tolist() == first.labels.tolist()
    assert lines[-1] == f"{path}: 6 tokenized pairs from {cached}"  # the cache written again, and read


# --- Batches --------------------------------------------------------------------------------------------------

def unpadded(ids):
    return [row[row != PAD_ID].tolist() for row in ids]


def test_each_side_is_padded_to_its_longest_sentence_in_the_batch(tmp_path):
    pairs = encode(str(write_local_nli(tmp_path / "mine.jsonl")), tmp_path, tmp_path / "cache", max_len=64)
    for batch in encoded_pairs.training_batches(pairs, 4, seed=0, epoch=0):
        for key, side in (("first_ids", pairs.first), ("second_ids", pairs.second)):
            lengths = side.lengths()[batch["indices"].numpy()]
            assert batch[key].dtype == torch.long and batch[key].shape == (len(lengths), lengths.max())
            assert unpadded(batch[key]) == [side.take([i]).flat.tolist() for i in batch["indices"]]
        assert batch["labels"].dtype == torch.long
        assert batch["labels"].tolist() == pairs.labels[batch["indices"].numpy()].tolist()


def test_an_epoch_holds_every_row_once_in_batches_of_similar_length(tmp_path):
    pairs = encode(str(write_local_nli(tmp_path / "mine.jsonl", count=403)), tmp_path, tmp_path / "cache",
                   max_len=64)
    batches = encoded_pairs.epoch_batch_indices(pairs, 8, seed=1, epoch=0)
    assert len(batches) == encoded_pairs.batches_per_epoch(pairs, 8) == 51
    assert sorted(np.concatenate(batches).tolist()) == list(range(403))
    padded_ids = sum(b.numel() for batch in encoded_pairs.training_batches(pairs, 8, seed=1, epoch=0)
                     for b in (batch["first_ids"], batch["second_ids"]))
    real_ids = len(pairs.first.flat) + len(pairs.second.flat)
    shuffled = np.random.default_rng(0).permutation(403)
    unsorted_ids = sum(len(b) * side.lengths()[b].max() for side in (pairs.first, pairs.second)
                       for b in np.array_split(shuffled, 51))
    assert padded_ids - real_ids < (unsorted_ids - real_ids) / 3


def test_batch_order_is_a_function_of_seed_and_epoch(tmp_path):
    pairs = encode(str(write_local_nli(tmp_path / "mine.jsonl")), tmp_path, tmp_path / "cache")
    order = lambda seed, epoch: [b.tolist() for b in encoded_pairs.epoch_batch_indices(pairs, 4, seed, epoch)]
    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1) and order(0, 0) != order(1, 0)
    resumed = [batch["indices"].tolist() for batch in encoded_pairs.training_batches(pairs, 4, seed=0, epoch=1, skip=3)]
    assert resumed == order(0, 1)[3:]


def test_evaluation_batches_give_back_every_row_in_file_order(tmp_path):
    pairs = encode(str(write_local_nli(tmp_path / "mine.jsonl", count=25)), tmp_path, tmp_path / "cache")
    first_rows, labels = [None] * 25, np.full(25, -1)
    batches = list(encoded_pairs.evaluation_batches(pairs, 4))
    assert sorted(torch.cat([b["indices"] for b in batches]).tolist()) == list(range(25))
    for batch in batches:
        labels[batch["indices"].numpy()] = batch["labels"].numpy()
        for row, ids in zip(batch["indices"].tolist(), unpadded(batch["first_ids"])):
            first_rows[row] = ids
    assert labels.tolist() == pairs.labels.tolist()
    assert first_rows == [pairs.first.take([i]).flat.tolist() for i in range(25)]


def test_sts_batches_carry_float_scores(tmp_path):
    write_sick(tmp_path)
    pairs = encoded_pairs.load_encoded_pairs("sick:train,sick:test", VOCAB, 16, tmp_path, task="sts",
                                   cache_dir=tmp_path / "cache", log=lambda line: None)
    batch = next(encoded_pairs.evaluation_batches(pairs, 8))
    assert "labels" not in batch and batch["scores"].dtype == torch.float32
    assert sorted(batch["scores"].tolist()) == pytest.approx([1.2, 3.9, 4.5])
