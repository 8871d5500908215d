"""evaluate.py on a tiny Sentence-BERT, a tiny pre-trained BERT and fixture files written here."""
import contextlib
import io
import json
import os
import random
import xml.etree.ElementTree as ElementTree
from datetime import datetime
from pathlib import Path

import pytest
import torch

import evaluate
import pretrain
from agree.encoded_pairs import load_encoded_pairs
from agree.errors import UserError
from agree.training import MetricsLog
from bert import BertConfig
from data import LABELS, SPECIAL_TOKENS, Vocab, tokenize
from metrics import confusion_matrix, format_classification_report, pearson, spearman
from sbert import SentenceBERT, SentenceBertConfig

CPU = torch.device("cpu")

# 6 entailment, 4 neutral, 2 contradiction: every class has its own share of the data.
NLI_ROWS = [
    ("A man is playing a guitar.", "A man plays music.", "entailment"),
    ("A woman is riding a bike.", "A person rides a bike.", "entailment"),
    ("Two dogs run in the park.", "Animals are outside.", "entailment"),
    ("A girl is eating an apple.", "A child eats fruit.", "entailment"),
    ("The old man sleeps on a bench.", "A man is asleep.", "entailment"),
    ("A boy kicks a red ball.", "A child plays with a ball.", "entailment"),
    ("A man is playing a guitar.", "A man plays on a stage.", "neutral"),
    ("A woman is riding a bike.", "A woman rides to work.", "neutral"),
    ("Two dogs run in the park.", "Two dogs chase a ball.", "neutral"),
    ("A girl is eating an apple.", "A girl is hungry.", "neutral"),
    ("The old man sleeps on a bench.", "The old man is running.", "contradiction"),
    ("A boy kicks a red ball.", "A boy is sleeping in bed.", "contradiction"),
]
STS_ROWS = [
    ("A man is playing a guitar.", "A man plays a guitar.", 4.8),
    ("A woman is riding a bike.", "A dog runs in the park.", 0.4),
    ("Two dogs run in the park.", "Dogs are running outside.", 4.0),
    ("A girl is eating an apple.", "A child eats fruit.", 3.2),
    ("The old man sleeps on a bench.", "A boy kicks a red ball.", 0.0),
    ("A boy kicks a red ball.", "A child plays with a ball.", 3.6),
    ("A man plays music.", "A woman rides to work.", 1.0),
    ("The old man is running.", "An old man runs.", 4.6),
]


# --- Fixtures -------------------------------------------------------------------------------------------------

def write_nli(path):
    path.write_text("".join(json.dumps({"premise": p, "hypothesis": h, "label": label}) + "\n"
                            for p, h, label in NLI_ROWS))
    return path


def write_sts(path, rows):
    path.write_text("sentence1\tsentence2\tscore\n" + "".join(f"{a}\t{b}\t{score}\n" for a, b, score in rows))
    return path


def tiny_model(seed=0):
    words = sorted({word for a, b, _ in NLI_ROWS + STS_ROWS for word in tokenize(a) + tokenize(b)})
    vocab = Vocab(SPECIAL_TOKENS + tuple(words))
    torch.manual_seed(seed)
    return SentenceBERT(SentenceBertConfig(BertConfig.preset("tiny", vocab_size=len(vocab))), vocab).eval()


def write_training_log(model_dir):
    records = [{"step": 10, "loss": 1.1, "train_accuracy": 0.35}, {"step": 20, "loss": 1.0, "train_accuracy": 0.4},
               {"step": 20, "val_loss": 1.05, "val_accuracy": 0.38}]
    (model_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def encoded(model, path, task, cache_dir):
    return load_encoded_pairs(str(path), model.vocab, model.config.bert.max_len, path.parent, task=task,
                              cache_dir=cache_dir)


def run_quietly(argv):
    """evaluate.main, returning what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        evaluate.main(argv)
    return printed.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The NLI and STS fixtures and a saved tiny Sentence-BERT with a training log."""
    root = tmp_path_factory.mktemp("evaluate")
    model_dir = root / "sbert"
    tiny_model().save(model_dir)
    write_training_log(model_dir)
    return {"root": root, "model": model_dir, "nli": write_nli(root / "nli.jsonl"),
            "sts": write_sts(root / "sts.tsv", STS_ROWS),
            "constant": write_sts(root / "constant.tsv", [(a, b, 2.5) for a, b, _ in STS_ROWS])}


@pytest.fixture(scope="module")
def command_run(files):
    """The command run once on the fixtures; os.replace is watched to see which files were moved into place."""
    moved, real_replace = [], os.replace

    def replace(source, destination):
        moved.append(Path(destination))
        real_replace(source, destination)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "replace", replace)
        printed = run_quietly(["--model", str(files["model"]), "--test", str(files["nli"]),
                               "--sts", f"{files['sts']},{files['constant']}", "--data-dir", str(files["root"]),
                               "--cache-dir", str(files["root"] / "cache"), "--batch-size", "5",
                               "--device", "cpu"])
    report = json.loads((files["model"] / "report.json").read_text())
    return {"printed": printed, "moved": moved, "report": report}


