"""Export of pre-LayerNorm models as transformers' RobertaPreLayerNorm (agree/hf/prelayernorm.py), checked against
tests/fixtures/huggingface/tiny-preln, which tools/make_hf_fixtures.py wrote once with transformers and
sentence-transformers: two random pre-LN models of agree's (agree/), what transformers loaded from their export
and saved again (sbert-transformers/, bert-transformers/), and what it computed (expected_outputs.json).

Together the checks say that the export is right today: the files agree's code writes now hold exactly the
tensors transformers read from the export then, under the same config, and on those tensors transformers
computed what agree's model computes. This suite never imports transformers."""
import json
from pathlib import Path

import pytest
import torch

from agree.hf import export
from agree.hf.checkpoints import read_safetensors
from agree.hf.prelayernorm import FIRST_POSITION, write_prelayernorm_directory
from agree.weights import DIGESTS, save_tensors
from bert import BertConfig, BertForPreTraining
from data import SPECIAL_TOKENS, Vocab
from sbert import SentenceBERT, SentenceBertConfig

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "huggingface" / "tiny-preln"
EXPECTED = json.loads((FIXTURES / "expected_outputs.json").read_text())
TOLERANCE = dict(rtol=0, atol=1e-5)
# What makes transformers compute the same function; its config.json adds defaults that change nothing here.
ARCHITECTURE_KEYS = ("architectures", "model_type", "vocab_size", "hidden_size", "num_hidden_layers",
                     "num_attention_heads", "intermediate_size", "hidden_act", "max_position_embeddings",
                     "type_vocab_size", "layer_norm_eps", "pad_token_id", "tie_word_embeddings", "is_decoder")


def expected(name):
    return torch.tensor(EXPECTED[name])


def fixture_vocab():
    return Vocab.load(FIXTURES / "agree" / "vocab.txt")


def fixture_sbert():
    values = json.loads((FIXTURES / "agree" / "sbert.json").read_text())
    model = SentenceBERT(SentenceBertConfig.from_dict(values), fixture_vocab())
    model.load_state_dict(read_safetensors(FIXTURES / "agree" / "sbert.safetensors"))
    return model.eval()


def fixture_bert():
    model = BertForPreTraining(BertConfig.from_dict(json.loads((FIXTURES / "agree" / "bert.json").read_text())))
    state = read_safetensors(FIXTURES / "agree" / "bert.safetensors")
    state["masked_lm.token_embedding.weight"] = state["bert.embeddings.token.weight"]  # tied: stored once
    model.load_state_dict(state)
    return model.eval()


def save_pretrained_checkpoint(directory, model, vocab):
    """What pretrain.py leaves for the export to read: config.json, vocab.txt, model.pt."""
    directory.mkdir(parents=True)
    vocab.save(directory / "vocab.txt")
    digest = save_tensors(model.state_dict(), directory / "model.pt")
    (directory / "config.json").write_text(json.dumps({"kind": "bert", "model": model.config.to_dict(),
                                                       "tokenizer": vocab.settings(), DIGESTS: {"model.pt": digest}}))


@pytest.fixture(scope="module")
def exported_sbert(tmp_path_factory):
    work = tmp_path_factory.mktemp("preln-sbert")
    fixture_sbert().save(work / "sbert")
    export.main(["--model", str(work / "sbert"), "--out", str(work / "exported")])
    return work / "exported"


@pytest.fixture(scope="module")
def exported_bert(tmp_path_factory):
    work = tmp_path_factory.mktemp("preln-bert")
    save_pretrained_checkpoint(work / "bert", fixture_bert(), fixture_vocab())
    export.main(["--model", str(work / "bert"), "--out", str(work / "exported")])
    return work / "exported"


def assert_same_tensors(ours, theirs, only_theirs=()):
    """Every tensor transformers saved is ours, bit for bit; `only_theirs` are the names it adds."""
    assert sorted(set(theirs) - set(ours)) == sorted(only_theirs)
    assert sorted(set(ours) - set(theirs)) == []
    for name, tensor in ours.items():
        assert torch.equal(tensor, theirs[name]), name


