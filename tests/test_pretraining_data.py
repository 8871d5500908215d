"""masking.py's options and corpus.py's NLI sources: NLI sentences as pre-training text (with the test
sentences left out), examples without next-sentence prediction, the share of NLI examples, random held-out
documents. BERT's own example statistics are tested in test_corpus.py."""
import json

import numpy as np
import pytest
import torch
from stories import original_ids

from agree.corpus import CorpusConfig, is_nli_source, load_corpus, read_corpus, read_documents, resolve_corpus
from bert import IGNORE_INDEX, BertConfig, BertForPreTraining, pretraining_loss
from data import CLS_ID, PAD_ID, SEP_ID
from masking import ExampleConfig, PretrainingData

PAIRS = [  # (premise, hypothesis, label): two premises with three hypotheses each, one premise with one
    ("A man plays a guitar on stage.", "A man is playing music.", "entailment"),
    ("A man plays a guitar on stage.", "The man is famous.", "neutral"),
    ("A man plays a guitar on stage.", "A woman sleeps.", "contradiction"),
    ("Two dogs run through a field.", "Animals are outside.", "entailment"),
    ("Two dogs run through a field.", "The dogs are brothers.", "neutral"),
    ("Two dogs run through a field.", "A woman sleeps.", "contradiction"),
    ("A child eats an apple.", "Somebody eats.", "entailment"),
]
TEST_PAIRS = [("A cat naps in the sun.", "A woman sleeps.", "neutral")]


def write_jsonl(path, pairs):
    path.write_text("".join(json.dumps({"sentence1": p, "sentence2": h, "gold_label": label}) + "\n"
                            for p, h, label in pairs))
    return path


def unique_words_text(path, documents=30, sentences=6):
    """Every word unique (t<doc>s<sentence>w<word>), one sentence per paragraph."""
    rng = np.random.default_rng(0)
    blocks = ["\n".join(" ".join(f"t{d}s{s}w{w}" for w in range(rng.integers(3, 10)))
                        for s in range(sentences)) for d in range(documents)]
    path.write_text("\n\n".join(blocks) + "\n")
    return path


def test_nli_pairs_read_as_documents_of_a_premise_and_its_hypotheses_without_test_sentences(tmp_path):
    train, test = write_jsonl(tmp_path / "train.jsonl", PAIRS), write_jsonl(tmp_path / "test.jsonl", TEST_PAIRS)
    assert is_nli_source(str(train)) and is_nli_source("snli:dev") and not is_nli_source(str(tmp_path / "a.txt"))
    source = resolve_corpus(str(train), tmp_path)
    assert list(read_documents(source)) == [
        ["A man plays a guitar on stage.", "A man is playing music.", "The man is famous.", "A woman sleeps."],
        ["Two dogs run through a field.", "Animals are outside.", "The dogs are brothers.", "A woman sleeps."],
        ["A child eats an apple.", "Somebody eats."]]
    excluded = frozenset({"a woman sleeps."})
    assert [len(d) for d in read_documents(source, excluded)] == [3, 3, 2]

    corpus = load_corpus([str(train)], tmp_path, tmp_path / "cache", CorpusConfig(exclude=(str(test),)))
    words = set(corpus.vocab.tokens)
    assert "sleeps" not in words and {"guitar", "dogs", "apple"} <= words  # the test sentence never entered
    assert corpus.sources == [str(train)] and corpus.num_documents == 3
    # Another list of excluded sets is another corpus, not the cached one.
    assert load_corpus([str(train)], tmp_path, tmp_path / "cache").directory != corpus.directory


def test_documents_remember_their_source_and_nli_share_sets_the_mix(tmp_path):
    text = unique_words_text(tmp_path / "text.txt")
    nli = write_jsonl(tmp_path / "nli.jsonl", [(f"Premise number {i} is here.", f"Hypothesis {i} {j}.", "neutral")
                                              for i in range(40) for j in range(3)])
    corpus = load_corpus([str(text), str(nli)], tmp_path, tmp_path / "cache")
    assert np.bincount(corpus.document_sources).tolist() == [30, 40]
    kind = np.array([1 if word[0] == "t" and word[1:2].isdigit() else -1 if word.isalnum() else 0
                     for word in corpus.vocab.tokens])  # +1 a word of the text file, -1 of the NLI file
    # An example is from the NLI file when most of its words are (masking replaces a few at random).
    from_nli = lambda data: np.mean([kind[data.make_example(rng).input_ids].sum() < 0 for _ in range(2000)])
    rng = np.random.default_rng(0)
    for share in (0.2, 0.7):
        assert abs(from_nli(PretrainingData(corpus, ExampleConfig(max_len=32, nli_share=share))) - share) < 0.04
    assert from_nli(PretrainingData(corpus, ExampleConfig(max_len=32, nli_share=0))) == 0
    with pytest.raises(ValueError, match="only one kind"):
        PretrainingData(load_corpus([str(text)], tmp_path, tmp_path / "cache"), ExampleConfig(nli_share=0.5))


