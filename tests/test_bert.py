import dataclasses

import pytest
import torch

from bert import BERT, IGNORE_INDEX, BertConfig, BertForPreTraining, pretraining_loss
from data import PAD_ID

VOCAB = 50


def tiny(**overrides):
    return BertConfig.preset("tiny", vocab_size=VOCAB, **overrides)


def random_batch(batch=3, length=9, seed=0):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, VOCAB, (batch, length), generator=generator)
    segment_ids = (torch.arange(length) >= length // 2).long().expand(batch, -1).clone()
    masked_positions = torch.randint(1, length, (batch, 4), generator=generator)
    return input_ids, segment_ids, masked_positions


def test_output_shapes():
    model = BertForPreTraining(tiny()).eval()
    input_ids, segment_ids, masked_positions = random_batch()
    assert model.bert(input_ids, segment_ids).shape == (3, 9, 32)
    mlm_logits, nsp_logits = model(input_ids, segment_ids, masked_positions)
    assert mlm_logits.shape == (3, 4, VOCAB)
    assert nsp_logits.shape == (3, 2)


@pytest.mark.parametrize("pre_layer_norm", [False, True])
def test_written_and_fused_attention_agree(pre_layer_norm):
    torch.manual_seed(0)
    written = BertForPreTraining(tiny(pre_layer_norm=pre_layer_norm)).eval()
    fused = BertForPreTraining(tiny(pre_layer_norm=pre_layer_norm, attention="fused")).eval()
    fused.load_state_dict(written.state_dict())
    input_ids, segment_ids, _ = random_batch()
    input_ids[0, 6:] = PAD_ID  # the mask must be applied the same way by both
    expected = written.bert(input_ids, segment_ids)
    actual = fused.bert(input_ids, segment_ids)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    assert not torch.equal(written.bert(input_ids[:, :5], segment_ids[:, :5]), expected[:, :5]), \
        "different inputs should give different outputs (the comparison above means something)"


@pytest.mark.parametrize("attention", ["written", "fused"])
def test_appended_padding_changes_nothing_at_real_positions(attention):
    model = BERT(tiny(attention=attention)).eval()
    input_ids, segment_ids, _ = random_batch()
    padded_ids = torch.cat([input_ids, torch.full((3, 5), PAD_ID)], dim=1)
    padded_segments = torch.cat([segment_ids, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded_ids, padded_segments)[:, :9], model(input_ids, segment_ids),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options", [{}, {"pre_layer_norm": True}, {"bias": False}])
def test_every_parameter_receives_a_gradient(options):
    model = BertForPreTraining(tiny(**options)).train()
    input_ids, segment_ids, masked_positions = random_batch()
    mlm_logits, nsp_logits = model(input_ids, segment_ids, masked_positions)
    masked_labels = input_ids.gather(1, masked_positions)
    masked_labels[0, -1] = IGNORE_INDEX
    loss, _, _ = pretraining_loss(mlm_logits, masked_labels, nsp_logits, torch.tensor([0, 1, 0]))
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == []


def test_no_bias_option_removes_biases():
    with_bias = sum(p.numel() for p in BERT(tiny()).parameters())
    without = BERT(tiny(bias=False))
    assert not any(name.endswith("bias") for name, _ in without.named_parameters())
    assert sum(p.numel() for p in without.parameters()) < with_bias


def test_ignored_slots_do_not_count_in_the_loss():
    mlm_logits = torch.randn(2, 3, VOCAB)
    labels = torch.tensor([[7, IGNORE_INDEX, IGNORE_INDEX], [8, 9, IGNORE_INDEX]])
    nsp_logits, nsp_labels = torch.randn(2, 2), torch.tensor([0, 1])
    _, mlm, _ = pretraining_loss(mlm_logits, labels, nsp_logits, nsp_labels)
    real = torch.nn.functional.cross_entropy(mlm_logits[[0, 1, 1], [0, 0, 1]], torch.tensor([7, 8, 9]))
    torch.testing.assert_close(mlm, real)


def test_decoder_is_tied_to_the_token_embedding():
    """One matrix, not two: the model holds a single (vocabulary x d_model) parameter, and what the encoder
    learns for a word's embedding moves that word's masked-LM score."""
    model = BertForPreTraining(tiny()).eval()
    embedding = model.bert.embeddings.token.weight
    assert model.masked_lm.token_embedding.weight is embedding
    # named_parameters lists a shared tensor once; an untied decoder would be a second entry of this shape
    assert [name for name, p in model.named_parameters() if p.shape == embedding.shape] == [
        "bert.embeddings.token.weight"]
    input_ids, segment_ids, masked_positions = random_batch()
    absent = next(word for word in range(5, VOCAB) if word not in input_ids)  # only the decoder can see it
    before, _ = model(input_ids, segment_ids, masked_positions)
    with torch.no_grad():
        embedding[absent] += 1.0
    after, _ = model(input_ids, segment_ids, masked_positions)
    assert (after != before).any(dim=(0, 1)).nonzero().flatten().tolist() == [absent]


def test_save_and_load_give_identical_outputs(tmp_path):
    model = BertForPreTraining(tiny()).eval()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    reloaded = BertForPreTraining(BertConfig.from_dict(model.config.to_dict())).eval()
    reloaded.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    batch = random_batch()
    for before, after in zip(model(*batch), reloaded(*batch)):
        assert torch.equal(before, after)


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout():
    model = BertForPreTraining(tiny())
    batch = random_batch()
    model.eval()
    assert torch.equal(model(*batch)[0], model(*batch)[0])
    model.train()
    assert not torch.equal(model(*batch)[0], model(*batch)[0])


def test_base_preset_has_bert_base_parameter_count():
    # bert-base-uncased (vocabulary 30,522) has 109,482,240 parameters in the encoder plus pooler.
    with torch.device("meta"):
        model = BertForPreTraining(BertConfig.preset("base", vocab_size=30522))
    count = sum(p.numel() for module in (model.bert, model.pooler) for p in module.parameters())
    assert count == 109_482_240


def test_presets_and_config_round_trip():
    small = BertConfig.preset("small", vocab_size=1000)
    assert (small.n_layers, small.d_model, small.n_heads, small.d_ff, small.max_len) == (4, 256, 4, 1024, 128)
    assert BertConfig.from_dict(small.to_dict()) == small
    assert dataclasses.replace(small, attention="fused") != small
    with pytest.raises(ValueError, match="unknown preset"):
        BertConfig.preset("huge")
    with pytest.raises(ValueError, match="unknown BertConfig fields: colour"):
        BertConfig.from_dict({**small.to_dict(), "colour": 1})
    with pytest.raises(ValueError, match="divisible"):
        BertConfig(d_model=10, n_heads=3)


def test_too_long_input_is_refused():
    model = BERT(tiny())
    with pytest.raises(ValueError, match="longer than max_len 64"):
        model(torch.ones(1, 65, dtype=torch.long))