# --- The files: config, weights, tokenizer, sentence-transformers layout ----------------------------------------

def test_sentence_bert_exports_what_transformers_read(exported_sbert):
    config = json.loads((exported_sbert / "config.json").read_text())
    theirs = json.loads((FIXTURES / "sbert-transformers" / "config.json").read_text())
    assert {key: config[key] for key in ARCHITECTURE_KEYS} == {key: theirs[key] for key in ARCHITECTURE_KEYS}
    assert config["model_type"] == "roberta-prelayernorm" and config["architectures"] == ["RobertaPreLayerNormModel"]
    # AutoModel leaves the pooler newly initialised: agree's Sentence-BERT has none and its embeddings ignore it
    assert_same_tensors(read_safetensors(exported_sbert / "model.safetensors"),
                        read_safetensors(FIXTURES / "sbert-transformers" / "model.safetensors"),
                        only_theirs=["pooler.dense.bias", "pooler.dense.weight"])
    assert json.loads((exported_sbert / "modules.json").read_text())[1]["path"] == "1_Pooling"
    assert json.loads((exported_sbert / "1_Pooling" / "config.json").read_text()) == {
        "word_embedding_dimension": 24, "pooling_mode": "mean"}
    assert json.loads((exported_sbert / "sentence_bert_config.json").read_text())["max_seq_length"] == 16
    head = read_safetensors(exported_sbert / "softmax_loss.safetensors")
    assert torch.equal(head["weight"], fixture_sbert().head.classifier.weight)
    assert (exported_sbert / "vocab.txt").read_text() == (FIXTURES / "agree" / "vocab.txt").read_text()
    readme = (exported_sbert / "README.md").read_text()
    assert "RobertaPreLayerNorm" in readme and "NLTK words, not WordPiece" in readme


def test_pretrained_bert_exports_what_transformers_read(exported_bert):
    config = json.loads((exported_bert / "config.json").read_text())
    theirs = json.loads((FIXTURES / "bert-transformers" / "config.json").read_text())
    assert {key: config[key] for key in ARCHITECTURE_KEYS} == {key: theirs[key] for key in ARCHITECTURE_KEYS}
    ours = read_safetensors(exported_bert / "model.safetensors")
    # the masked-LM model drops the pooler on loading, so its saved copy lacks it; AutoModel reads it (the
    # pooled output in expected_outputs.json is AutoModel's)
    pooler = {f"roberta_prelayernorm.pooler.dense.{part}": f"pooler.dense.{part}" for part in ("weight", "bias")}
    assert_same_tensors({k: v for k, v in ours.items() if k not in pooler},
                        read_safetensors(FIXTURES / "bert-transformers" / "model.safetensors"))
    state = fixture_bert().state_dict()
    for theirs_name, our_name in pooler.items():
        assert torch.equal(ours[theirs_name], state[our_name])
    assert_same_tensors(read_safetensors(exported_bert / "next_sentence.safetensors"),
                        read_safetensors(FIXTURES / "bert-transformers" / "next_sentence.safetensors"))
    assert "next_sentence.safetensors" in (exported_bert / "README.md").read_text()


def test_positions_start_after_the_padding_row(exported_sbert):
    """RoBERTa reads row p + 1 for our position p; row 0 belongs to [PAD]."""
    ours = fixture_sbert().bert.embeddings.position.weight
    theirs = read_safetensors(exported_sbert / "model.safetensors")["embeddings.position_embeddings.weight"]
    assert FIRST_POSITION == 1 and theirs.shape == (ours.shape[0] + 1, ours.shape[1])
    assert not theirs[0].any() and torch.equal(theirs[1:], ours)


# --- The function: agree's forward against transformers' saved outputs ----------------------------------------

@torch.no_grad()
def layer_by_layer(bert, ids, segments, mask):
    """The embeddings and each layer's output, as transformers' hidden_states: its last one is the model's
    output (transformers 5 puts last_hidden_state there), so after the final LayerNorm."""
    key_mask = mask.bool()[:, None, None, :]
    states = [bert.embeddings(ids, segments)]
    for layer in bert.layers:
        states.append(layer(states[-1], key_mask))
    states[-1] = bert.final_norm(states[-1])
    return torch.stack(states)


