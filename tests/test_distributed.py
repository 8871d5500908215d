"""Both training scripts under torchrun with two CPU processes (gloo), as a multi-GPU run would start them."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import torch
from stories import stories
from training_pairs import fixed_pairs, write_jsonl

from sbert import SentenceBERT

ROOT = Path(__file__).resolve().parents[1]


def torchrun(script, *arguments):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(ROOT / script), *arguments]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    finished = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return finished


def logged(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_pretrain_and_finetune_under_torchrun(tmp_path):
    text = tmp_path / "stories.txt"
    text.write_text(stories())
    bert = tmp_path / "bert"
    torchrun("pretrain.py", "--corpus", str(text), "--data-dir", str(tmp_path / "data"), "--cache-dir",
             str(tmp_path / "cache"), "--out", str(bert), "--preset", "tiny", "--max-len", "32", "--no-transfer",
             "--batch-size", "8", "--max-steps", "6", "--log-every", "3", "--eval-every", "6",
             "--eval-batches", "1")
    records = [r for r in logged(bert) if "rank_batches" in r]
    assert [r["step"] for r in records] == [3, 6]
    for record in records:
        first, second = record["rank_batches"]
        assert first != second  # each rank drew its own half of the global batch
    assert json.loads((bert / "config.json").read_text())["step"] == 6

    pairs = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs())
    sbert = tmp_path / "sbert"
    torchrun("finetune.py", "--bert", str(bert), "--train", str(pairs), "--val-fraction", "0.25",
             "--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache"), "--out", str(sbert),
             "--batch-size", "8", "--epochs", "1", "--log-every", "2")
    records = [r for r in logged(sbert) if "rank_batches" in r]
    assert records and all(len(r["rank_batches"]) == 2 for r in records)
    for record in records:
        first, second = map(set, record["rank_batches"])
        assert first and second and not first & second  # distinct rows of the same global batch
    # The schedule counts global steps: one epoch is ceil(pairs / 8) of them, not that many per rank.
    global_steps = math.ceil(json.loads((sbert / "args.json").read_text())["train_pairs"] / 8)
    assert [r["step"] for r in logged(sbert) if "loss" in r][-1] == global_steps
    model = SentenceBERT.load(sbert)
    assert model.predict("A man is riding a bike.", "Someone is riding a bike.").label
    assert torch.load(sbert / "last" / "trainer.pt", weights_only=True)["step"] == global_steps