# --- The command on a fine-tuned model -----------------------------------------------------------------------

REPORT_FILES = {"report.json", "report.md", "confusion_matrix.svg", "f1.svg", "loss.svg", "accuracy.svg"}


def test_the_command_writes_every_file_atomically_and_prints_the_report(files, command_run):
    model_dir = files["model"]
    assert {path.name for path in command_run["moved"] if path.parent == model_dir} >= REPORT_FILES
    assert REPORT_FILES <= {path.name for path in model_dir.iterdir()}
    assert not list(model_dir.glob("*.tmp")) and not list(model_dir.glob(".*.tmp"))
    markdown = (model_dir / "report.md").read_text()
    assert command_run["printed"].rstrip("\n") == markdown.rstrip("\n")  # stdout holds the report only
    report = command_run["report"]
    assert format_classification_report(report["test"]["report"]).rstrip("\n") in markdown
    for chart in REPORT_FILES - {"report.json", "report.md"}:
        assert f"]({chart})" in markdown
        assert ElementTree.parse(model_dir / chart).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_report_json_describes_the_run(files, command_run):
    report = command_run["report"]
    assert (report["model"], report["kind"], report["device"]) == (str(files["model"]), "sbert", "cpu")
    assert (report["test"]["spec"], report["test"]["pairs"]) == (str(files["nli"]), len(NLI_ROWS))
    assert report["command"].startswith("python evaluate.py --model ") and "--batch-size 5" in report["command"]
    assert report["torch"] == torch.__version__
    assert datetime.fromisoformat(report["date"]).tzinfo is not None
    assert set(report["charts"]) == REPORT_FILES - {"report.json", "report.md"}


def test_report_json_holds_what_the_evaluation_functions_return(files, command_run):
    model = SentenceBERT.load(files["model"])
    cache = files["root"] / "cache"
    report = command_run["report"]
    assert report["test"] == evaluate.evaluate_nli(model, encoded(model, files["nli"], "nli", cache), 5, CPU)
    assert report["sts"] == [evaluate.evaluate_sts(model, encoded(model, files[name], "sts", cache), 5, CPU)
                             for name in ("sts", "constant")]


def test_the_markdown_report_shows_the_confusion_matrix_and_correlations(command_run):
    report = command_run["report"]
    markdown = evaluate.render_markdown(report)
    assert "| true \\ predicted | entailment | neutral | contradiction |" in markdown
    for name, counts in zip(LABELS, report["test"]["confusion_matrix"]):
        assert f"| {name} | {' | '.join(map(str, counts))} |" in markdown
    sts, constant = report["sts"]
    assert f"| {sts['pairs']:,} | {sts['spearman']:.2f} | {sts['pearson']:.2f} |" in markdown
    assert constant["undefined"] in markdown


