"""Faults of the files the scripts read and write, injected one at a time: damaged, empty or cut-short
weights, NaN in them, a config.json with a bad value, weights of the wrong shape, a file that is not UTF-8, a
full disk, what a killed save leaves behind. Each ends in one line naming the file (agree/errors.py) and exit
status 2, or, for an optional cache and for leftovers, in a run that goes on."""
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from training_pairs import fixed_pairs, write_jsonl

import evaluate
import finetune
import pretrain
from agree import errors
from agree.pretraining import load_pretrained_bert
from bert import BertConfig
from data import SPECIAL_TOKENS, Vocab
from sbert import SentenceBERT, SentenceBertConfig

ROOT = Path(__file__).resolve().parents[1]
OLD_BERT = Path(__file__).resolve().parent / "fixtures" / "checkpoints" / "bert"  # saved before digests
WORDS = "a man woman is playing guitar sleeping someone the".split()


@pytest.fixture(scope="module")
def saved_sbert(tmp_path_factory):
    vocab = Vocab(SPECIAL_TOKENS + tuple(WORDS))
    torch.manual_seed(0)
    model = SentenceBERT(SentenceBertConfig(BertConfig.preset("tiny", vocab_size=len(vocab))), vocab)
    directory = tmp_path_factory.mktemp("saved") / "sbert"
    model.save(directory)
    return directory


@pytest.fixture
def sbert(saved_sbert, tmp_path):
    """A fresh copy of a saved Sentence-BERT, to damage."""
    return Path(shutil.copytree(saved_sbert, tmp_path / "sbert"))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("pairs") / "pairs.jsonl", fixed_pairs()[:12])


def edit_config(directory, change):
    path = directory / "config.json"
    values = json.loads(path.read_text())
    change(values)
    path.write_text(json.dumps(values))


def damage(path, offset=None, size=64):
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset:offset + size] = bytes(255 - b for b in data[offset:offset + size])  # every byte changed
    path.write_bytes(bytes(data))


def save_with_digest(state, path):
    """torch.save `state` to a checkpoint's tensor file and record its digest, as a save would have."""
    torch.save(state, path)
    edit_config(path.parent, lambda values: values.setdefault("sha256", {}).update(
        {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}))


def one_line_error(capsys, main, argv):
    """Run a script's main as its command line does; return the line it ends with (after checking that it
    exits with status 2 and prints no traceback)."""
    with pytest.raises(SystemExit) as stopped:
        errors.run(main, argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


# --- Integrity: digests recorded and checked ----------------------------------------------------------------

def test_a_saved_sentence_bert_records_the_sha256_of_its_weights_and_loads_without_a_note(sbert, capsys):
    recorded = json.loads((sbert / "config.json").read_text())["sha256"]
    assert recorded == {"model.pt": hashlib.sha256((sbert / "model.pt").read_bytes()).hexdigest()}
    SentenceBERT.load(sbert)
    assert "note" not in capsys.readouterr().err


def test_damaged_bytes_in_the_weights_are_refused_naming_the_file(sbert):
    damage(sbert / "model.pt")
    with pytest.raises(ValueError, match=f"^{sbert / 'model.pt'} does not match the digest recorded when it was "
                                         "saved: the file is damaged"):
        SentenceBERT.load(sbert)


def test_a_pretrain_checkpoint_records_both_files_and_every_loader_checks_them(tmp_path, capsys):
    out = tmp_path / "bert"
    (tmp_path / "corpus.txt").write_text("".join(f"The {w} sees a dog. A dog sees the {w}.\n\n" for w in WORDS * 3))
    args = ["--corpus", str(tmp_path / "corpus.txt"), "--data-dir", str(tmp_path), "--cache-dir",
            str(tmp_path / "cache"), "--out", str(out), "--preset", "tiny", "--max-len", "32", "--no-transfer",
            "--batch-size", "4", "--eval-every", "2", "--eval-batches", "1", "--max-steps", "2"]
    pretrain.main(args)
    recorded = json.loads((out / "config.json").read_text())["sha256"]
    assert recorded == {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
                        for name in ("model.pt", "trainer.pt")}

    damage(out / "trainer.pt")
    assert one_line_error(capsys, pretrain.main, args[:-2] + ["--max-steps", "4", "--resume"]) == \
        f"error: {out / 'trainer.pt'} does not match the digest recorded when it was saved: the file is " \
        "damaged; restore it from a copy or train the model again"
    damage(out / "model.pt")
    for load in (load_pretrained_bert, SentenceBERT.from_pretrained_bert):
        with pytest.raises(ValueError, match=f"{out / 'model.pt'} does not match the digest"):
            load(out)


def test_fine_tuning_state_records_trainer_pt_too_and_a_damaged_one_stops_the_resume(tmp_path, pairs, capsys):
    args = ["--bert", "none", "--preset", "tiny", "--train", str(pairs), "--data-dir", str(tmp_path),
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "m"), "--batch-size", "4"]
    finetune.main(args + ["--max-steps", "1"])
    last = tmp_path / "m" / "last"
    recorded = json.loads((last / "config.json").read_text())["sha256"]
    assert recorded == {name: hashlib.sha256((last / name).read_bytes()).hexdigest()
                        for name in ("model.pt", "trainer.pt")}
    damage(last / "trainer.pt")
    assert one_line_error(capsys, finetune.main, args + ["--max-steps", "2", "--resume"]).startswith(
        f"error: {last / 'trainer.pt'} does not match the digest recorded when it was saved")


