"""finetune.py's options that keep what pre-training learnt (--encoder-lr-scale, --freeze-word-embeddings,
--head-first-steps) and the optional contrastive term (sbert.in_batch_contrastive_loss)."""
import json
import math

import torch
import torch.nn.functional as F
from training_pairs import fixed_pairs, run_finetune, write_jsonl

from agree.contrastive import in_batch_contrastive_loss
from sbert import SentenceBERT


def test_contrastive_loss_is_cross_entropy_over_the_batch_hypotheses_for_entailment_rows():
    generator = torch.Generator().manual_seed(0)
    u, v = torch.randn(5, 8, generator=generator), torch.randn(5, 8, generator=generator)
    labels = torch.tensor([0, 2, 0, 1, 2])  # rows 0 and 2 are entailment pairs
    expected = 0.0
    for row in (0, 2):
        scores = [10 * F.cosine_similarity(u[row], v[j], dim=0).item() for j in range(5)]
        expected += -(scores[row] - math.log(sum(math.exp(s) for s in scores))) / 2
    assert abs(in_batch_contrastive_loss(u, v, labels, scale=10).item() - expected) < 1e-5
    no_entailment = in_batch_contrastive_loss(u.requires_grad_(), v, torch.tensor([1, 2, 1, 1, 2]))
    assert no_entailment.item() == 0 and no_entailment.requires_grad


def trained(tmp_path, name, *options):
    data = write_jsonl(tmp_path / "pairs.jsonl", fixed_pairs())
    out = tmp_path / name
    run_finetune(tmp_path, "--train", str(data), "--out", str(out), "--max-steps", "6", "--batch-size", "16",
                 "--lr", "1e-3", "--warmup-fraction", "0", *options)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return SentenceBERT.load(out), [r["loss"] for r in records if "loss" in r]


def test_encoder_lr_scale_and_frozen_word_embeddings_keep_the_start(tmp_path):
    start, _ = trained(tmp_path, "start", "--max-steps", "1", "--lr", "0")  # the seed's initial weights
    frozen_encoder, _ = trained(tmp_path, "frozen-encoder", "--encoder-lr-scale", "0")
    assert all(torch.equal(a, b) for a, b in zip(start.bert.parameters(), frozen_encoder.bert.parameters()))
    assert not torch.equal(start.head.classifier.weight, frozen_encoder.head.classifier.weight)

    frozen_words, _ = trained(tmp_path, "frozen-words", "--freeze-word-embeddings")
    assert torch.equal(start.bert.embeddings.token.weight, frozen_words.bert.embeddings.token.weight)
    up = lambda model: model.bert.layers[0].feed_forward.up.weight
    assert not torch.equal(up(start), up(frozen_words))


def test_head_first_steps_hold_the_encoder_while_the_classifier_learns(tmp_path):
    start, _ = trained(tmp_path, "start", "--max-steps", "1", "--lr", "0")  # the seed's initial weights
    head_only, _ = trained(tmp_path, "head-only", "--head-first-steps", "6")
    assert all(torch.equal(a, b) for a, b in zip(start.bert.parameters(), head_only.bert.parameters()))
    assert not torch.equal(start.head.classifier.weight, head_only.head.classifier.weight)
    then_both, _ = trained(tmp_path, "then-both", "--head-first-steps", "3", "--freeze-word-embeddings")
    up = lambda model: model.bert.layers[0].feed_forward.up.weight
    assert not torch.equal(up(start), up(then_both))  # the encoder learns from step 4 on
    assert torch.equal(start.bert.embeddings.token.weight, then_both.bert.embeddings.token.weight)


def test_contrastive_weight_adds_the_term_to_the_loss(tmp_path):
    _, plain = trained(tmp_path, "plain")
    _, with_term = trained(tmp_path, "contrastive", "--contrastive-weight", "1")
    assert with_term[0] > plain[0]  # the same first batches, plus a positive term
