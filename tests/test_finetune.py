import json
import os
import signal

import pytest
import torch
from training_pairs import fixed_pairs, run_finetune, write_jsonl

import finetune
from agree.encoded_pairs import evaluation_batches, load_encoded_pairs
from sbert import LABELS, SentenceBERT, SoftmaxLoss


def accuracy_on(model, specs, tmp_path):
    pairs = load_encoded_pairs(specs, model.vocab, model.config.bert.max_len, tmp_path / "data",
                               cache_dir=tmp_path / "cache")
    correct = 0
    with torch.inference_mode():
        for batch in evaluation_batches(pairs, 32):
            logits, _, _ = model(batch["first_ids"], batch["second_ids"])
            correct += (logits.argmax(-1) == batch["labels"]).sum().item()
    return correct / len(pairs)


def test_a_tiny_model_learns_64_fixed_pairs(tmp_path):
    """The whole learning path works: data, siamese encoder, head, loss, optimizer, schedule."""
    data = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs())
    run_finetune(tmp_path, "--train", str(data), "--out", str(tmp_path / "model"), "--epochs", "60",
                 "--batch-size", "16", "--lr", "2e-3", "--warmup-fraction", "0.05")
    model = SentenceBERT.load(tmp_path / "model")
    assert accuracy_on(model, str(data), tmp_path) >= 0.95  # chance is 1/3 (1/2 for the majority label)
    assert len(fixed_pairs()) == 64


def test_the_command_end_to_end_keeps_the_best_model_and_logs(tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs())
    out = tmp_path / "model"
    run_finetune(tmp_path, "--train", str(data), "--val-fraction", "0.25", "--out", str(out),
                 "--epochs", "3", "--eval-every", "2")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    validations = [r for r in records if "val_accuracy" in r]
    # 48 pairs make 3 batches an epoch: validation every 2 steps and at the end of each epoch, once per step
    assert [r["step"] for r in validations] == [2, 3, 4, 6, 8, 9]
    assert {"loss", "train_accuracy", "lr"} <= set(next(r for r in records if "loss" in r))
    best = max(r["val_accuracy"] for r in validations)
    model = SentenceBERT.load(out)  # which model --out holds: the next test
    args = json.loads((out / "args.json").read_text())
    assert (args["train_pairs"], args["val_pairs"]) == (48, 16)
    assert (out / "last" / "trainer.pt").exists()
    prediction = model.predict("A man is playing a guitar.", "Someone is playing a guitar.")
    assert prediction.label in LABELS
    assert best == pytest.approx(torch.load(out / "last" / "trainer.pt", weights_only=True)["best_val_accuracy"])


def test_a_log_line_averages_the_pairs_of_its_steps(tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs())
    lines = {}
    for every in (1, 2, 3):
        out = tmp_path / f"every{every}"
        run_finetune(tmp_path, "--train", str(data), "--out", str(out), "--batch-size", "16", "--epochs", "2",
                     "--log-every", str(every))
        lines[every] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(list(r) == ["step", "epoch", "lr", "loss", "train_accuracy"] for r in sum(lines.values(), []))
    # 4 batches of 16 an epoch. A line on an epoch's last step counts it in that epoch; the line that the end
    # of the run adds (step 8 with --log-every 3) comes after the epoch is counted.
    assert [(r["step"], r["epoch"]) for r in lines[2]] == [(2, 0), (4, 0), (6, 1), (8, 1)]
    assert [(r["step"], r["epoch"]) for r in lines[3]] == [(3, 0), (6, 1), (8, 2)]
    for every, windows in ((2, (0, 2, 4, 6, 8)), (3, (0, 3, 6, 8))):
        for line, start, end in zip(lines[every], windows, windows[1:]):
            steps = lines[1][start:end]
            assert line["lr"] == steps[-1]["lr"]
            for name in ("loss", "train_accuracy"):  # every step has 16 pairs
                assert line[name] == pytest.approx(sum(r[name] for r in steps) / len(steps), rel=1e-6), name


def test_help_shows_every_option_in_a_group_the_model_first(help_groups):
    groups = help_groups(finetune.parse_args)
    assert list(groups) == ["options", "model", "data", "training", "the recipe's addition to SBERT's objective "
                            "(Makefile; off by default)", "validation", "hardware and logging"]
    assert [word for word in groups["options"].split() if word.startswith("--")] == ["--help"]  # no stray option
    assert groups["model"].split()[0] == "--bert"