@pytest.mark.parametrize("name", ["bert.embeddings.token.weight", "head.classifier.bias"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_weights_holding_nan_or_infinity_are_refused_naming_the_file_and_the_tensor(sbert, name, value):
    state = torch.load(sbert / "model.pt", weights_only=True)
    state[name].view(-1)[1] = value
    save_with_digest(state, sbert / "model.pt")  # saved so, digest and all: a run whose loss diverged
    with pytest.raises(ValueError, match=f"^{sbert / 'model.pt'}: the tensor {name} holds 1 NaN or infinite "
                                         "value"):
        SentenceBERT.load(sbert)


def test_an_old_checkpoint_without_a_digest_is_read_with_a_note_and_its_damage_is_still_named(tmp_path, capsys):
    bert = Path(shutil.copytree(OLD_BERT, tmp_path / "bert"))
    load_pretrained_bert(bert)
    assert f"note: {bert / 'model.pt'} was saved without a digest" in capsys.readouterr().err
    (bert / "model.pt").write_bytes((bert / "model.pt").read_bytes()[:5000])  # cut short
    with pytest.raises(ValueError, match=f"^{bert / 'model.pt'} cannot be read as PyTorch weights .*: the file "
                                         "is cut short or damaged"):
        load_pretrained_bert(bert)


# --- Item 5: every model fault is one line and exit status 2 ------------------------------------------------

def empty_weights(directory):
    (directory / "model.pt").write_bytes(b"")


def without_digest_cut_short(directory):
    edit_config(directory, lambda values: values.pop("sha256"))
    (directory / "model.pt").write_bytes((directory / "model.pt").read_bytes()[:3000])


def big_d_model(directory):
    edit_config(directory, lambda values: values["bert"].update(d_model="big"))


def wider_feed_forward(directory):
    edit_config(directory, lambda values: values["bert"].update(d_ff=128))


def missing_setting(directory):
    edit_config(directory, lambda values: values.pop("pooling"))


def latin1_vocabulary(directory):
    (directory / "vocab.txt").write_bytes((directory / "vocab.txt").read_bytes().replace(b"guitar", b"guit\xe4r"))


def vocabulary_one_word_short(directory):
    (directory / "vocab.txt").write_text("".join(word + "\n" for word in SPECIAL_TOKENS + tuple(WORDS[:-1])))


def not_json(directory):
    (directory / "config.json").write_text('{"kind": "sbert",')


def latin1_config(directory):
    path = directory / "config.json"
    path.write_bytes(path.read_bytes().replace(b'"pooling": "mean"', b'"pooling": "m\xe9an"'))


@pytest.mark.parametrize("fault, expected", [
    (empty_weights, "{d}/model.pt is empty (0 bytes): the save that wrote it did not finish, or it was damaged"),
    (without_digest_cut_short, "{d}/model.pt cannot be read as PyTorch weights (RuntimeError: "),
    (big_d_model, "{d}/config.json: d_model must be a whole number of at least 1, not 'big'"),
    (wider_feed_forward, "{d}/model.pt does not fit the model its config.json describes: "
                         "bert.layers.0.feed_forward.up.weight has shape (64, 32) in the file, the config asks for "
                         "(128, 32)"),
    (missing_setting, "{d}/config.json: the setting 'pooling' is missing"),
    (latin1_vocabulary, "{d}/vocab.txt, line 11: not UTF-8 text (byte 0xe4 at byte "),
    (vocabulary_one_word_short, "{d}/vocab.txt does not fit {d}/config.json: the vocabulary has 13 words but the "
                                "model expects 14"),
    (not_json, "{d}/config.json: not valid JSON ("),
    (latin1_config, "{d}/config.json, line 18: not UTF-8 text (byte 0xe9 at byte "),
])
def test_evaluate_says_what_is_wrong_with_the_model_in_one_line(sbert, pairs, tmp_path, capsys, fault, expected):
    fault(sbert)
    line = one_line_error(capsys, evaluate.main, ["--model", str(sbert), "--test", str(pairs), "--data-dir",
                                                  str(tmp_path), "--cache-dir", str(tmp_path / "cache")])
    assert line.startswith("error: " + expected.format(d=sbert)), line


def test_with_debug_the_traceback_is_shown(sbert, pairs, tmp_path):
    big_d_model(sbert)
    with pytest.raises(ValueError, match="d_model must be a whole number") as raised:
        errors.run(evaluate.main, ["--model", str(sbert), "--test", str(pairs), "--data-dir", str(tmp_path),
                                   "--debug"])
    assert "Traceback" not in str(raised.value)  # the exception itself, for Python to print with its traceback


def test_a_bug_keeps_its_traceback_and_an_argument_error_keeps_argparse_s_answer(capsys):
    with pytest.raises(ZeroDivisionError):
        errors.run(lambda argv: 1 / 0, [])
    with pytest.raises(SystemExit) as stopped:
        errors.run(evaluate.main, ["--model", "m", "--no-such-option"])
    assert stopped.value.code == 2 and "unrecognized arguments: --no-such-option" in capsys.readouterr().err


@pytest.mark.parametrize("script, argv", [
    ("evaluate.py", ["--model", "{tmp}/nowhere"]),
    ("finetune.py", ["--bert", "{tmp}/nowhere", "--train", "x.jsonl", "--out", "{tmp}/out", "--max-steps", "1"]),
    ("pretrain.py", ["--out", "{tmp}/nowhere", "--resume", "--max-steps", "1"]),
    ("serve.py", ["--model", "{tmp}/nowhere", "--port", "0"]),
])
def test_each_script_s_command_line_ends_a_mistake_with_one_line_and_status_2(tmp_path, script, argv):
    finished = subprocess.run([sys.executable, str(ROOT / script), *(a.format(tmp=tmp_path) for a in argv)],
                              capture_output=True, text=True, cwd=tmp_path, timeout=300,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert finished.returncode == 2, finished.stderr
    assert "Traceback" not in finished.stderr
    last = finished.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and f"{tmp_path}/nowhere" in last, last


# --- Data files ---------------------------------------------------------------------------------------------

ROWS = [("A man is playing a guitar.", "Someone is playing a guitar.", "entailment"),
        ("A woman is sleeping.", "A woman is playing.", "contradiction")] * 3


@pytest.mark.parametrize("name, content, expected", [
    ("broken.jsonl", "".join(json.dumps({"sentence1": p, "sentence2": h, "gold_label": label}) + "\n"
                             for p, h, label in ROWS[:4]).encode() + b'{"sentence1": "broken\n',
     "{path}, line 5: expected a JSON object"),
    ("latin1.jsonl", "".join(json.dumps({"sentence1": p, "sentence2": h, "gold_label": label}) + "\n"
                             for p, h, label in ROWS).encode().replace(b"sleeping", b"sl\xe9eping"),
     "{path}, line 2: not UTF-8 text (byte 0xe9 at byte 1"),
    ("latin1.tsv", ("premise\thypothesis\tlabel\n" + "".join(f"{p}\t{h}\t{label}\n" for p, h, label in ROWS))
     .encode().replace(b"sleeping", b"sl\xe9eping"), "{path}, line 3: not UTF-8 text (byte 0xe9 at byte 10"),
])
def test_finetune_and_evaluate_name_the_file_and_line_of_a_bad_data_file(sbert, tmp_path, capsys, name, content,
                                                                         expected):
    path = tmp_path / name
    path.write_bytes(content)
    common = ["--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "cache")]
    line = one_line_error(capsys, finetune.main, ["--bert", str(OLD_BERT), "--train", str(path), "--out",
                                                  str(tmp_path / "out"), "--max-steps", "1", *common])
    assert line.startswith("error: " + expected.format(path=path)), line
    line = one_line_error(capsys, evaluate.main, ["--model", str(sbert), "--test", str(path), *common])
    assert line.startswith("error: " + expected.format(path=path)), line


def test_the_byte_named_is_the_one_that_is_not_utf8(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes("first line\nsecond, café\n".encode() + b"third: caf\xe9\n")
    error = errors.not_utf8(path)
    offset = int(str(error).split("at byte ")[1].split(" ")[0])
    assert path.read_bytes()[offset] == 0xE9 and "line 3" in str(error)


def test_a_metrics_log_cut_short_by_a_crash_resumes_and_a_bad_line_elsewhere_is_named(tmp_path, pairs, capsys):
    args = ["--bert", "none", "--preset", "tiny", "--train", str(pairs), "--data-dir", str(tmp_path),
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "m"), "--batch-size", "4",
            "--log-every", "1"]
    finetune.main(args + ["--max-steps", "1"])
    log = tmp_path / "m" / "metrics.jsonl"
    complete = log.read_text()
    log.write_text(complete + '{"step": 2, "lo')  # killed in the middle of an append
    finetune.main(args + ["--max-steps", "2", "--resume"])
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2]
    log.write_text('{"step": 1}\n{"step": \n' + complete)
    assert one_line_error(capsys, evaluate.main, ["--model", str(tmp_path / "m"), "--test", str(pairs),
                                                  "--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "cache")]) \
        == f"error: {log}, line 2: not a JSON record (Expecting value)"


# --- A full disk ----------------------------------------------------------------------------------------------

def torch_writer_fills_the_disk(monkeypatch):
    """torch.save on a full disk: its C++ writer raises this RuntimeError and leaves the disk with nothing free."""
    def full(value, path, *args, **kwargs):
        Path(path).write_bytes(b"PK")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1 << 30, 1 << 30, 0))


def writes_fail_with_enospc(monkeypatch):
    def full(value, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")  # as a write reports it: no file named
    monkeypatch.setattr(torch, "save", full)


@pytest.mark.parametrize("fill", [torch_writer_fills_the_disk, writes_fail_with_enospc])
def test_a_full_disk_while_saving_says_so_with_the_path(tmp_path, pairs, capsys, monkeypatch, fill):
    fill(monkeypatch)
    out = tmp_path / "model"
    line = one_line_error(capsys, finetune.main, [
        "--bert", "none", "--preset", "tiny", "--train", str(pairs), "--data-dir", str(tmp_path), "--cache-dir",
        str(tmp_path / "cache"), "--out", str(out), "--batch-size", "4", "--max-steps", "1"])
    assert line == f"error: cannot write {out / 'model.pt'}: no space left on device"
    assert not [path for path in out.rglob("*") if ".tmp" in path.name]  # nothing half-written left


def test_a_full_disk_while_saving_a_pretraining_checkpoint_names_the_checkpoint_s_file(tmp_path, capsys,
                                                                                      monkeypatch):
    (tmp_path / "corpus.txt").write_text("".join(f"The {w} sees a dog. A dog sees the {w}.\n\n" for w in WORDS * 3))
    torch_writer_fills_the_disk(monkeypatch)
    out = tmp_path / "bert"
    line = one_line_error(capsys, pretrain.main, [
        "--corpus", str(tmp_path / "corpus.txt"), "--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "c"),
        "--out", str(out), "--preset", "tiny", "--max-len", "32", "--no-transfer", "--batch-size", "4",
        "--eval-every", "1", "--eval-batches", "1", "--max-steps", "1"])
    assert line == f"error: cannot write {out / 'model.pt'}: no space left on device"  # not the temporary's name
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".bert.")) == []


def test_a_full_disk_under_the_metrics_log_names_it(tmp_path, pairs, capsys, monkeypatch):
    real_open = Path.open

    def full_when_appending(self, mode="r", *args, **kwargs):
        if mode == "a":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(self, mode, *args, **kwargs)
    monkeypatch.setattr(Path, "open", full_when_appending)
    out = tmp_path / "model"
    line = one_line_error(capsys, finetune.main, [
        "--bert", "none", "--preset", "tiny", "--train", str(pairs), "--data-dir", str(tmp_path), "--cache-dir",
        str(tmp_path / "cache"), "--out", str(out), "--batch-size", "4", "--max-steps", "1", "--log-every", "1"])
    assert line == f"error: cannot write {out / 'metrics.jsonl'}: no space left on device"


def test_the_tokenized_pairs_cache_is_optional_a_full_disk_there_is_a_warning(tmp_path, pairs, capsys, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np, "savez", full)
    finetune.main(["--bert", "none", "--preset", "tiny", "--train", str(pairs), "--data-dir", str(tmp_path),
                   "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "m"), "--batch-size", "4",
                   "--max-steps", "1"])
    out = capsys.readouterr().out
    assert f"warning: cannot cache the tokenized pairs of {pairs} in {tmp_path / 'cache'}" in out
    assert "(no space left on device); going on without the cache" in out
    assert (tmp_path / "m" / "model.pt").is_file()


# --- What a killed save leaves behind -------------------------------------------------------------------------

def test_a_resumed_pretraining_run_removes_what_a_killed_save_left(tmp_path):
    (tmp_path / "corpus.txt").write_text("".join(f"The {w} sees a dog. A dog sees the {w}.\n\n" for w in WORDS * 3))
    out = tmp_path / "bert"
    args = ["--corpus", str(tmp_path / "corpus.txt"), "--data-dir", str(tmp_path), "--cache-dir",
            str(tmp_path / "cache"), "--out", str(out), "--preset", "tiny", "--max-len", "32", "--no-transfer",
            "--batch-size", "4", "--eval-every", "2", "--eval-batches", "1"]
    pretrain.main(args + ["--max-steps", "2"])
    left = tmp_path / ".bert.k1ll3d_x.tmp"  # replace_directory's copy under construction (tempfile's name)
    kept = [tmp_path / ".bert-5min.k1ll3d_x.tmp", tmp_path / ".bertx.k1ll3d_x.tmp"]  # other checkpoints'
    for path in [left] + kept:
        path.mkdir()
        (path / "model.pt").write_bytes(b"half")
    load_pretrained_bert(out)  # a reader leaves them: for it, one may be a save in progress
    assert left.exists() and all(path.exists() for path in kept)
    pretrain.main(args + ["--max-steps", "4", "--resume"])
    assert not left.exists() and all(path.exists() for path in kept)


def test_a_resumed_fine_tuning_run_removes_leftovers_and_repairs_a_half_replaced_state(tmp_path, pairs):
    args = ["--bert", "none", "--preset", "tiny", "--train", str(pairs), "--data-dir", str(tmp_path),
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "m"), "--batch-size", "4"]
    finetune.main(args + ["--max-steps", "1"])
    out = tmp_path / "m"
    left = [out / ".last.abcd1234.tmp", out / ".model.pt.abcd1234.tmp", out / "last" / ".trainer.pt.abcd1234.tmp"]
    kept = out / "report.md.abcd1234.tmp"  # not a name that atomic_path gives
    left[0].mkdir()
    for path in left[1:] + [kept]:
        path.write_bytes(b"half")
    os.replace(out / "last", out / ".last.previous")  # killed between replace_directory's two renames
    finetune.main(args + ["--max-steps", "2", "--resume"])
    assert [path for path in left if path.exists()] == [] and kept.exists() and not (out / ".last.previous").exists()
    assert torch.load(out / "last" / "trainer.pt", weights_only=True)["step"] == 2