def test_heldout_documents_are_random_fixed_and_never_trained_on(tmp_path):
    corpus = load_corpus([str(unique_words_text(tmp_path / "text.txt", documents=50))], tmp_path,
                         tmp_path / "cache")
    config = ExampleConfig(max_len=24, heldout_fraction=0.1)
    heldout = PretrainingData(corpus, config).heldout_documents
    assert len(heldout) == 5 and heldout.tolist() != list(range(45, 50))
    assert np.array_equal(PretrainingData(corpus, config).heldout_documents, heldout)  # the same every run
    document_of = {word: int(word[1:].split("s")[0]) for word in corpus.vocab.tokens if word.startswith("t")}
    data, rng = PretrainingData(corpus, config), np.random.default_rng(1)
    for split in ("train", "heldout"):
        words = {corpus.vocab.tokens[i] for i in original_ids(data.make_batch(rng, 200, split)).flatten().tolist()}
        documents = {document_of[w] for w in words if w in document_of}
        assert (documents <= set(heldout.tolist())) == (split == "heldout") and documents


def test_without_next_sentence_prediction_an_example_is_one_run_of_text(tmp_path):
    corpus = load_corpus([str(unique_words_text(tmp_path / "text.txt"))], tmp_path, tmp_path / "cache")
    data = PretrainingData(corpus, ExampleConfig(max_len=24, next_sentence=False, heldout_fraction=0))
    position = np.empty(len(corpus.vocab), dtype=np.int64)  # every word occurs once: id -> place in corpus
    position[corpus.token_ids] = np.arange(len(corpus.token_ids))
    batch = data.make_batch(np.random.default_rng(2), 300)
    assert (batch["nsp_labels"] == IGNORE_INDEX).all() and (batch["segment_ids"] == 0).all()
    long_ones = 0
    for row in original_ids(batch).tolist():
        length = len(row) - row.count(PAD_ID)
        assert row[0] == CLS_ID and row[length - 1] == SEP_ID and SEP_ID not in row[1:length - 1]
        places = position[row[1:length - 1]]
        assert np.all(np.diff(places) == 1)  # contiguous text
        assert len({corpus.vocab.tokens[i][1:].split("s")[0] for i in row[1:length - 1]}) == 1  # one document
        long_ones += length == 24
    assert long_ones > 100  # most reach the full length (the rest aim shorter, or end with their document)

    config = BertConfig.preset("tiny", vocab_size=len(corpus.vocab))
    model = BertForPreTraining(config)
    mlm_logits, nsp_logits = model(batch["input_ids"][:4], batch["segment_ids"][:4], batch["masked_positions"][:4])
    total, mlm, nsp = pretraining_loss(mlm_logits, batch["masked_labels"][:4], nsp_logits, batch["nsp_labels"][:4])
    assert nsp.item() == 0 and torch.equal(total, mlm + nsp)
    total.backward()  # the unused NSP head still gets a (zero) gradient, as data-parallel training needs
    assert torch.equal(model.next_sentence.weight.grad, torch.zeros_like(model.next_sentence.weight))


def test_max_samples_caps_the_text_files_but_reads_nli_sources_whole(tmp_path):
    text = unique_words_text(tmp_path / "text.txt", documents=4, sentences=3)
    nli = write_jsonl(tmp_path / "nli.jsonl", PAIRS)
    sources = [resolve_corpus(str(path), tmp_path) for path in (text, nli, text)]
    read = list(read_corpus(sources, max_paragraphs=5))
    assert [source for source, _ in read] == [0, 0, 1, 1, 1]  # 3 + 2 paragraphs of text, then all of the NLI
    assert len(read[1][1]) == 2 and read[2][1][0] == PAIRS[0][0]


def test_neighbour_pairs_are_a_sentence_and_the_next_one_of_its_document_unmasked(tmp_path):
    corpus = load_corpus([str(unique_words_text(tmp_path / "text.txt"))], tmp_path, tmp_path / "cache")
    data = PretrainingData(corpus, ExampleConfig(max_len=8, next_sentence=False, heldout_fraction=0.1))
    word = lambda i: corpus.vocab.tokens[i]  # t<document>s<sentence>w<word>
    first, second = data.make_neighbour_pairs(np.random.default_rng(3), 200)
    assert len(first) == len(second) == 200 and max(map(len, first + second)) == 8  # cut to max_len
    heldout = {int(d) for d in data.heldout_documents}
    seen = set()
    for a, b in zip(first, second):
        for row in (a, b):
            assert row[0] == CLS_ID and row[-1] == SEP_ID
            words = [word(i) for i in row[1:-1]]
            assert words and all(w.startswith("t") for w in words)  # real words: nothing masked
            assert [int(w.split("w")[1]) for w in words] == list(range(len(words)))  # the sentence's start
        doc_a, sentence_a = map(int, word(a[1])[1:].split("w")[0].split("s"))
        doc_b, sentence_b = map(int, word(b[1])[1:].split("w")[0].split("s"))
        assert doc_b == doc_a and sentence_b == sentence_a + 1 and doc_a not in heldout
        seen.add((doc_a, sentence_a))
    assert len(seen) > 100  # drawn all over the corpus
    assert data.make_neighbour_pairs(np.random.default_rng(3), 200) == (first, second)  # a function of the generator


def test_neighbour_pairs_need_documents_of_two_sentences(tmp_path):
    corpus = load_corpus([str(unique_words_text(tmp_path / "text.txt", sentences=1))], tmp_path, tmp_path / "c")
    data = PretrainingData(corpus, ExampleConfig(max_len=16, next_sentence=False, heldout_fraction=0))
    with pytest.raises(ValueError, match="one sentence each; neighbour pairs need documents of at least two"):
        data.make_neighbour_pairs(np.random.default_rng(0), 4)