def test_out_holds_the_model_that_validated_best_not_the_last(tmp_path, monkeypatch):
    """Validation scores are scripted, so which validation was best is known; the weights each one saw are
    kept to compare with what --out holds."""
    scores, weights_seen = iter([0.50, 0.75, 0.25, 0.50, 0.60, 0.70]), []

    def scripted_validate(model, pairs, batch_size, device, precision="auto"):
        weights_seen.append({name: tensor.clone() for name, tensor in model.state_dict().items()})
        return {"val_loss": 1.0, "val_accuracy": next(scores)}

    monkeypatch.setattr(finetune, "validate", scripted_validate)
    data = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs())
    out = tmp_path / "model"
    run_finetune(tmp_path, "--train", str(data), "--val-fraction", "0.25", "--out", str(out),
                 "--epochs", "3", "--eval-every", "2", "--lr", "1e-3")
    assert len(weights_seen) == 6  # steps 2, 3, 4, 6, 8, 9
    kept = SentenceBERT.load(out).state_dict()
    assert all(torch.equal(kept[name], weights_seen[1][name]) for name in kept)  # the 0.75, at step 3
    assert not all(torch.equal(kept[name], weights_seen[-1][name]) for name in kept)
    assert torch.load(out / "last" / "trainer.pt", weights_only=True)["best_val_accuracy"] == 0.75


def test_a_run_saved_with_options_since_removed_resumes_when_they_were_at_their_defaults(tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs())
    out = tmp_path / "old"
    run_finetune(tmp_path, "--train", str(data), "--out", str(out), "--max-steps", "2")
    saved = json.loads((out / "args.json").read_text())
    old = {"train_fraction": 1.0, "encoder_lr_scale": 1.0, "freeze_word_embeddings": False, "head_first_steps": 0,
           "contrastive_scale": 20.0}  # what a run of commit 3f767f2 saved
    (out / "args.json").write_text(json.dumps({**saved, **old}))
    run_finetune(tmp_path, "--train", str(data), "--out", str(out), "--max-steps", "3", "--resume")
    assert torch.load(out / "last" / "trainer.pt", weights_only=True)["step"] == 3

    (out / "args.json").write_text(json.dumps({**saved, **old, "head_first_steps": 100}))
    with pytest.raises(SystemExit, match="used --head-first-steps 100, an option that was measured and removed; "
                                         "continue or re-run it at commit 3f767f2"):
        run_finetune(tmp_path, "--train", str(data), "--out", str(out), "--max-steps", "4", "--resume")
    (out / "args.json").write_text(json.dumps({**saved, **old, "freeze_word_embeddings": True}))
    with pytest.raises(SystemExit, match="used --freeze-word-embeddings, an option"):
        run_finetune(tmp_path, "--train", str(data), "--out", str(out), "--max-steps", "4", "--resume")


def test_an_interrupted_run_resumes_exactly(tmp_path, monkeypatch):
    data = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs())
    common = ["--train", str(data), "--epochs", "3", "--batch-size", "8", "--lr", "1e-3"]
    run_finetune(tmp_path, *common, "--out", str(tmp_path / "straight"))

    real_step = torch.optim.AdamW.step
    calls = {"n": 0}

    def step_then_interrupt(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 11:  # a SIGTERM arriving during step 11, in the middle of the second epoch
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step_then_interrupt)
    run_finetune(tmp_path, *common, "--out", str(tmp_path / "resumed"))
    assert torch.load(tmp_path / "resumed" / "last" / "trainer.pt", weights_only=True)["step"] == 11
    monkeypatch.undo()
    run_finetune(tmp_path, *common, "--out", str(tmp_path / "resumed"), "--resume")

    straight = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=0, msg=name)


def test_existing_run_is_not_overwritten_and_missing_run_is_not_resumed(tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs())
    with pytest.raises(SystemExit, match="no saved run"):
        run_finetune(tmp_path, "--train", str(data), "--out", str(tmp_path / "m"), "--resume")
    run_finetune(tmp_path, "--train", str(data), "--out", str(tmp_path / "m"), "--max-steps", "1")
    with pytest.raises(SystemExit, match="already holds a run"):
        run_finetune(tmp_path, "--train", str(data), "--out", str(tmp_path / "m"), "--max-steps", "1")


def test_bf16_precision_classifies_in_bf16_and_saves_fp32_weights(tmp_path, monkeypatch):
    seen = set()
    real_forward = SoftmaxLoss.forward

    def forward_recording_dtype(self, u, v):
        logits = real_forward(self, u, v)
        seen.add(logits.dtype)
        return logits

    monkeypatch.setattr(SoftmaxLoss, "forward", forward_recording_dtype)
    data = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs())
    out = tmp_path / "model"
    run_finetune(tmp_path, "--train", str(data), "--val-fraction", "0.25", "--out", str(out),
                 "--epochs", "2", "--precision", "bf16")
    assert seen == {torch.bfloat16}  # training steps and validation alike
    weights = torch.load(out / "model.pt", weights_only=True)
    assert {tensor.dtype for tensor in weights.values()} == {torch.float32}
