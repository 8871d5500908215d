"""int8 inference (agree/quantize.py): SentenceBERT.load(..., int8=True) on the tiny untrained model, and the
server that uses it by default (its index cache, its about page)."""
import pickle
import random

import pytest
import torch
from tiny_sbert import WORDS, untrained_model
from torch import nn

import serve
from agree.errors import UserError
from agree.quantize import count_parameters, is_quantized
from agree.web.pages import about_page
from agree.web.search_index import build_index, model_fingerprint
from sbert import SentenceBERT

# How far int8 may move an embedding, relative to its length. Rounding to 8 bits moves each weight and each
# input by at most 1/254 of its row's (input's) largest value; those errors have both signs and mostly cancel
# in sums of 32 to 64 products, and in this untrained model the linear layers (weights of std 0.02) add little
# beside the embeddings that the residual path carries. Seeds 0 to 9 of the tiny model move by 4.2e-4 to
# 5.6e-4 of their length on 200 random sentences; 5e-3 leaves a factor of ten for other CPUs' kernels.
RELATIVE_TOLERANCE = 5e-3


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    directory = tmp_path_factory.mktemp("int8") / "sbert"
    untrained_model().save(directory)
    return directory


@pytest.fixture(scope="module")
def models(saved):
    return SentenceBERT.load(saved), SentenceBERT.load(saved, int8=True)


def sentences(count=200, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30))) for _ in range(count)]


def relative_errors(fp32, int8):
    return (fp32 - int8).norm(dim=1) / fp32.norm(dim=1)


def test_every_linear_layer_of_the_encoder_is_int8_and_the_head_is_not(models):
    fp32, int8 = models
    assert not any(type(module) is nn.Linear for module in int8.bert.modules())
    quantized = [module for module in int8.bert.modules() if is_quantized(module)]
    assert len(quantized) == sum(type(module) is nn.Linear for module in fp32.bert.modules()) == 4 * 2  # 2 layers
    assert all(module.weight().dtype == torch.qint8 for module in quantized)
    assert all(module.weight().qscheme() == torch.per_channel_affine for module in quantized)  # a scale per row
    assert type(int8.head.classifier) is nn.Linear
    assert torch.equal(int8.head.classifier.weight, fp32.head.classifier.weight)


def test_int8_embeddings_are_close_to_fp32_but_not_equal(models):
    fp32, int8 = models
    text = sentences()
    errors = relative_errors(fp32.encode(text), int8.encode(text))
    assert errors.max() < RELATIVE_TOLERANCE
    assert errors.min() > 0  # int8 arithmetic did run


def test_int8_predictions_work_and_agree_with_fp32(models):
    fp32, int8 = models
    premises, hypotheses = sentences(50, seed=1), sentences(50, seed=2)
    for a, b in zip(fp32.predict(premises, hypotheses), int8.predict(premises, hypotheses)):
        assert a.cosine_similarity == pytest.approx(b.cosine_similarity, abs=1e-3)
        assert max(abs(a.probabilities[name] - b.probabilities[name]) for name in a.probabilities) < 1e-3


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")  # torch's own, pickling its packed weights
def test_the_int8_model_survives_pickling(models):
    """The server sends its model to each encoder process through a pipe, pickled."""
    _, int8 = models
    copy = pickle.loads(pickle.dumps(int8))
    layers = copy.bert.layers
    assert is_quantized(layers[0].attention.qkv) and is_quantized(layers[1].feed_forward.down)
    text = sentences(20)
    assert torch.equal(copy.encode(text), int8.encode(text))


@pytest.mark.parametrize("device", ["cuda", "mps", torch.device("meta")])
def test_int8_is_refused_on_any_device_but_the_cpu(saved, device):
    with pytest.raises(UserError, match="int8 inference runs on the CPU only"):
        SentenceBERT.load(saved, device=device, int8=True)


def test_fp32_is_the_default(models):
    fp32, _ = models
    assert not any(is_quantized(module) for module in fp32.modules())


def test_an_int8_model_has_a_fingerprint_of_its_own_that_names_its_integers(saved, models):
    fp32, int8 = models
    assert model_fingerprint(int8) == model_fingerprint(SentenceBERT.load(saved, int8=True))  # stable
    assert model_fingerprint(int8) != model_fingerprint(fp32)  # int8 embeddings are not fp32's: another cache
    other = SentenceBERT.load(saved, int8=True)
    layer = other.bert.layers[0].feed_forward.down
    weight = layer.weight()
    changed = torch.quantize_per_channel(weight.dequantize() * 1.5, weight.q_per_channel_scales(),
                                         weight.q_per_channel_zero_points(), 0, torch.qint8)
    layer.set_weight_bias(changed, layer.bias())
    assert model_fingerprint(other) != model_fingerprint(int8)


def test_an_int8_server_builds_its_index_with_the_int8_encoder_and_searches_it(saved, models, tmp_path):
    _, int8 = models
    index_file = tmp_path / "sentences.txt"
    text = sentences(30, seed=3)
    index_file.write_text("\n".join(text) + "\n")
    index = build_index(int8, str(index_file), cache_dir=tmp_path, progress=False, log=lambda line: None)
    assert torch.allclose(index.embeddings, torch.nn.functional.normalize(int8.encode(index.sentences), dim=1),
                          atol=1e-6)
    assert index.search(int8.encode([index.sentences[4]])[0], 1)[0][0] == index.sentences[4]


def test_serve_computes_in_int8_and_holds_int8_index_rows_unless_told_otherwise(saved):
    args = serve.parse_args(["--model", str(saved)])
    assert args.int8 and args.index_rows == "int8"
    assert any(is_quantized(module) for module in serve.load_sentence_bert(saved, args.int8).modules())
    args = serve.parse_args(["--model", str(saved), "--no-int8", "--index-rows", "fp32"])
    assert not args.int8 and args.index_rows == "fp32"
    assert not any(is_quantized(module) for module in serve.load_sentence_bert(saved, args.int8).modules())


def test_the_about_page_counts_an_int8_models_packed_weights_and_says_it_is_int8(saved, models):
    fp32, int8 = models
    assert count_parameters(int8) == count_parameters(fp32) == sum(p.numel() for p in fp32.parameters())
    assert sum(p.numel() for p in int8.parameters()) < count_parameters(int8)  # torch hides the packed ones
    page = about_page("nonce", int8, saved)
    assert f"{count_parameters(fp32):,} parameters (the encoder's 8 linear layers in int8" in page
    assert f"{count_parameters(fp32):,} parameters (fp32)" in about_page("nonce", fp32, saved)