def test_int8_says_so_in_both_reports_and_its_figures_are_the_int8_models(files, command_run):
    root, out = files["root"], files["root"] / "int8"
    run_quietly(["--model", str(files["model"]), "--test", str(files["nli"]), "--sts", str(files["sts"]),
                 "--data-dir", str(root), "--cache-dir", str(root / "cache"), "--batch-size", "5", "--out", str(out),
                 "--int8"])  # --device auto: the CPU
    report = json.loads((out / "report.json").read_text())
    assert (report["int8"], report["device"], command_run["report"]["int8"]) == (True, "cpu", False)
    markdown = (out / "report.md").read_text()
    assert markdown.startswith(f"# Evaluation of `{files['model']}` in int8\n")
    assert evaluate.INT8_NOTE in markdown
    assert "int8" not in evaluate.render_markdown(command_run["report"])
    int8 = SentenceBERT.load(files["model"], int8=True)
    cache = root / "cache"
    assert report["test"] == evaluate.evaluate_nli(int8, encoded(int8, files["nli"], "nli", cache), 5, CPU)
    assert report["sts"] == [evaluate.evaluate_sts(int8, encoded(int8, files["sts"], "sts", cache), 5, CPU)]
    assert report["sts"] != command_run["report"]["sts"][:1]  # the fp32 model's correlations differ a little


def test_int8_on_another_device_is_refused(files):
    with pytest.raises(UserError, match="int8 inference runs on the CPU only"):
        evaluate.main(["--model", str(files["model"]), "--test", str(files["nli"]), "--data-dir", str(files["root"]),
                       "--out", str(files["root"] / "int8-cuda"), "--int8", "--device", "cuda"])


# --- What the numbers are made of ----------------------------------------------------------------------------

def test_predictions_come_from_the_classifier_head(files):
    model = tiny_model()
    pairs = encoded(model, files["nli"], "nli", files["root"] / "cache")
    with torch.no_grad():  # a head that always scores "neutral" highest, whatever the sentences are
        model.head.classifier.weight.zero_()
        model.head.classifier.bias.copy_(torch.tensor([0.0, 1.0, 0.0]))
    result = evaluate.evaluate_nli(model, pairs, 5, CPU)
    neutral = LABELS.index("neutral")
    assert result["accuracy"] == pytest.approx(sum(label == "neutral" for *_, label in NLI_ROWS) / len(NLI_ROWS))
    for row in result["confusion_matrix"]:
        assert [count for column, count in enumerate(row) if column != neutral] == [0, 0]
    assert [sum(row) for row in result["confusion_matrix"]] == [6, 4, 2]


def test_predictions_are_scored_against_the_labels_of_their_own_rows(files):
    """Batches group pairs by length; the predictions must still meet their own row's label."""
    model = tiny_model(seed=1)
    one_at_a_time = [LABELS.index(model.predict(p, h).label) for p, h, _ in NLI_ROWS]
    assert len(set(one_at_a_time)) > 1  # otherwise a mix-up of rows could go unnoticed
    expected = confusion_matrix([LABELS.index(label) for *_, label in NLI_ROWS], one_at_a_time, range(3))
    result = evaluate.evaluate_nli(model, encoded(model, files["nli"], "nli", files["root"] / "cache"), 5, CPU)
    assert result["confusion_matrix"] == expected


def test_sts_correlates_the_cosine_of_the_embeddings_with_the_gold_scores(files):
    model = tiny_model()
    u, v = model.encode([a for a, _, _ in STS_ROWS]), model.encode([b for _, b, _ in STS_ROWS])  # not as pairs
    cosines = torch.nn.functional.cosine_similarity(u, v, dim=-1)
    gold = [score for *_, score in STS_ROWS]
    result = evaluate.evaluate_sts(model, encoded(model, files["sts"], "sts", files["root"] / "cache"), 3, CPU)
    assert result["spearman"] == pytest.approx(100 * spearman(cosines, gold), abs=1e-4)
    assert result["pearson"] == pytest.approx(100 * pearson(cosines, gold), abs=1e-4)
    assert result["undefined"] is None and result["pairs"] == len(STS_ROWS)


def test_constant_gold_scores_are_reported_as_undefined(files, command_run):
    model = tiny_model()
    constant = encoded(model, files["constant"], "sts", files["root"] / "cache")
    result = evaluate.evaluate_sts(model, constant, 4, CPU)
    assert (result["spearman"], result["pearson"]) == (None, None)
    assert result["undefined"] == "correlation is undefined: the gold scores are constant"
    # The command went on: the other STS spec has its numbers and the report was written.
    assert [entry["spec"] for entry in command_run["report"]["sts"]] == [str(files["sts"]), str(files["constant"])]
    assert command_run["report"]["sts"][0]["spearman"] is not None


# --- A pre-trained BERT --------------------------------------------------------------------------------------

