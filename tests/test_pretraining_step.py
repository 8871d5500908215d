"""agree/pretraining.py: the losses of one pre-training step. Grouping a batch by length changes nothing but the
padding; the neighbour term is the ranking loss of each sentence's own encoding."""
import numpy as np
import pytest
import torch

from agree import contrastive
from agree import pretraining as pretraining_step
from agree.pretraining import StepConfig
from bert import IGNORE_INDEX, BertConfig, BertForPreTraining
from masking import Example, collate

CPU = torch.device("cpu")


def uneven_batch(rng, rows=7, vocab=40):
    """Examples of 4 to 20 tokens with 1 to 4 masked positions each, and next-sentence labels."""
    examples = []
    for _ in range(rows):
        length = int(rng.integers(4, 21))
        ids = np.concatenate(([2], rng.integers(5, vocab, length - 2), [3]))
        positions = np.sort(rng.choice(np.arange(1, length - 1), int(rng.integers(1, 5)), replace=False))
        examples.append(Example(ids, int(rng.integers(2, length)), positions, rng.integers(5, vocab, len(positions)),
                                bool(rng.random() < 0.5)))
    return collate(examples)


@pytest.mark.parametrize("passes", [2, 3, 7])
def test_length_groups_give_the_loss_counts_and_gradients_of_the_whole_batch(passes):
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.preset("tiny", vocab_size=40, dropout=0.0))
    batch = uneven_batch(np.random.default_rng(1))
    results = {}
    for k in (1, passes):
        model.zero_grad()
        loss, mlm, nsp, counts = pretraining_step.forward(model, batch, StepConfig(len(batch["input_ids"]), CPU,
                                                                                   length_passes=k))
        loss.backward()
        results[k] = (loss, mlm, nsp, counts, {n: p.grad.clone() for n, p in model.named_parameters()})
    (loss1, mlm1, nsp1, counts1, grads1), (loss_k, mlm_k, nsp_k, counts_k, grads_k) = results[1], results[passes]
    torch.testing.assert_close(loss_k, loss1)
    torch.testing.assert_close(mlm_k, mlm1)
    torch.testing.assert_close(nsp_k, nsp1)
    assert counts_k == counts1 and counts1["mlm_predictions"] == (batch["masked_labels"] != IGNORE_INDEX).sum()
    for name in grads1:
        torch.testing.assert_close(grads_k[name], grads1[name], rtol=1e-4, atol=1e-6, msg=name)


def test_length_groups_hold_each_example_once_cut_to_the_groups_longest():
    batch = uneven_batch(np.random.default_rng(2), rows=9)
    groups = pretraining_step.length_groups(batch, 3)
    lengths = (batch["input_ids"] != 0).sum(1)
    assert [len(g["input_ids"]) for g in groups] == [3, 3, 3]
    seen = []
    for group in groups:
        group_lengths = (group["input_ids"] != 0).sum(1)
        assert group["input_ids"].shape[1] == group_lengths.max()  # no column of padding only
        seen += [tuple(row[row != 0].tolist()) for row in group["input_ids"]]
    assert sorted(seen) == sorted(tuple(row[row != 0].tolist()) for row in batch["input_ids"])
    assert [int(g["input_ids"].ne(0).sum(1).max()) for g in groups] == sorted(
        int(lengths.sort().values[i:i + 3].max()) for i in (0, 3, 6))  # shortest first
    assert pretraining_step.length_groups(batch, 1) == [batch]


def test_the_neighbour_loss_ranks_each_next_sentence_among_the_batch(monkeypatch):
    monkeypatch.setattr(pretraining_step, "NEIGHBOUR_CHUNK", 4)  # two encoder passes for the six sentences
    torch.manual_seed(0)
    encoder = BertForPreTraining(BertConfig.preset("tiny", vocab_size=40)).bert.eval()
    first = [[1, 7, 8, 2], [1, 9, 2], [1, 10, 11, 12, 2]]
    second = [[1, 13, 2], [1, 14, 15, 2], [1, 16, 2]]
    loss = pretraining_step.neighbour_loss(encoder, (first, second), StepConfig(3, CPU))
    embed = lambda ids: encoder(torch.tensor([ids]))[0].mean(0)  # each sentence alone, no padding
    u = torch.stack([embed(row) for row in first])
    v = torch.stack([embed(row) for row in second])
    scores = contrastive.SCALE * torch.nn.functional.cosine_similarity(u[:, None], v[None], dim=-1)
    expected = -torch.stack([scores[i].log_softmax(0)[i] for i in range(3)]).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
