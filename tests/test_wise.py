"""wise.py: the start is rebuilt exactly, the line between the two encoders is straight, each alpha is scored
on the run's own validation pairs and an STS split, and the best mean is what --out receives."""
import json

import pytest
import torch
from test_evaluate import STS_ROWS, write_sts
from test_finetune import fixed_pairs, run_finetune, write_jsonl

import evaluate
import wise
from agree.training import MetricsLog
from sbert import SentenceBERT


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny fine-tunings from random weights, seed 3: one that learns, one at learning rate 0 (its saved
    encoder is its start), and an STS file."""
    root = tmp_path_factory.mktemp("wise")
    pairs = write_jsonl(root / "pairs.jsonl", fixed_pairs())
    for name, lr in (("learnt", "2e-3"), ("still", "0")):
        run_finetune(root, "--train", str(pairs), "--val-fraction", "0.25", "--out", str(root / name),
                     "--epochs", "4", "--batch-size", "16", "--lr", lr)
    return {"root": root, "sts": write_sts(root / "sts.tsv", STS_ROWS)}


def sweep(runs, name, *extra):
    wise.main(["--model", str(runs["root"] / name), "--sts", str(runs["sts"]), "--cache-dir",
               str(runs["root"] / "cache"), *extra])


def test_the_start_is_the_random_weights_the_run_began_from(runs):
    args = wise.parse_args(["--model", str(runs["root"] / "still")])
    start = wise.start_model(wise.fine_tuning_args(args)).bert.state_dict()
    saved = SentenceBERT.load(runs["root"] / "still").bert.state_dict()
    assert start.keys() == saved.keys()
    for name in saved:
        torch.testing.assert_close(start[name], saved[name], rtol=0, atol=0)


def test_the_line_runs_from_the_start_to_the_fine_tuned_weights(runs):
    start = SentenceBERT.load(runs["root"] / "still").bert.state_dict()
    tuned = SentenceBERT.load(runs["root"] / "learnt").bert.state_dict()
    name = "embeddings.token.weight"
    assert not torch.equal(start[name], tuned[name])
    torch.testing.assert_close(wise.interpolate(start, tuned, 0.0)[name], start[name])
    torch.testing.assert_close(wise.interpolate(start, tuned, 1.0)[name], tuned[name])
    torch.testing.assert_close(wise.interpolate(start, tuned, 0.25)[name], 0.75 * start[name] + 0.25 * tuned[name])


def test_each_alpha_is_scored_on_the_runs_validation_pairs_and_the_best_mean_is_written(runs):
    out = runs["root"] / "chosen"
    sweep(runs, "learnt", "--alphas", "0", "0.5", "1", "--out", str(out))
    report = json.loads((out / "wise.json").read_text())
    rows = {row["alpha"]: row for row in report["rows"]}
    assert sorted(rows) == [0.0, 0.5, 1.0]
    # alpha 1 is the fine-tuned model itself: its validation accuracy is the best the run recorded.
    best = max(r["val_accuracy"] for r in MetricsLog(runs["root"] / "learnt" / "metrics.jsonl").read()
               if "val_accuracy" in r)
    assert rows[1.0]["val_accuracy"] == pytest.approx(best)
    for row in rows.values():
        assert row["mean"] == pytest.approx((100 * row["val_accuracy"] + row["sts_spearman"]) / 2)
    chosen = max(rows.values(), key=lambda row: row["mean"])
    assert report["chosen_alpha"] == chosen["alpha"]
    # --out holds that alpha's model, and the STS figure of the report is what evaluate.py measures on it.
    model = SentenceBERT.load(out)
    start = SentenceBERT.load(runs["root"] / "still").bert.state_dict()
    tuned = SentenceBERT.load(runs["root"] / "learnt")
    expected = wise.interpolate(start, tuned.bert.state_dict(), chosen["alpha"])
    for name, weights in model.bert.state_dict().items():
        torch.testing.assert_close(weights, expected[name])
    torch.testing.assert_close(model.head.state_dict()["classifier.weight"], tuned.head.state_dict()["classifier.weight"])
    sts = evaluate.pair_loader(model, wise.fine_tuning_args(wise.parse_args(
        ["--model", str(out.parent / "learnt"), "--cache-dir", str(runs["root"] / "cache")])))(str(runs["sts"]), task="sts")
    assert evaluate.evaluate_sts(model, sts, 8, torch.device("cpu"))["spearman"] == pytest.approx(chosen["sts_spearman"])
    assert f"Chosen: alpha = {chosen['alpha']:g}." in (out / "wise.md").read_text()


def test_a_moved_start_is_found_with_bert_and_a_wrong_one_is_refused(runs, tmp_path):
    args = wise.parse_args(["--model", str(runs["root"] / "learnt"), "--bert", str(tmp_path / "elsewhere")])
    assert wise.fine_tuning_args(args).bert == str(tmp_path / "elsewhere")
    start = SentenceBERT.load(runs["root"] / "still").bert.state_dict()
    narrower = {name: weights[..., :1] for name, weights in start.items()}
    with pytest.raises(SystemExit, match="different weights or shapes"):
        wise.interpolate(narrower, start, 0.5)


@pytest.mark.parametrize("arguments, message", [
    (["--alphas", "0.5", "1.5"], "must lie in \\[0, 1\\]; got 1.5"),
    (["--out", "."], "exists; choose a new directory")])
def test_bad_arguments_are_refused(arguments, message, capsys):
    with pytest.raises(SystemExit):
        wise.parse_args(["--model", "m", *arguments])
    assert message.replace("\\", "") in capsys.readouterr().err


def test_a_directory_without_args_json_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="args.json is missing"):
        wise.fine_tuning_args(wise.parse_args(["--model", str(tmp_path)]))
