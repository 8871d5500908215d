import json
import os
import shutil
import signal
from functools import partial
from pathlib import Path

import pytest
import torch
from stories import stories

import pretrain
from agree import corpus
from agree import pretraining as pretraining_step
from agree import training
from agree.pretraining import load_pretrained_bert
from bert import pretraining_loss
from sbert import SentenceBERT


@pytest.fixture(scope="module")
def text_corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "stories.txt"
    path.write_text(stories())
    return path


def run(tmp_path, text_corpus, out, *extra):
    pretrain.main(["--corpus", str(text_corpus), "--data-dir", str(tmp_path / "data"),
                   "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--preset", "tiny",
                   "--max-len", "32", "--no-transfer", "--batch-size", "16", "--lr", "2e-3", "--log-every", "5",
                   "--eval-every", "20", "--eval-batches", "2", "--seed", "1", *extra])


def records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


# What a training line of metrics.jsonl holds, in this order (docs/runs and the charts read them by name)
TRAINING_KEYS = ["step", "lr", "loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy", "gradient_norm",
                 "tokens_per_second", "elapsed"]


def test_loss_falls_and_the_checkpoint_loads(tmp_path, text_corpus, monkeypatch):
    out = tmp_path / "bert"
    run(tmp_path, text_corpus, out, "--max-steps", "80")
    losses = [r["mlm_loss"] for r in records(out) if "mlm_loss" in r]
    # From ln(vocabulary) ≈ 3.3 at the start to the unigram entropy of this text (≈ 2.8) and below.
    assert losses[-1] < losses[0] - 0.4, losses
    heldout = [r for r in records(out) if "heldout_mlm_accuracy" in r]
    assert [r["step"] for r in heldout] == [0, 20, 40, 60, 80]  # the random start is measured too
    assert heldout[-1]["heldout_mlm_accuracy"] > heldout[1]["heldout_mlm_accuracy"] > heldout[0]["heldout_mlm_accuracy"]

    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "bert" and config["step"] == 80
    model, _ = load_pretrained_bert(out)
    assert len((out / "vocab.txt").read_text().split()) == model.config.vocab_size
    sbert = SentenceBERT.from_pretrained_bert(out)
    torch.testing.assert_close(sbert.bert.embeddings.token.weight, model.bert.embeddings.token.weight)
    assert sbert.encode(["The cat sees the river."]).shape == (1, model.config.d_model)
    baseline = SentenceBERT.from_pretrained_bert(out, weights=False)  # same architecture, fresh weights
    assert baseline.config == sbert.config and baseline.vocab.tokens == sbert.vocab.tokens
    assert not torch.equal(baseline.bert.embeddings.token.weight, model.bert.embeddings.token.weight)

    # A second run on the same corpus tokenizes nothing: it reads the cache.
    monkeypatch.setattr(corpus, "_build_cache", lambda *a: pytest.fail("the corpus was tokenized again"))
    run(tmp_path, text_corpus, tmp_path / "again", "--max-steps", "1")


def test_the_neighbour_term_is_added_to_the_loss_and_leaves_the_masked_lm_batches_alone(tmp_path, text_corpus):
    run(tmp_path, text_corpus, tmp_path / "plain", "--max-steps", "3", "--log-every", "1", "--no-nsp")
    run(tmp_path, text_corpus, tmp_path / "paired", "--max-steps", "3", "--log-every", "1", "--no-nsp",
        "--neighbour-contrastive-weight", "0.5")
    plain = [r for r in records(tmp_path / "plain") if "loss" in r]
    paired = [r for r in records(tmp_path / "paired") if "loss" in r]
    assert list(plain[0]) == TRAINING_KEYS and list(paired[0]) == TRAINING_KEYS + ["neighbour_loss"]
    # Step 1 starts from the same weights with the same masked-LM batch; only the loss differs, by the term.
    assert paired[0]["mlm_loss"] == pytest.approx(plain[0]["mlm_loss"], rel=1e-6)
    assert paired[0]["neighbour_loss"] > 0.5  # 16 candidates: about ln 16 for an untrained encoder
    assert paired[0]["loss"] == pytest.approx(paired[0]["mlm_loss"] + 0.5 * paired[0]["neighbour_loss"], rel=1e-5)
    # Step 1 learns nothing (its learning rate is the warm-up's 0); from step 2 on the term moves the weights.
    assert paired[2]["mlm_loss"] != pytest.approx(plain[2]["mlm_loss"], rel=1e-6)


