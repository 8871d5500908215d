import pytest
import torch

from bert import BertConfig
from data import SPECIAL_TOKENS, Vocab, pad
from sbert import LABELS, SentenceBERT, SentenceBertConfig, SoftmaxLoss, pool

WORDS = "a man woman is playing guitar sleeping on stage the dog runs".split()


def tiny_model(**options):
    vocab = Vocab(SPECIAL_TOKENS + tuple(WORDS))
    torch.manual_seed(0)
    return SentenceBERT(SentenceBertConfig(BertConfig.preset("tiny", vocab_size=len(vocab)), **options), vocab)


@pytest.mark.parametrize("how", ["mean", "max", "cls"])
def test_pooling_ignores_padding(how):
    hidden = torch.randn(2, 6, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    changed = hidden.clone()
    changed[0, 3:] = 1000.0  # whatever sits at padded positions must not matter
    torch.testing.assert_close(pool(hidden, mask, how), pool(changed, mask, how))


def test_mean_pooling_averages_real_tokens_only():
    hidden = torch.arange(12.0).view(1, 3, 4)
    mask = torch.tensor([[True, True, False]])
    torch.testing.assert_close(pool(hidden, mask, "mean"), hidden[:, :2].mean(dim=1))


def test_embedding_of_a_sentence_does_not_depend_on_batch_padding():
    model = tiny_model().eval()
    short, long = model.tokenize(["a man", "the dog runs on stage"])
    alone = model.encode([short])
    in_batch = model.encode([short, long])[0]  # one batch, `short` padded to the length of `long`
    torch.testing.assert_close(in_batch, alone[0], rtol=1e-5, atol=1e-6)


def test_head_sees_exactly_u_v_and_their_absolute_difference():
    head = SoftmaxLoss(d_model=3, features="u,v,|u-v|")
    u, v = torch.tensor([[1.0, -2.0, 3.0]]), torch.tensor([[0.5, 1.0, 5.0]])
    seen = []
    head.classifier.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    head(u, v)
    assert torch.equal(seen[0], torch.tensor([[1.0, -2.0, 3.0, 0.5, 1.0, 5.0, 0.5, 3.0, 2.0]]))
    assert head.classifier.weight.shape == (3, 9)


def test_other_concatenations_are_options():
    assert SoftmaxLoss(4, "u,v,|u-v|,u*v").classifier.in_features == 16
    with pytest.raises(ValueError, match="features must be one of"):
        SentenceBertConfig(BertConfig.preset("tiny"), features="u+v")


def test_encoder_is_shared_by_both_sentences():
    model = tiny_model()
    first, second = pad(model.tokenize(["a man is playing guitar"])), pad(model.tokenize(["the dog"]))
    logits, u, v = model(first, second)
    logits.sum().backward()
    assert len([m for m in model.modules() if type(m).__name__ == "BERT"]) == 1
    assert model.bert.embeddings.token.weight.grad[model.vocab.ids["dog"]].abs().sum() > 0
    assert model.bert.embeddings.token.weight.grad[model.vocab.ids["guitar"]].abs().sum() > 0


def test_predict_gives_label_probabilities_and_cosine():
    model = tiny_model().eval()
    prediction = model.predict("A man is playing guitar.", "A woman is sleeping.")
    assert prediction.label in LABELS
    assert set(prediction.probabilities) == set(LABELS)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    assert prediction.label == max(prediction.probabilities, key=prediction.probabilities.get)
    u, v = model.encode(["A man is playing guitar.", "A woman is sleeping."])
    assert prediction.cosine_similarity == pytest.approx(torch.nn.functional.cosine_similarity(u, v, dim=0).item())
    assert model.predict("the dog runs", "the dog runs").cosine_similarity == pytest.approx(1.0)


def test_predict_on_lists_gives_the_prediction_of_each_pair_in_order():
    model = tiny_model().eval()
    premises = ["A man is playing guitar on stage.", "the dog", "a woman is sleeping"]
    hypotheses = ["the dog runs", "a man is playing guitar", "a woman"]
    together = model.predict(premises, hypotheses)
    assert len(together) == 3
    for prediction, premise, hypothesis in zip(together, premises, hypotheses):
        alone = model.predict(premise, hypothesis)
        assert prediction.label == alone.label
        assert prediction.probabilities == pytest.approx(alone.probabilities, abs=1e-6)
        assert prediction.cosine_similarity == pytest.approx(alone.cosine_similarity, abs=1e-6)
    with pytest.raises(ValueError, match="3 premises but 2 hypotheses"):
        model.predict(premises, hypotheses[:2])


def test_encode_takes_text_or_the_token_ids_of_tokenize_alike():
    model = tiny_model().eval()
    sentences = ["the dog runs on stage", "a man"]
    torch.testing.assert_close(model.encode(model.tokenize(sentences)), model.encode(sentences), rtol=0, atol=0)


def test_encode_keeps_the_order_of_the_sentences():
    model = tiny_model().eval()
    sentences = ["the dog runs on stage", "a man", "a woman is sleeping"]
    together = model.encode(sentences)
    one_by_one = torch.cat([model.encode([s]) for s in sentences])
    torch.testing.assert_close(together, one_by_one, rtol=1e-5, atol=1e-6)


def test_encode_is_the_eval_mode_function_and_leaves_the_mode_as_it_found_it():
    model = tiny_model()
    for module in model.modules():  # dropout that would show if encode ran in training mode
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.5
    sentences = ["the dog runs on stage", "a man"]
    wanted = model.eval().encode(sentences)
    assert not model.training
    model.train()
    torch.testing.assert_close(model.encode(sentences), wanted)
    assert model.training and all(module.training for module in model.modules())


def test_save_and_load_give_identical_predictions(tmp_path):
    model = tiny_model(pooling="max").eval()
    model.save(tmp_path / "model")
    loaded = SentenceBERT.load(tmp_path / "model")
    assert loaded.config == model.config and loaded.vocab.tokens == model.vocab.tokens
    pair = ("A man is playing guitar on stage.", "The man is sleeping.")
    assert loaded.predict(*pair) == model.predict(*pair)


def test_loading_a_pretraining_checkpoint_as_sbert_is_refused_with_a_reason(tmp_path):
    (tmp_path / "config.json").write_text('{"kind": "bert", "model": {}}')
    with pytest.raises(SystemExit, match="not a fine-tuned Sentence-BERT"):
        SentenceBERT.load(tmp_path)
    with pytest.raises(SystemExit, match="config.json not found"):
        SentenceBERT.load(tmp_path / "missing")
