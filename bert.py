"""BERT (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding"), written out in plain PyTorch.

Reading order: the configuration, the embeddings, attention, the feed-forward block, one encoder layer, the
encoder, and the two pre-training heads (masked language model and next-sentence prediction).

Shapes: B = batch, T = sequence length, d = d_model, H = attention heads, P = masked positions per sequence,
V = vocabulary size. Every layer is created in `__init__`, so every weight is trained and saved.
"""
import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from data import PAD_ID  # [PAD] has id 0 in every vocabulary: padding is found by comparing with it

IGNORE_INDEX = -100  # label of an unused masked-LM slot; cross-entropy skips it.


@dataclass
class BertConfig:
    """Defaults are BERT-base; `BertConfig.preset(name)` gives the sizes this project uses."""
    vocab_size: int = 30000
    max_len: int = 512
    n_layers: int = 12
    d_model: int = 768
    n_heads: int = 12
    d_ff: int = 3072
    n_segments: int = 2
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    init_std: float = 0.02
    # "written": attention spelled out with matmul and softmax (the default, to read);
    # "fused": torch's scaled_dot_product_attention, the same function in one faster kernel.
    attention: str = "written"
    # Deliberate departures from the paper, all off by default (docs/usage.md, "Pre-training"; RESULTS.md):
    pre_layer_norm: bool = False  # LayerNorm before each block instead of after (Cramming, GPT-2)
    bias: bool = True  # False drops the biases of linear layers and LayerNorms (Cramming)

    def __post_init__(self):
        # A config.json edited by hand may hold anything: "big" for d_model would fail far from here, in a
        # string-formatting error, so each value's kind is checked first.
        for field in fields(self):
            value, kind = getattr(self, field.name), field.type
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if kind is int and (not number or not isinstance(value, int) or value < 1):
                raise ValueError(f"{field.name} must be a whole number of at least 1, not {value!r}")
            if kind is float and (not number or not value >= 0):
                raise ValueError(f"{field.name} must be a number of at least 0, not {value!r}")
            if kind in (bool, str) and not isinstance(value, kind):
                raise ValueError(f"{field.name} must be {'true or false' if kind is bool else 'text'}, not {value!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.attention not in ("written", "fused"):
            raise ValueError(f"attention must be 'written' or 'fused', not {self.attention!r}")

    @classmethod
    def preset(cls, name, **overrides):
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown BertConfig fields: {', '.join(unknown)}")
        return cls(**values)


PRESETS = {
    "tiny": dict(n_layers=2, d_model=32, n_heads=2, d_ff=64, max_len=64),  # for tests
    "small": dict(n_layers=4, d_model=256, n_heads=4, d_ff=1024, max_len=128),  # for a CPU
    "base": dict(n_layers=12, d_model=768, n_heads=12, d_ff=3072, max_len=512),  # BERT-base
}


def layer_norm(config):
    return nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=config.bias)


# --- Embeddings ---------------------------------------------------------------------------------------------

class Embeddings(nn.Module):
    """Token + learned absolute position + segment (sentence A or B), then LayerNorm and dropout."""

    def __init__(self, config):
        super().__init__()
        self.token = nn.Embedding(config.vocab_size, config.d_model)
        self.position = nn.Embedding(config.max_len, config.d_model)
        self.segment = nn.Embedding(config.n_segments, config.d_model)
        self.norm = layer_norm(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids, segment_ids, positions=None):  # (B, T), (B, T), (T,) -> (B, T, d)
        """positions: each token's place in its sentence; by default 0, 1, ..., T-1."""
        if positions is None:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.token(input_ids) + self.position(positions) + self.segment(segment_ids)
        return self.dropout(self.norm(x))


# --- Attention ----------------------------------------------------------------------------------------------

