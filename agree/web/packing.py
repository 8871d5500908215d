"""Sentences packed into one row: how the server encodes the few sentences of a batch.

A server's batch is a handful of sentences of different lengths (a premise and its hypothesis, a few search
queries). Padded to the longest, as SentenceBERT.encode pads, every shorter sentence computes on padding.
Packed one after another into a single row instead, with every token attending only to the tokens of its own
sentence and counting its position from that sentence's start, each sentence gets the vectors it gets alone
(up to float rounding) and no arithmetic goes to padding. The price is attention over the whole row: T²
scores for T tokens in all, against N·L² for N sentences padded to length L. That is cheap for a few short
sentences and dear for many, so `encode_ids` packs only up to PACKED_TOKENS tokens in all, and only sentences
of different lengths: a lone sentence, or sentences of one length, have no padding to save, and the packed
row's mask would only cost them. benchmarks/encoder_cost.py measures both ways.

Reading order: the packed forward pass through the encoder's pieces, each sentence's vector pooled from its
own rows, the choice between packing and padding, and the predictions the server answers /predict with.
"""
import torch

from agree.training import evaluation_mode
from bert import check_length
from sbert import predictions

PACKED_TOKENS = 256  # the most tokens in all that are packed; a larger batch is padded


def forward_packed(bert, input_ids, lengths):  # (T,), (N,) -> (T, d)
    """`bert`'s vectors for sentences packed one after another into a single row: input_ids holds their
    tokens, lengths says how long each is. Segment 0 throughout, as SentenceBERT encodes a sentence."""
    check_length(int(lengths.max()), bert.config)
    sentence = torch.repeat_interleave(torch.arange(len(lengths), device=input_ids.device), lengths)  # (T,)
    starts = torch.cumsum(lengths, 0) - lengths  # (N,) where each sentence begins
    positions = torch.arange(len(input_ids), device=input_ids.device) - starts[sentence]  # (T,) within its own
    same_sentence = sentence[:, None] == sentence[None, :]  # (T, T): query i may see key j
    x = bert.embeddings(input_ids[None], torch.zeros_like(input_ids)[None], positions)  # (1, T, d)
    return bert.run_layers(x, same_sentence[None, None])[0]  # mask (1, 1, T, T): one row, every head


def pool_packed(hidden, lengths, how):  # (T, d), (N,) -> (N, d)
    """sbert.pool for packed sentences: each sentence pools its own rows, and there is no padding to leave out."""
    starts = torch.cumsum(lengths, 0) - lengths
    if how == "cls":
        return hidden[starts]
    sentence = torch.repeat_interleave(torch.arange(len(lengths), device=hidden.device), lengths)  # (T,)
    rows = sentence[:, None].expand_as(hidden)  # (T, d): each value goes to its sentence's row
    empty = hidden.new_zeros(len(lengths), hidden.shape[-1])
    if how == "max":
        return empty.scatter_reduce(0, rows, hidden, "amax", include_self=False)
    return empty.index_add(0, sentence, hidden) / lengths[:, None].to(hidden.dtype)


def embed_packed(model, ids):  # N lists of token ids -> (N, d)
    """A SentenceBERT's embeddings of tokenized sentences, packed into one row."""
    lengths = torch.tensor([len(sentence) for sentence in ids], device=model.device)
    tokens = torch.tensor([token for sentence in ids for token in sentence], device=model.device)
    return pool_packed(forward_packed(model.bert, tokens, lengths), lengths, model.config.pooling)


def worth_packing(ids):
    lengths = [len(sentence) for sentence in ids]
    return bool(ids) and sum(lengths) <= PACKED_TOKENS and len(set(lengths)) > 1


@torch.inference_mode()
def encode_ids(model, ids):  # N lists of token ids -> (N, d) on the CPU
    """SentenceBERT.encode for a server's batch of tokenized sentences: packed when that saves padding, else
    padded in batches of similar length as `encode` pads them."""
    if not worth_packing(ids):
        return model.encode(ids)
    with evaluation_mode(model):  # embeddings are the eval-mode function: no dropout
        return embed_packed(model, ids).float().cpu()


def predict_ids(model, pairs):
    """[Prediction] of tokenized pairs [(premise ids, hypothesis ids)], all their sentences encoded together."""
    embeddings = encode_ids(model, [ids for pair in pairs for ids in pair])  # (2N, d): premise, hypothesis, ...
    return predictions(model.head, embeddings[0::2], embeddings[1::2])
