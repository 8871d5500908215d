"""nli.py: dataset readers and the validation split by premise, on fixture files written into tmp_path."""
import dataclasses
import hashlib
import http.server
import json
import threading
import zipfile
from functools import partial

import numpy as np
import pytest
from nli_files import VOCAB, WORDS, encode, load, write_jsonl, write_local_nli, write_sick
from real_data import real_data

from agree import datasets as nli
from agree import download
from data import tokenize


def snli_record(label, first="A man is playing guitar.", second="A man sleeps."):
    # The official files carry more fields than the three we read.
    return {"annotator_labels": [label], "captionID": "1.jpg#0", "gold_label": label, "pairID": "1.jpg#0r1n",
            "sentence1": first, "sentence1_binary_parse": "( A man )", "sentence2": second}


# --- Readers ------------------------------------------------------------------------------------------------

def test_snli_jsonl_labels_and_skipped_rows(tmp_path):
    write_jsonl(tmp_path / "snli_1.0" / "snli_1.0_dev.jsonl", [
        snli_record("neutral"), snli_record("entailment"), snli_record("-"), snli_record("contradiction"),
        snli_record("-"), snli_record("entailment", second="  "), snli_record("neutral", first=None)])
    pairs, lines = load("snli:dev", tmp_path)
    assert pairs.labels.tolist() == [1, 0, 2]
    assert pairs.labels.dtype == np.int64 and pairs.scores is None
    assert pairs.first == ["A man is playing guitar."] * 3 and pairs.second == ["A man sleeps."] * 3
    assert lines == ["snli:dev: kept 3 pairs, skipped 4 (label '-': 2, empty text: 2)"]


def test_mnli_jsonl_and_unknown_labels_are_counted(tmp_path):
    write_jsonl(tmp_path / "multinli_1.0" / "multinli_1.0_dev_mismatched.jsonl", [
        {"gold_label": "contradiction", "sentence1": "Two people run.", "sentence2": "Nobody runs.", "genre": "x"},
        {"gold_label": "hidden", "sentence1": "Two people run.", "sentence2": "People run."}])
    pairs, lines = load("mnli:dev_mismatched", tmp_path)
    assert pairs.labels.tolist() == [2] and pairs.second == ["Nobody runs."]
    assert lines == ["mnli:dev_mismatched: kept 1 pairs, skipped 1 (label 'hidden': 1)"]


def test_sick_splits_by_semeval_set_with_crlf_lines(tmp_path):
    write_sick(tmp_path)
    train, _ = load("sick:train", tmp_path)
    assert train.labels.tolist() == [0, 1] and train.first == ["A man is playing.", "Two people walk."]
    assert train.second == ["A man plays.", "A woman sleeps."]  # no "\r" left at the end of a field
    trial, _ = load("sick:trial", tmp_path)
    assert trial.labels.tolist() == [2]
    test, _ = load("sick:test", tmp_path, task="sts")
    assert test.scores.tolist() == pytest.approx([3.9]) and test.labels is None
    assert test.scores.dtype == np.float32


def test_stsb_scores_and_extra_fields(tmp_path):
    path = tmp_path / "stsbenchmark" / "sts-dev.csv"
    path.parent.mkdir()
    path.write_text('main-captions\tMSRvid\t2012test\t0001\t5.000\tA "plane" takes off.\tA plane is taking off.\n'
                    "main-news\theadlines\t2016\t0281\t2\tUS court limits power\tHigh court checks power\t"
                    "Europe Media Monitor\tEurope Media Monitor\n")
    pairs, lines = load("stsb:dev", tmp_path, task="sts")
    assert pairs.scores.tolist() == [5.0, 2.0]
    assert pairs.first == ['A "plane" takes off.', "US court limits power"]
    assert pairs.second == ["A plane is taking off.", "High court checks power"]
    assert lines == ["stsb:dev: kept 2 pairs, skipped 0"]


def test_local_jsonl_with_premise_hypothesis_and_numeric_labels(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", [
        {"premise": "A dog runs.", "hypothesis": "A dog moves.", "label": 0},
        {"premise": "A dog runs.", "hypothesis": "A cat runs.", "label": 2}, "",
        {"premise": "A dog runs.", "hypothesis": "It is fast.", "label": "1"}])
    pairs, _ = load(str(path), tmp_path)
    assert pairs.labels.tolist() == [0, 2, 1] and pairs.second[1] == "A cat runs."


def test_local_tsv_with_sentence_columns_and_gold_label(tmp_path):
    path = tmp_path / "mine.tsv"  # quotes are text in a .tsv, and a blank line is allowed
    path.write_text('sentence1\tsentence2\tgold_label\n"Hi," he said.\tHe spoke.\tEntailment\n'
                    "A dog runs.\tA dog sleeps.\tcontradiction\n\nA dog runs.\tA cat runs.\t-\n")
    pairs, lines = load(str(path), tmp_path)
    assert pairs.first == ['"Hi," he said.', "A dog runs."] and pairs.labels.tolist() == [0, 2]
    assert lines == [f"{path}: kept 2 pairs, skipped 1 (label '-': 1)"]


