"""agree/web/packing.py: sentences packed into one row get the vectors each gets alone, and the server's batches
are packed only when that saves padding."""
import pytest
import torch

from agree.web import packing
from agree.web.packing import embed_packed, encode_ids, forward_packed, pool_packed
from bert import BERT, BertConfig
from data import SPECIAL_TOKENS, Vocab
from sbert import SentenceBERT, SentenceBertConfig, pool

VOCAB = 50
WORDS = "a man woman is playing guitar sleeping on stage the dog runs".split()


def tiny(**overrides):
    return BertConfig.preset("tiny", vocab_size=VOCAB, **overrides)


def tiny_model(**options):
    vocab = Vocab(SPECIAL_TOKENS + tuple(WORDS))
    torch.manual_seed(0)
    return SentenceBERT(SentenceBertConfig(BertConfig.preset("tiny", vocab_size=len(vocab)), **options), vocab)


# --- the encoder on a packed row --------------------------------------------------------------------------------

@pytest.mark.parametrize("attention", ["written", "fused"])
@pytest.mark.parametrize("pre_layer_norm", [False, True])
def test_packed_sentences_get_the_vectors_each_gets_alone(attention, pre_layer_norm):
    model = BERT(tiny(attention=attention, pre_layer_norm=pre_layer_norm)).eval()
    generator = torch.Generator().manual_seed(1)
    sentences = [torch.randint(5, VOCAB, (length,), generator=generator) for length in (7, 3, 11, 1)]
    packed = forward_packed(model, torch.cat(sentences), torch.tensor([7, 3, 11, 1]))
    alone = torch.cat([model(sentence[None])[0] for sentence in sentences])
    assert packed.shape == (22, 32)
    torch.testing.assert_close(packed, alone, rtol=1e-5, atol=1e-5)


def test_a_packed_sentence_does_not_see_its_neighbours():
    model = BERT(tiny()).eval()
    first, second = torch.arange(5, 12), torch.arange(20, 24)
    changed = torch.tensor([30, 31, 32, 33])
    lengths = torch.tensor([7, 4])
    before = forward_packed(model, torch.cat([first, second]), lengths)
    after = forward_packed(model, torch.cat([first, changed]), lengths)
    torch.testing.assert_close(after[:7], before[:7], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(after[7:], before[7:]), "the changed sentence itself must change"


def test_a_too_long_packed_sentence_is_refused():
    model = BERT(tiny())
    with pytest.raises(ValueError, match="longer than max_len 64"):
        forward_packed(model, torch.ones(70, dtype=torch.long), torch.tensor([5, 65]))


# --- pooling and the choice ----------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["mean", "max", "cls"])
def test_packed_pooling_equals_padded_pooling(how):
    hidden = torch.randn(2, 6, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    packed = torch.cat([hidden[0, :3], hidden[1]])  # the real rows one after another
    torch.testing.assert_close(pool_packed(packed, torch.tensor([3, 6]), how), pool(hidden, mask, how))


@pytest.mark.parametrize("pooling", ["mean", "max", "cls"])
def test_packed_and_padded_batches_give_the_same_embeddings(pooling, monkeypatch):
    model = tiny_model(pooling=pooling).eval()
    ids = model.tokenize(["a man is playing guitar on stage", "the dog", "a woman is sleeping", "runs"])
    packed = encode_ids(model, ids)  # 23 tokens: packed
    monkeypatch.setattr(packing, "PACKED_TOKENS", 0)  # now padded, in batches of similar length
    padded = encode_ids(model, ids)
    torch.testing.assert_close(packed, padded, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(padded, model.encode(ids), rtol=0, atol=0)  # it padded as encode pads
    torch.testing.assert_close(packed, embed_packed(model, ids), rtol=0, atol=0)  # it did pack


def test_sentences_without_padding_to_save_are_not_packed(monkeypatch):
    model = tiny_model().eval()
    monkeypatch.setattr(packing, "embed_packed", lambda model, ids: pytest.fail("packed without padding to save"))
    encode_ids(model, model.tokenize(["a man is playing"]))
    encode_ids(model, model.tokenize(["a man is playing", "the dog runs on"]))  # one length: no padding
