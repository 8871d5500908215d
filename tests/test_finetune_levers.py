"""The recipe's addition to SBERT's fine-tuning: the in-batch contrastive term (agree.contrastive), added to
SoftmaxLoss with --contrastive-weight."""
import json
import math

import torch
import torch.nn.functional as F
from training_pairs import fixed_pairs, run_finetune, write_jsonl

from agree.contrastive import SCALE, in_batch_contrastive_loss


def test_contrastive_loss_is_cross_entropy_over_the_batch_hypotheses_for_entailment_rows():
    generator = torch.Generator().manual_seed(0)
    u, v = torch.randn(5, 8, generator=generator), torch.randn(5, 8, generator=generator)
    labels = torch.tensor([0, 2, 0, 1, 2])  # rows 0 and 2 are entailment pairs
    expected = 0.0
    for row in (0, 2):
        scores = [SCALE * F.cosine_similarity(u[row], v[j], dim=0).item() for j in range(5)]
        expected += -(scores[row] - math.log(sum(math.exp(s) for s in scores))) / 2
    assert abs(in_batch_contrastive_loss(u, v, labels).item() - expected) < 1e-5
    no_entailment = in_batch_contrastive_loss(u.requires_grad_(), v, torch.tensor([1, 2, 1, 1, 2]))
    assert no_entailment.item() == 0 and no_entailment.requires_grad


def losses(tmp_path, name, *options):
    data = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs())
    out = tmp_path / name
    run_finetune(tmp_path, "--train", str(data), "--out", str(out), "--max-steps", "6", "--batch-size", "16",
                 "--lr", "1e-3", "--warmup-fraction", "0", *options)
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()
            if "loss" in json.loads(line)]


def test_contrastive_weight_adds_the_term_to_the_loss(tmp_path):
    plain = losses(tmp_path, "plain")
    with_term = losses(tmp_path, "contrastive", "--contrastive-weight", "1")
    assert with_term[0] > plain[0]  # the same batches, plus a positive term