def test_local_csv_with_similarity_scores(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text('id,premise,hypothesis,similarity\r\n1,A dog runs.,A dog moves.,4.25\r\n'
                    '2,"A dog, brown, runs.","She said ""no"".",0.5\r\n')
    pairs, _ = load(str(path), tmp_path, task="sts")
    assert pairs.scores.tolist() == [4.25, 0.5]
    assert pairs.first == ["A dog runs.", "A dog, brown, runs."] and pairs.second[1] == 'She said "no".'
    with pytest.raises(ValueError, match="line 2: expected an NLI label"):
        load(str(path), tmp_path, task="nli")


@pytest.mark.parametrize("name, content, task, expected", [
    ("bad.jsonl", '{"premise": "a", "hypothesis": "b", "label": 0}\n{"premise": "a",\n', "nli",
     "line 2: expected a JSON object"),
    ("bad.jsonl", '{"premise": "a", "hypothesis": "b", "label": 0}\n{"premise": "a", "label": 0}\n', "nli",
     "line 2: expected a field named hypothesis or sentence2"),
    ("bad.tsv", "premise\thypothesis\tlabel\na\tb\t0\na\tb\n", "nli", "line 3: expected 3 columns, got 2"),
    ("bad.tsv", "text\tlabel\na\t0\n", "nli", "line 1: expected a header naming the columns"),
    ("bad.csv", "premise,hypothesis,score\na,b,1.0\na,b,high\n", "sts",
     "line 3: expected a similarity score .* got 'high'"),
    ("bad.csv", 'premise,hypothesis,score\na,b,1.0\n"a"x,b,2\n', "sts",
     "line 3: expected ','-separated fields"),
])
def test_malformed_local_files_name_file_and_line(tmp_path, name, content, task, expected):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=expected) as error:
        load(str(path), tmp_path, task)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("name, rows", [
    ("latin1.jsonl", ['{"premise": "a", "hypothesis": "b", "label": 0}', '{"premise": "café", "hypothesis": "b", '
                                                                         '"label": 0}']),
    ("latin1.tsv", ["premise\thypothesis\tlabel", "a\tb\t0", "café\tb\t0"]),
    ("latin1.csv", ["premise,hypothesis,label", "a,b,0", "café,b,0"]),
])
def test_a_file_that_is_not_utf8_is_named_with_its_line_and_byte(tmp_path, name, rows):
    content = "".join(row + "\n" for row in rows).encode("latin-1")  # é is the one byte 0xe9
    path = tmp_path / name
    path.write_bytes(content)
    byte = content.index(b"\xe9")
    with pytest.raises(ValueError, match=rf"^{path}, line {len(rows)}: not UTF-8 text \(byte 0xe9 at byte {byte} of "
                                         r"the file\); save it as UTF-8"):
        load(str(path), tmp_path)


def test_malformed_official_files_name_file_and_line(tmp_path):
    sick = write_sick(tmp_path)
    sick.write_bytes(sick.read_bytes() + b"5\tA dog runs.\tA dog sleeps.\tNEUTRAL\r\n")
    with pytest.raises(ValueError, match=r"SICK\.txt, line 6: expected 12 columns, got 4"):
        load("sick:train", tmp_path)
    stsb = tmp_path / "stsbenchmark" / "sts-train.csv"
    stsb.parent.mkdir()
    stsb.write_text("g\tf\t2012\t1\t4.0\tA b.\tC d.\ng\tf\t2012\t2\tn/a\tA b.\tC d.\n")
    with pytest.raises(ValueError, match=r"sts-train\.csv, line 2: expected a similarity score"):
        load("stsb:train", tmp_path, task="sts")


def test_comma_joined_specs_are_concatenated_in_order(tmp_path):
    write_sick(tmp_path)
    write_jsonl(tmp_path / "snli_1.0" / "snli_1.0_test.jsonl", [snli_record("contradiction")])
    pairs, lines = load("snli:test, sick:trial,sick:train", tmp_path)
    assert pairs.labels.tolist() == [2, 2, 0, 1] and pairs.name == "snli:test, sick:trial,sick:train"
    assert pairs.first == ["A man is playing guitar.", "A dog runs.", "A man is playing.", "Two people walk."]
    assert [line.split(": kept")[0] for line in lines] == ["snli:test", "sick:trial", "sick:train"]