def at_real_tokens(tensor, mask):
    """Padding rows differ and are no one's output: agree gives [PAD] a position, RoBERTa its padding row."""
    return tensor[..., mask.bool(), :]


def test_sentence_bert_computes_what_transformers_computed():
    model, mask = fixture_sbert(), expected("attention_mask")
    ids, segments = expected("input_ids"), expected("token_type_ids")
    hidden = layer_by_layer(model.bert, ids, segments, mask)
    torch.testing.assert_close(at_real_tokens(hidden, mask), at_real_tokens(expected("sbert_hidden_states"), mask),
                               **TOLERANCE)
    with torch.no_grad():
        last = model.bert(ids, segments)
    torch.testing.assert_close(at_real_tokens(last, mask), at_real_tokens(expected("sbert_last"), mask), **TOLERANCE)


def test_sentence_transformers_embeddings_equal_ours():
    """SentenceTransformer(exported) on text: the same ids (plain words, one cut to max_len) and embeddings."""
    model = fixture_sbert()
    assert model.tokenize(EXPECTED["texts"]) == EXPECTED["st_ids"]
    torch.testing.assert_close(model.encode(EXPECTED["texts"]), expected("st_embeddings"), **TOLERANCE)


def test_pretrained_bert_computes_what_transformers_computed():
    model, mask = fixture_bert(), expected("attention_mask")
    ids, segments = expected("input_ids"), expected("token_type_ids")
    hidden = layer_by_layer(model.bert, ids, segments, mask)
    torch.testing.assert_close(at_real_tokens(hidden, mask), at_real_tokens(expected("bert_hidden_states"), mask),
                               **TOLERANCE)
    with torch.no_grad():
        last = model.bert(ids, segments)
        pooled = model.pooler(last)
        mlm, nsp = model.masked_lm(last), model.next_sentence(pooled)
    torch.testing.assert_close(at_real_tokens(mlm, mask), at_real_tokens(expected("mlm_logits"), mask), **TOLERANCE)
    torch.testing.assert_close(pooled, expected("pooled"), **TOLERANCE)
    torch.testing.assert_close(nsp, expected("nsp_logits"), **TOLERANCE)


# --- A model without biases ---------------------------------------------------------------------------------

def test_a_model_without_biases_exports_zero_biases(tmp_path):
    """RobertaPreLayerNorm always has biases: --no-bias models get zeros there, every name still written."""
    vocab = Vocab(SPECIAL_TOKENS + ("word",))
    for bias in (True, False):
        config = SentenceBertConfig(BertConfig.preset("tiny", vocab_size=len(vocab), pre_layer_norm=True, bias=bias))
        SentenceBERT(config, vocab).save(tmp_path / f"sbert-{bias}")
        export.main(["--model", str(tmp_path / f"sbert-{bias}"), "--out", str(tmp_path / f"exported-{bias}")])
    with_bias = read_safetensors(tmp_path / "exported-True" / "model.safetensors")
    without = read_safetensors(tmp_path / "exported-False" / "model.safetensors")
    assert sorted(with_bias) == sorted(without)
    biases = [name for name in without if name.endswith(".bias")]
    assert len(biases) == 1 + 2 * 8 + 1  # embedding norm; per layer q, k, v, out, up, down, 2 norms; final norm
    for name in biases:
        assert without[name].shape == with_bias[name].shape and not without[name].any(), name


def test_a_post_layer_norm_model_is_not_written_as_roberta_prelayernorm(tmp_path):
    """Its own architecture is BERT's (tests/test_huggingface.py); RobertaPreLayerNorm would be another function."""
    config = BertConfig.preset("tiny", vocab_size=6)
    with pytest.raises(ValueError, match="post-LayerNorm model is a BERT to transformers"):
        write_prelayernorm_directory(tmp_path, BertForPreTraining(config).state_dict(), config,
                                     Vocab(SPECIAL_TOKENS + ("w",)), heads=True)