def write_corpus(path):
    """Short documents of simple sentences, a blank line between documents."""
    rng = random.Random(0)
    subjects, actions = ["The cat", "A dog", "My sister", "The teacher"], ["sees the river", "likes a red ball",
                                                                          "finds an apple", "paints the house"]
    documents = [" ".join(f"{rng.choice(subjects)} {rng.choice(actions)}." for _ in range(rng.randint(4, 7)))
                 for _ in range(30)]
    path.write_text("\n\n".join(documents) + "\n")
    return path


def test_a_pretrained_bert_gets_its_runs_heldout_scores(files):
    root = files["root"]
    bert_dir = root / "bert"
    pretrain.main(["--corpus", str(write_corpus(root / "stories.txt")), "--data-dir", str(root),
                   "--cache-dir", str(root / "cache"), "--out", str(bert_dir), "--preset", "tiny",
                   "--max-len", "32", "--no-transfer", "--batch-size", "8", "--max-steps", "2", "--eval-batches", "2",
                   "--seed", "1"])
    out = root / "bert-report"
    printed = run_quietly(["--model", str(bert_dir), "--sts", str(files["sts"]), "--data-dir", str(root),
                           "--cache-dir", str(root / "cache"), "--out", str(out), "--device", "cpu"])
    report = json.loads((out / "report.json").read_text())
    assert report["kind"] == "bert" and "test" not in report
    logged = [r for r in MetricsLog(bert_dir / "metrics.jsonl").read() if "heldout_mlm_accuracy" in r]
    assert logged[-1]["step"] == report["heldout"]["step"] == 2
    for name in ("heldout_mlm_accuracy", "heldout_mlm_loss", "heldout_mlm_perplexity", "heldout_nsp_accuracy"):
        assert report["heldout"][name] == pytest.approx(logged[-1][name], rel=1e-6), name
    assert report["sts"][0]["spec"] == str(files["sts"]) and report["sts"][0]["spearman"] is not None
    assert "perplexity" in printed and "mean-pooled pre-trained BERT" in printed
    assert {"report.json", "report.md", "loss.svg", "accuracy.svg"} <= {p.name for p in out.iterdir()}
    assert not (out / "confusion_matrix.svg").exists() and not (bert_dir / "report.json").exists()

    with pytest.raises(SystemExit, match="classifier is untrained"):
        evaluate.main(["--model", str(bert_dir), "--test", str(files["nli"]), "--data-dir", str(root)])
    with pytest.raises(SystemExit, match="--int8 is for fine-tuned Sentence-BERT models"):
        evaluate.main(["--model", str(bert_dir), "--sts", str(files["sts"]), "--data-dir", str(root), "--int8"])


def test_a_bert_pretrained_without_next_sentence_prediction_is_reported_without_it(files):
    root = files["root"]
    bert_dir = root / "bert-no-nsp"
    pretrain.main(["--corpus", str(write_corpus(root / "stories.txt")), "--data-dir", str(root),
                   "--cache-dir", str(root / "cache"), "--out", str(bert_dir), "--preset", "tiny", "--max-len", "32",
                   "--no-transfer", "--no-nsp", "--batch-size", "8", "--max-steps", "2", "--eval-batches", "2"])
    out = root / "no-nsp-report"
    run_quietly(["--model", str(bert_dir), "--data-dir", str(root), "--cache-dir", str(root / "cache"),
                 "--out", str(out), "--device", "cpu"])
    report = json.loads((out / "report.json").read_text())
    assert report["heldout"]["heldout_nsp_accuracy"] is None and report["heldout"]["heldout_mlm_accuracy"] >= 0
    markdown = (out / "report.md").read_text()
    assert "masked-LM accuracy" in markdown and "next-sentence" not in markdown


# --- Clear errors --------------------------------------------------------------------------------------------

def test_a_missing_model_directory_is_named(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(SystemExit, match=str(missing)):
        evaluate.main(["--model", str(missing), "--data-dir", str(tmp_path)])


def test_an_unknown_checkpoint_kind_is_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"kind": "gpt"}))
    with pytest.raises(SystemExit, match=f"{tmp_path / 'config.json'}.*'gpt'"):
        evaluate.main(["--model", str(tmp_path), "--data-dir", str(tmp_path)])