def scaled_dot_product_attention(q, k, v, key_mask, dropout):
    """softmax(q kᵀ / √d_head) v, with the keys a query may not see given no weight.

    q, k, v: (B, H, T, d_head); key_mask: (B, 1, 1, T), True at real tokens, or (B, 1, T, T), True where
    query i may see key j (several sentences packed into one row, each seeing only itself: the server's
    agree/web/packing.py); dropout: an nn.Dropout.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, T)
    scores = scores.masked_fill(~key_mask, float("-inf"))
    weights = dropout(scores.softmax(dim=-1))
    return weights @ v  # (B, H, T, d_head)


class MultiHeadAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_heads = config.n_heads
        self.use_fused_kernel = config.attention == "fused"
        # Queries, keys and values come from one matrix multiply of width 3d: the same arithmetic as three
        # separate projections, with one call instead of three.
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.out = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.attention_dropout = nn.Dropout(config.dropout)

    def forward(self, x, key_mask):  # (B, T, d), (B, 1, 1, T) or (B, 1, T, T) -> (B, T, d)
        batch, length, d_model = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.n_heads, d_model // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, T, d_head)
        if self.use_fused_kernel:
            dropout_p = self.attention_dropout.p if self.training else 0.0
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, dropout_p=dropout_p)
        else:
            context = scaled_dot_product_attention(q, k, v, key_mask, self.attention_dropout)
        context = context.transpose(1, 2).reshape(batch, length, d_model)  # heads side by side again
        return self.out(context)


# --- Feed-forward, encoder layer, encoder -----------------------------------------------------------------

class FeedForward(nn.Module):
    """Position-wise: the same two-layer network applied to every token on its own."""

    def __init__(self, config):
        super().__init__()
        self.up = nn.Linear(config.d_model, config.d_ff, bias=config.bias)
        self.down = nn.Linear(config.d_ff, config.d_model, bias=config.bias)

    def forward(self, x):  # (B, T, d) -> (B, T, d)
        return self.down(F.gelu(self.up(x)))  # exact (erf) GELU, as BERT


class EncoderLayer(nn.Module):
    """Attention and feed-forward, each wrapped in dropout, a residual connection and LayerNorm."""

    def __init__(self, config):
        super().__init__()
        self.attention = MultiHeadAttention(config)
        self.attention_norm = layer_norm(config)
        self.feed_forward = FeedForward(config)
        self.feed_forward_norm = layer_norm(config)
        self.dropout = nn.Dropout(config.dropout)
        self.pre_layer_norm = config.pre_layer_norm

    def forward(self, x, key_mask):  # (B, T, d) -> (B, T, d)
        if self.pre_layer_norm:  # x + f(norm(x)): the residual path stays an identity
            x = x + self.dropout(self.attention(self.attention_norm(x), key_mask))
            return x + self.dropout(self.feed_forward(self.feed_forward_norm(x)))
        # BERT's post-LN: norm(x + f(x))
        x = self.attention_norm(x + self.dropout(self.attention(x, key_mask)))
        return self.feed_forward_norm(x + self.dropout(self.feed_forward(x)))


class BERT(nn.Module):
    """The encoder: token ids -> one contextual vector per token."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_layers))
        # With pre-LN the last layer's output has not been normalised yet.
        self.final_norm = layer_norm(config) if config.pre_layer_norm else nn.Identity()
        self.apply(lambda module: init_weights(module, config.init_std))

    def forward(self, input_ids, segment_ids=None, attention_mask=None):  # (B, T) -> (B, T, d)
        """attention_mask: (B, T), True at real tokens; by default every token that is not [PAD]."""
        check_length(input_ids.shape[1], self.config)
        if segment_ids is None:
            segment_ids = torch.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = input_ids != PAD_ID
        key_mask = attention_mask[:, None, None, :]  # (B, 1, 1, T): broadcast over heads and queries
        return self.run_layers(self.embeddings(input_ids, segment_ids), key_mask)

    def run_layers(self, x, key_mask):  # (B, T, d) -> (B, T, d)
        """The embedded tokens through every layer, each query seeing the keys that `key_mask` allows
        (its shapes: scaled_dot_product_attention)."""
        for layer in self.layers:
            x = layer(x, key_mask)
        return self.final_norm(x)


def check_length(length, config):
    """Refuse a sentence longer than the positions the model has learned."""
    if length > config.max_len:
        raise ValueError(f"sequence of {length} tokens is longer than max_len {config.max_len}")


def init_weights(module, std):
    """BERT's initialisation: normal(0, 0.02) weights, zero biases, LayerNorm as the identity."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


# --- Pre-training heads -------------------------------------------------------------------------------------

class Pooler(nn.Module):
    """The [CLS] vector through a dense layer and tanh: BERT's summary of the pair, used for NSP."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model, bias=config.bias)

    def forward(self, hidden):  # (B, T, d) -> (B, d)
        return torch.tanh(self.dense(hidden[:, 0]))


class MaskedLMHead(nn.Module):
    """dense + GELU + LayerNorm, then scores over the vocabulary with the token-embedding matrix itself
    (weights tied, as in BERT) plus a bias of its own."""

    def __init__(self, config, token_embedding):
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.norm = layer_norm(config)
        self.token_embedding = token_embedding  # shared, not a copy: one tensor, trained by both uses
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden):  # (..., d) -> (..., V)
        hidden = self.norm(F.gelu(self.dense(hidden)))
        return F.linear(hidden, self.token_embedding.weight, self.bias)


class BertForPreTraining(nn.Module):
    """BERT with the masked-LM and next-sentence heads."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.bert = BERT(config)
        self.pooler = Pooler(config)
        self.next_sentence = nn.Linear(config.d_model, 2)
        self.masked_lm = MaskedLMHead(config, self.bert.embeddings.token)
        for head in (self.pooler, self.next_sentence, self.masked_lm.dense, self.masked_lm.norm):
            head.apply(lambda module: init_weights(module, config.init_std))

    def forward(self, input_ids, segment_ids, masked_positions):
        """input_ids, segment_ids: (B, T); masked_positions: (B, P) indices into T.

        Returns masked-LM scores (B, P, V) and next-sentence scores (B, 2). The vocabulary projection, the
        largest matrix multiply of the model, runs only at the P masked positions, not at all T.
        """
        hidden = self.bert(input_ids, segment_ids)  # (B, T, d)
        index = masked_positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])  # (B, P, d)
        mlm_logits = self.masked_lm(hidden.gather(1, index))  # (B, P, V)
        nsp_logits = self.next_sentence(self.pooler(hidden))  # (B, 2)
        return mlm_logits, nsp_logits


def pretraining_loss(mlm_logits, masked_labels, nsp_logits, nsp_labels):
    """Masked-LM cross-entropy over the real predictions (slots labelled IGNORE_INDEX are skipped) plus
    next-sentence cross-entropy, summed as in BERT. Returns (total, mlm, nsp). A batch without next-sentence
    labels (all IGNORE_INDEX: pre-training without NSP) has an NSP term of 0, kept in the graph so that every
    parameter still gets a (zero) gradient, as data-parallel training expects."""
    mlm = F.cross_entropy(mlm_logits.flatten(0, 1).float(), masked_labels.flatten(),
                          ignore_index=IGNORE_INDEX)
    if (nsp_labels == IGNORE_INDEX).all():
        nsp = 0 * nsp_logits.float().sum()
    else:
        nsp = F.cross_entropy(nsp_logits.float(), nsp_labels, ignore_index=IGNORE_INDEX)
    return mlm + nsp, mlm, nsp
