"""agree/web/search_index.py: reading the index's sentences, their cached embeddings, and the top k by cosine."""
import gzip
import json
import math

import pytest
import torch
from tiny_sbert import untrained_model

from agree.web import search_index as search
from agree.web.search_index import SentenceIndex, build_index, read_sentences

SENTENCES = ["a man is playing guitar on stage .", "the dog runs", "a woman is sleeping",
             "the music is performing", "a dog is sleeping on the stage", "the woman runs on the stage",
             "a man is performing music .", "the dog is playing", "a woman is playing the guitar",
             "the man is sleeping"]
QUERIES = ["a man is playing music", "the dog is sleeping", "woman"]


@pytest.fixture
def model():
    return untrained_model()


@pytest.fixture
def index_file(tmp_path):
    path = tmp_path / "data" / "sentences.txt"
    path.parent.mkdir()
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    return path


def build(model, spec, cache_dir, **kwargs):
    return build_index(model, str(spec), cache_dir=cache_dir, progress=False, log=lambda line: None, **kwargs)


def counting_encodes(model, monkeypatch):
    """Count the sentences the model encodes from now on."""
    encoded, encode = [], model.encode
    monkeypatch.setattr(model, "encode", lambda sentences, **kwargs: encoded.extend(sentences) or
                        encode(sentences, **kwargs))
    return encoded


def brute_force(model, sentences, query):
    """Each sentence encoded on its own, the cosine written out, sorted: [(sentence, cosine)], best first."""
    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    q = model.encode([query])[0].tolist()
    scored = [(sentence, cosine(model.encode([sentence])[0].tolist(), q)) for sentence in sentences]
    return sorted(scored, key=lambda pair: -pair[1])


# --- results ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("k", [1, 4, 100])
def test_results_are_the_brute_force_cosine_ranking(model, index_file, tmp_path, query, k):
    index = build(model, index_file, tmp_path / "cache")
    expected = brute_force(model, SENTENCES, query)[:k]
    gaps = [a[1] - b[1] for a, b in zip(expected, expected[1:])]
    assert not gaps or min(gaps) > 1e-5  # no near-ties in the fixture (float error is ~1e-7): one order
    results = index.search(model.encode([query])[0], k)
    assert [sentence for sentence, _ in results] == [sentence for sentence, _ in expected]
    assert [cosine for _, cosine in results] == pytest.approx([cosine for _, cosine in expected], abs=1e-6)


def test_embeddings_have_length_one_and_follow_the_file_order(model, index_file, tmp_path):
    index = build(model, index_file, tmp_path / "cache")
    assert index.sentences == SENTENCES
    assert torch.linalg.vector_norm(index.embeddings, dim=1) == pytest.approx([1.0] * len(SENTENCES), abs=1e-6)
    expected = torch.nn.functional.normalize(model.encode(SENTENCES), dim=1)
    assert torch.allclose(index.embeddings, expected, atol=1e-6)