def test_a_log_line_sums_the_steps_since_the_last_one(tmp_path, text_corpus):
    run(tmp_path, text_corpus, tmp_path / "every", "--max-steps", "5", "--log-every", "1")
    run(tmp_path, text_corpus, tmp_path / "pairs", "--max-steps", "5", "--log-every", "2")
    every, pairs = ([r for r in records(tmp_path / name) if "loss" in r] for name in ("every", "pairs"))
    assert [r["step"] for r in pairs] == [2, 4, 5]  # and the steps left at the end
    assert all(list(r) == TRAINING_KEYS for r in every + pairs)
    for line, steps in zip(pairs, (every[0:2], every[2:4], every[4:5])):
        assert (line["step"], line["lr"]) == (steps[-1]["step"], steps[-1]["lr"])
        for name in ("loss", "mlm_loss", "nsp_loss", "gradient_norm"):  # the mean of the steps
            assert line[name] == pytest.approx(sum(r[name] for r in steps) / len(steps), rel=1e-6), name
        for name in ("mlm_accuracy", "nsp_accuracy"):  # over the predictions of the steps together
            assert min(r[name] for r in steps) <= line[name] <= max(r[name] for r in steps), name


def test_help_shows_every_option_in_a_group_data_first(help_groups):
    groups = help_groups(pretrain.parse_args)
    assert list(groups) == ["options", "data", "model", "training", "the recipe's changes to BERT's pre-training "
                            "(Makefile; off by default)", "evaluation along the run", "hardware and logging"]
    assert [word for word in groups["options"].split() if word.startswith("--")] == ["--help"]  # no stray option
    assert groups["data"].split()[0] == "--corpus"


def test_the_gradient_norm_is_logged_before_clipping(tmp_path, text_corpus):
    run(tmp_path, text_corpus, tmp_path / "loose", "--max-steps", "2", "--log-every", "1", "--clip-norm", "100")
    run(tmp_path, text_corpus, tmp_path / "tight", "--max-steps", "2", "--log-every", "1", "--clip-norm", "0.01")
    loose = [r["gradient_norm"] for r in records(tmp_path / "loose") if "loss" in r]
    tight = [r["gradient_norm"] for r in records(tmp_path / "tight") if "loss" in r]
    # Step 1 starts from the same weights and batch, so its gradient is the same whatever the clipping does
    # to it afterwards; a norm logged after clipping would be at most 0.01 in the tight run.
    assert tight[0] == pytest.approx(loose[0], rel=1e-6) and tight[0] > 0.01


def test_length_passes_train_as_one_pass_does(tmp_path, text_corpus):
    same = ("--max-steps", "6", "--log-every", "2", "--dropout", "0")  # dropout would draw differently per pass
    run(tmp_path, text_corpus, tmp_path / "one", *same)
    run(tmp_path, text_corpus, tmp_path / "three", *same, "--length-passes", "3")
    one, three = ([r for r in records(tmp_path / name) if "loss" in r] for name in ("one", "three"))
    for a, b in zip(one, three):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4) and b["mlm_accuracy"] == a["mlm_accuracy"]
    assert json.loads((tmp_path / "three" / "args.json").read_text())["length_passes"] == 3


def test_an_interrupted_run_resumes_exactly(tmp_path, text_corpus, monkeypatch):
    run(tmp_path, text_corpus, tmp_path / "straight", "--max-steps", "30")

    real_step, calls = torch.optim.AdamW.step, {"n": 0}

    def step_then_interrupt(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 13:
            os.kill(os.getpid(), signal.SIGTERM)  # what `kill` or a cluster's scheduler sends
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step_then_interrupt)
    run(tmp_path, text_corpus, tmp_path / "resumed", "--max-steps", "30")
    monkeypatch.undo()
    assert json.loads((tmp_path / "resumed" / "config.json").read_text())["step"] == 13
    pretrain.main(["--out", str(tmp_path / "resumed"), "--resume"])  # the saved args supply the corpus

    straight = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=0, msg=name)
    logged = [r["step"] for r in records(tmp_path / "resumed") if "loss" in r]
    # Every 5 steps, plus the interrupted run's last partial window (steps 11-13); nothing twice.
    assert logged == [5, 10, 13, 15, 20, 25, 30]