@pytest.mark.parametrize("spec, task, expected", [
    ("snli:validation", "nli", "valid specs: snli:train|dev|test, mnli:train|dev_matched|dev_mismatched"),
    ("imdb", "nli", "unknown dataset spec 'imdb'; valid specs: .*sick:train|trial|test"),
    ("snli:dev", "sts", "snli:dev has no similarity scores; sts specs: sick, stsb"),
    ("stsb:dev", "nli", "stsb:dev has no NLI labels"),
    ("missing.jsonl", "nli", "'missing.jsonl' does not exist"),
])
def test_bad_specs_say_what_is_valid(tmp_path, spec, task, expected):
    with pytest.raises((ValueError, FileNotFoundError), match=expected):
        load(spec, tmp_path, task)


# --- Downloading a missing split through download.py's mirror ------------------------------------------------

@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on 127.0.0.1 (a free port) serving the folder it returns, as `(folder, url)`."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_missing_snli_split_is_downloaded_from_the_mirror(tmp_path, local_server, monkeypatch):
    folder, url = local_server
    archive = folder / "snli_1.0.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for split, label in (("train", "neutral"), ("dev", "entailment"), ("test", "contradiction")):
            zipped.writestr(f"snli_1.0/snli_1.0_{split}.jsonl",
                            json.dumps(snli_record(label)) + "\n" + json.dumps(snli_record("-")) + "\n")
    # download.py checks the official archive's size and SHA-256; give it the fixture's instead.
    fixture = dataclasses.replace(download.DATASETS["snli"], size=archive.stat().st_size,
                                  sha256=hashlib.sha256(archive.read_bytes()).hexdigest())
    monkeypatch.setitem(download.DATASETS, "snli", fixture)
    monkeypatch.setenv("AGREE_DOWNLOAD_MIRROR", url)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    pairs, lines = load("snli:train", data_dir)
    assert pairs.labels.tolist() == [1] and lines == ["snli:train: kept 1 pairs, skipped 1 (label '-': 1)"]
    assert (data_dir / "snli_1.0" / "snli_1.0_test.jsonl").is_file()
    archive.unlink()  # the second time the files are there and nothing is fetched
    assert load("snli:test", data_dir)[0].labels.tolist() == [2]


# --- A validation split by premise, of the text and of the token ids ------------------------------------------


def test_split_pairs_is_deterministic_and_disjoint(tmp_path):
    pairs = encode(str(write_local_nli(tmp_path / "mine.jsonl")), tmp_path, tmp_path / "cache", max_len=64)
    train, val = nli.split_pairs(pairs, 0.25, seed=3)
    assert (len(train), len(val)) == (30, 10)
    _, again_val = nli.split_pairs(pairs, 0.25, seed=3)
    assert np.array_equal(val.first.flat, again_val.first.flat)
    _, other_val = nli.split_pairs(pairs, 0.25, seed=4)
    assert not np.array_equal(val.first.flat, other_val.first.flat)
    # Every row lands in exactly one part: the (premise, hypothesis, label) rows are the same multiset.
    rows = lambda p: sorted((tuple(p.first.take([i]).flat), tuple(p.second.take([i]).flat), int(p.labels[i]))
                            for i in range(len(p)))
    assert sorted(rows(train) + rows(val)) == rows(pairs)
    text, _ = load(str(tmp_path / "mine.jsonl"), tmp_path)
    _, text_val = nli.split_pairs(text, 0.25, seed=3)  # text and token ids split the same way
    assert [VOCAB.encode(tokenize(s)) for s in text_val.first] == \
        [val.first.take([i]).flat[1:-1].tolist() for i in range(len(val))]


def test_split_pairs_keeps_all_pairs_of_a_premise_on_one_side(tmp_path):
    premises = [f"{a} {b}" for a in WORDS[:5] for b in WORDS[5:7]]  # 10 premises the vocabulary tells apart
    rows = [{"sentence1": premises[i // 3], "sentence2": WORDS[i % 13], "gold_label": "neutral"}
            for i in range(30)]  # three hypotheses per premise, as in SNLI
    path = tmp_path / "grouped.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    for pairs in (encode(str(path), tmp_path, tmp_path / "cache"), load(str(path), tmp_path)[0]):
        train, val = nli.split_pairs(pairs, 0.2, seed=0)
        assert (len(train), len(val)) == (24, 6)  # 2 of the 10 premises held out, with their 3 pairs each
        premises = lambda part: {tuple(part.first.take([i]).flat) if hasattr(part.first, "take")
                                 else part.first[i] for i in range(len(part))}
        assert not premises(train) & premises(val)


# --- The real files -------------------------------------------------------------------------------------------

def test_real_snli_dev_and_sick_counts():
    shared_data = real_data("snli_1.0").parent
    real_data("SICK")
    snli, lines = load("snli:dev", shared_data)
    assert len(snli) == 9842 and lines == ["snli:dev: kept 9,842 pairs, skipped 0"]
    assert np.bincount(snli.labels).tolist() == [3329, 3235, 3278]
    assert len(load("sick:train", shared_data)[0]) == 4439
    trial, _ = load("sick:trial", shared_data, task="sts")
    assert len(trial) == 495 and 1 <= trial.scores.min() and trial.scores.max() <= 5