def test_the_index_is_built_in_chunks_with_a_progress_bar(model, index_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(search, "ENCODE_CHUNK", 3)
    chunks, encode = [], model.encode
    monkeypatch.setattr(model, "encode", lambda sentences: chunks.append(len(sentences)) or encode(sentences))
    index = build_index(model, str(index_file), cache_dir=tmp_path / "cache", log=print)
    assert chunks == [3, 3, 3, 1] and len(index) == 10
    printed = capsys.readouterr()
    assert "encoding the index" in printed.err and "10/10" in printed.err
    assert f"10 sentences of {index_file} encoded, cached in {tmp_path / 'cache' / 'index'}" in printed.out


def test_duplicate_sentences_are_indexed_once(model, tmp_path):
    path = tmp_path / "twice.txt"
    path.write_text("the dog runs\na woman is sleeping\n  the dog runs \n", encoding="utf-8")
    assert build(model, path, tmp_path / "cache").sentences == ["the dog runs", "a woman is sleeping"]


def test_a_query_nearer_than_any_sentence_is_still_ranked(model, index_file, tmp_path):
    index = build(model, index_file, tmp_path / "cache")
    results = index.search(model.encode(["the dog runs"])[0], 1)
    assert results[0][0] == "the dog runs" and results[0][1] == pytest.approx(1.0, abs=1e-5)


def test_an_index_refuses_embeddings_that_do_not_match_its_sentences():
    with pytest.raises(ValueError, match="2 sentences but 3 embeddings"):
        SentenceIndex("x", ["a", "b"], torch.zeros(3, 4))


# --- the cache -------------------------------------------------------------------------------------------------

def test_a_second_start_reads_the_cache_instead_of_encoding(model, index_file, tmp_path, monkeypatch):
    first = build(model, index_file, tmp_path / "cache")
    cached = list((tmp_path / "cache" / "index").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".npy"
    encoded = counting_encodes(model, monkeypatch)
    second = build(model, index_file, tmp_path / "cache")
    assert encoded == [] and torch.equal(first.embeddings, second.embeddings)


def test_the_cache_is_kept_in_the_cache_directory_never_beside_the_data(model, index_file, tmp_path):
    build(model, index_file, tmp_path / "cache")
    assert [p.name for p in index_file.parent.iterdir()] == ["sentences.txt"]


def test_the_same_sentences_under_another_name_reuse_the_cache(model, index_file, tmp_path, monkeypatch):
    build(model, index_file, tmp_path / "cache")
    copy = tmp_path / "elsewhere.txt.gz"
    copy.write_bytes(gzip.compress(index_file.read_bytes()))
    encoded = counting_encodes(model, monkeypatch)
    assert build(model, copy, tmp_path / "cache").sentences == SENTENCES and encoded == []


def test_a_changed_file_is_encoded_again(model, index_file, tmp_path, monkeypatch):
    build(model, index_file, tmp_path / "cache")
    index_file.write_text("\n".join(SENTENCES[:-1] + ["the guitar is sleeping"]) + "\n", encoding="utf-8")
    encoded = counting_encodes(model, monkeypatch)
    index = build(model, index_file, tmp_path / "cache")
    assert sorted(encoded) == sorted(index.sentences) and index.sentences[-1] == "the guitar is sleeping"
    assert len(list((tmp_path / "cache" / "index").iterdir())) == 2


def test_a_changed_model_never_reuses_the_old_vectors(model, index_file, tmp_path, monkeypatch):
    old = build(model, index_file, tmp_path / "cache")
    with torch.no_grad():
        model.bert.embeddings.token.weight[5, 0] += 0.5  # one number of one word's embedding ("a")
    encoded = counting_encodes(model, monkeypatch)
    new = build(model, index_file, tmp_path / "cache")
    assert sorted(encoded) == sorted(SENTENCES)
    assert torch.allclose(new.embeddings, torch.nn.functional.normalize(model.encode(SENTENCES), dim=1), atol=1e-6)
    assert not torch.allclose(new.embeddings, old.embeddings, atol=1e-4)


def test_a_model_with_other_settings_gets_its_own_cache(model, index_file, tmp_path, monkeypatch):
    build(model, index_file, tmp_path / "cache")
    model.config.pooling = "max"  # the same weights, another embedding
    encoded = counting_encodes(model, monkeypatch)
    build(model, index_file, tmp_path / "cache")
    assert len(encoded) == len(SENTENCES)


@pytest.mark.parametrize("damage", [
    lambda path: path.write_bytes(b"not an array"),
    lambda path: path.write_bytes(path.read_bytes()[:-40]),
    lambda path: search.np.save(path, search.np.zeros((3, 32), dtype="float32")),
    lambda path: search.np.save(path, search.np.full((10, 32), float("nan"), dtype="float32")),
])
def test_a_damaged_cache_file_is_encoded_again_and_replaced(model, index_file, tmp_path, monkeypatch, damage):
    good = build(model, index_file, tmp_path / "cache").embeddings.clone()  # int8 rows map the file being damaged
    [path] = (tmp_path / "cache" / "index").iterdir()
    damage(path)
    encoded = counting_encodes(model, monkeypatch)
    again = build(model, index_file, tmp_path / "cache")
    assert len(encoded) == len(SENTENCES) and torch.equal(again.embeddings, good)
    assert search.read_cached(path, (10, 32)) is not None


def test_an_interrupted_build_leaves_no_cache_file(model, index_file, tmp_path, monkeypatch):
    monkeypatch.setattr(search, "ENCODE_CHUNK", 4)
    calls, encode = [], model.encode

    def interrupted(sentences):
        calls.append(len(sentences))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return encode(sentences)

    monkeypatch.setattr(model, "encode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(model, index_file, tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*"))


# --- what an index may be built from ----------------------------------------------------------------------------

def test_a_gzipped_file_with_a_byte_order_mark_and_windows_line_ends_reads_as_plain_text(tmp_path):
    path = tmp_path / "sentences.gz"
    path.write_bytes(gzip.compress("\ufeffthe dog runs\r\na café\r\nthe end".encode("utf-8")))
    assert read_sentences(str(path)) == ["the dog runs", "a café", "the end"]


def test_a_data_set_gives_its_distinct_premises_and_hypotheses(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [("a man plays", "a man is asleep", "contradiction"), ("a man plays", "someone plays", "entailment"),
            ("two dogs", "a man is asleep", "-")]  # the pair without a gold label still has sentences
    path.write_text("".join(json.dumps({"premise": p, "hypothesis": h, "label": label}) + "\n"
                            for p, h, label in rows), encoding="utf-8")
    assert read_sentences(str(path)) == ["a man plays", "a man is asleep", "someone plays", "two dogs"]


@pytest.mark.parametrize("name, content, problem", [
    ("empty.txt", b"", "empty.txt is empty"),
    ("blank.txt", b"a dog\nthe man\n\nthe end\n", "blank.txt, line 3: blank"),
    ("spaces.txt", b"a dog\n \t \n", "spaces.txt, line 2: blank"),
    ("final.txt", b"a dog\n\n", "final.txt, line 2: blank"),
    ("latin1.txt", b"a dog\nun caf\xe9\n", "latin1.txt, line 2: not UTF-8 text \\(byte 7 of the line\\)"),
    ("long.txt", b"a dog\n" + "é".encode() * 2001 + b"\n", "long.txt, line 2: longer than 2,000 characters"),
    ("huge.txt", b"a dog\n" + b"x" * 10_000_000, "huge.txt, line 2: longer than 2,000 characters"),
    ("broken.gz", gzip.compress(b"a dog\nthe man\n")[:-12], "broken.gz: not a complete gzip file"),
    ("plain.gz", b"a dog\n", "plain.gz: not a complete gzip file"),
])
def test_an_unusable_index_file_is_an_error_naming_the_file_and_line(tmp_path, name, content, problem):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=problem):
        read_sentences(str(tmp_path / name))


def test_a_line_of_exactly_the_limit_is_a_sentence(tmp_path):
    path = tmp_path / "limit.txt"
    path.write_bytes("é".encode() * 2000 + b"\r\n")
    assert read_sentences(str(path)) == ["é" * 2000]


def test_a_missing_file_says_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt not found .*one sentence per line"):
        read_sentences(str(tmp_path / "missing.txt"))


def test_an_unknown_spec_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="snli:train"):
        read_sentences("snli:nonsense", tmp_path)