def test_limits_are_required_and_runs_are_not_overwritten(tmp_path, text_corpus):
    with pytest.raises(SystemExit, match="--max-steps or --max-minutes"):
        run(tmp_path, text_corpus, tmp_path / "m")
    run(tmp_path, text_corpus, tmp_path / "m", "--max-steps", "1")
    with pytest.raises(SystemExit, match="already holds a run"):
        run(tmp_path, text_corpus, tmp_path / "m", "--max-steps", "1")


def test_a_new_run_needs_a_corpus(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pretrain.parse_args(["--out", str(tmp_path / "p"), "--max-steps", "1"])
    assert "--corpus" in capsys.readouterr().err


class StepClock:
    """A clock for training.Budget on which every optimizer step takes `seconds`: the run's minutes are then
    the same on every machine, however busy."""

    def __init__(self, monkeypatch, seconds):
        self.now = 0.0
        real_step = torch.optim.AdamW.step

        def step_and_tick(optimizer, *args, **kwargs):
            self.now += seconds
            return real_step(optimizer, *args, **kwargs)

        monkeypatch.setattr(torch.optim.AdamW, "step", step_and_tick)

    def __call__(self):
        return self.now


def test_keep_at_minutes_keeps_a_loadable_copy_from_that_time(tmp_path, text_corpus, monkeypatch):
    clock = StepClock(monkeypatch, seconds=6)  # a minute every 10 steps
    monkeypatch.setattr(pretrain, "Budget", partial(training.Budget, clock=clock))
    out = tmp_path / "bert"
    run(tmp_path, text_corpus, out, "--max-steps", "25", "--keep-at-minutes", "1", "2", "600")
    for minutes, step in ((1, 10), (2, 20)):  # kept on the step that reaches the time, not at the end
        early = tmp_path / f"bert-{minutes}min"
        assert json.loads((early / "config.json").read_text())["step"] == step
        load_pretrained_bert(early)
        assert any("heldout_mlm_accuracy" in r and r["step"] == step for r in records(early))
    assert not (tmp_path / "bert-600min").exists()  # the run ended after 2.5 of its minutes
    assert torch.load(out / "trainer.pt", weights_only=True)["elapsed"] == 150  # 25 steps, for --resume


def test_keep_at_steps_keeps_a_loadable_copy_at_that_step(tmp_path, text_corpus):
    out = tmp_path / "bert"
    run(tmp_path, text_corpus, out, "--max-steps", "12", "--keep-at-steps", "8", "4", "50")
    for step in (4, 8):
        early = tmp_path / f"bert-step{step}"
        assert json.loads((early / "config.json").read_text())["step"] == step
        load_pretrained_bert(early)
        assert any("heldout_mlm_accuracy" in r and r["step"] == step for r in records(early))
    assert not (tmp_path / "bert-step50").exists()  # the run ended at 12


def test_max_minutes_ends_the_run_and_its_learning_rate_schedule_at_that_time(tmp_path, text_corpus, monkeypatch):
    clock = StepClock(monkeypatch, seconds=6)
    monkeypatch.setattr(pretrain, "Budget", partial(training.Budget, clock=clock))
    out = tmp_path / "bert"
    run(tmp_path, text_corpus, out, "--max-minutes", "1", "--warmup-fraction", "0.2")
    assert json.loads((out / "config.json").read_text())["step"] == 10  # 10 steps of 6 s
    # Step k+1 trains at the rate of progress k/10: a rise over the first fifth, then a fall towards 0.
    logged = {r["step"]: r["lr"] for r in records(out) if "lr" in r}
    assert logged == pytest.approx({5: 2e-3 * 0.75, 10: 2e-3 * 0.125})


def test_autocast_on_a_cpu_is_bf16_only_when_asked():
    cpu = torch.device("cpu")
    a, b = torch.randn(4, 8), torch.randn(8, 4)
    for precision, dtype in (("auto", torch.float32), ("fp32", torch.float32), ("bf16", torch.bfloat16)):
        with training.autocast(cpu, precision):
            assert (a @ b).dtype == dtype, precision


def test_bf16_precision_scores_in_bf16_and_keeps_fp32_weights(tmp_path, text_corpus, monkeypatch):
    seen = set()

    def loss_recording_dtype(mlm_logits, *rest):
        seen.add(mlm_logits.dtype)
        return pretraining_loss(mlm_logits, *rest)

    monkeypatch.setattr(pretraining_step, "pretraining_loss", loss_recording_dtype)
    out = tmp_path / "bf16"
    run(tmp_path, text_corpus, out, "--max-steps", "20", "--precision", "bf16")
    assert seen == {torch.bfloat16}  # training steps and held-out evaluation alike
    assert {t.dtype for t in torch.load(out / "model.pt", weights_only=True).values()} == {torch.float32}
    losses = [r["mlm_loss"] for r in records(out) if "mlm_loss" in r]
    assert losses[-1] < losses[0], losses
    assert json.loads((out / "args.json").read_text())["precision"] == "bf16"


def test_a_run_saved_before_the_precision_option_resumes(tmp_path, text_corpus):
    out = tmp_path / "old"
    run(tmp_path, text_corpus, out, "--max-steps", "2")
    saved = json.loads((out / "args.json").read_text())
    del saved["precision"]
    (out / "args.json").write_text(json.dumps(saved))
    pretrain.main(["--out", str(out), "--resume", "--max-steps", "4"])
    assert json.loads((out / "config.json").read_text())["step"] == 4  # precision: this command's default


def test_a_run_saved_with_an_option_since_removed_resumes_when_it_was_at_its_default(tmp_path, text_corpus):
    out = tmp_path / "old"
    run(tmp_path, text_corpus, out, "--max-steps", "2", "--no-nsp", "--neighbour-contrastive-weight", "0.5")
    saved = json.loads((out / "args.json").read_text())
    (out / "args.json").write_text(json.dumps({**saved, "neighbour_contrastive_from": 0.0}))  # as 3f767f2 saved
    pretrain.main(["--out", str(out), "--resume", "--max-steps", "3"])
    assert json.loads((out / "config.json").read_text())["step"] == 3
    assert "neighbour_loss" in [r for r in records(out) if "loss" in r][-1]  # the run goes on with its own options

    (out / "args.json").write_text(json.dumps({**saved, "neighbour_contrastive_from": 0.5}))
    with pytest.raises(SystemExit, match="used --neighbour-contrastive-from 0.5, an option that was measured and "
                                         "removed; continue or re-run it at commit 3f767f2"):
        pretrain.main(["--out", str(out), "--resume", "--max-steps", "4"])


def test_a_run_of_commit_3f767f2_resumes(tmp_path):
    """tests/fixtures/checkpoints/bert, written by tools/make_checkpoint_fixture.sh at 3f767f2: its args.json
    names --neighbour-contrastive-from (at its default) and its optimizer state predates this layout."""
    subjects, actions = ["man", "woman", "dog", "child"], ["running", "sleeping", "singing", "eating"]
    corpus = tmp_path / "corpus.txt"  # the fixture's corpus, which its args.json names in a folder now gone
    corpus.write_text("\n".join(line for s in subjects for line in [f"A {s} is {a} in the park. The {s} likes it. "
                                                                     f"Later the {s} stops {a}." for a in actions] + [""])
                      + "\n")
    out = tmp_path / "bert"
    shutil.copytree(Path(__file__).parent / "fixtures" / "checkpoints" / "bert", out)
    saved = json.loads((out / "args.json").read_text())
    assert saved["neighbour_contrastive_from"] == 0.0
    (out / "args.json").write_text(json.dumps({**saved, "corpus": [str(corpus)], "data_dir": str(tmp_path / "data"),
                                               "cache_dir": str(tmp_path / "cache"), "out": str(out)}))
    pretrain.main(["--out", str(out), "--resume", "--max-steps", "5"])
    assert json.loads((out / "config.json").read_text())["step"] == 5
    assert [r["step"] for r in records(out) if "loss" in r] == [1, 2, 3, 4, 5]  # the fixture logged every step


def test_shape_options_replace_the_presets_sizes_and_the_run_resumes_with_them(tmp_path, text_corpus):
    out = tmp_path / "shaped"
    run(tmp_path, text_corpus, out, "--max-steps", "2", "--layers", "3", "--d-model", "48", "--heads", "3",
        "--d-ff", "96")
    pretrain.main(["--out", str(out), "--resume", "--max-steps", "3"])
    model, _ = load_pretrained_bert(out)
    shape = (model.config.n_layers, model.config.d_model, model.config.n_heads, model.config.d_ff)
    assert shape == (3, 48, 3, 96) and len(model.bert.layers) == 3
    assert model.config.max_len == 32  # the options not given keep what the command line or preset said
    assert json.loads((out / "config.json").read_text())["step"] == 3
