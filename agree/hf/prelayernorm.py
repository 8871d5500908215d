"""agree's pre-LayerNorm BERT (pretrain.py --pre-layer-norm) written as transformers' RobertaPreLayerNorm.

transformers' BertModel normalises after each block, so a pre-LN model is not a BERT to it. Its
RobertaPreLayerNormModel (model_type "roberta-prelayernorm", the architecture of Izsak et al.'s efficient
MLM models) computes our pre-LN encoder exactly, piece by piece:

    ours (bert.py, pre_layer_norm=True)              RobertaPreLayerNorm
    token + position + segment, LayerNorm, dropout   word + position + token_type, LayerNorm, dropout
    x + out(attention(attention_norm(x)))            x + output.dense(self(attention.LayerNorm(x)))
    x + down(gelu(up(feed_forward_norm(x))))         x + output.dense(gelu(intermediate.dense(
                                                           intermediate.LayerNorm(x))))
    final_norm after the last layer                  LayerNorm after the encoder
    pooler: tanh(dense(h[:, 0]))                     pooler: the same
    masked LM: norm(gelu(dense(h))) @ tokensᵀ + b    lm_head: layer_norm(gelu(dense(h))), decoder tied, bias

with exact (erf) GELU, one LayerNorm eps and the segment count (type_vocab_size) taken from our config.

One piece is arranged differently: the positions. Ours are 0, 1, ..., T-1. RoBERTa's are counted from the
input ids: a token that is not padding at place p gets position padding_idx + 1 + p, and padding gets
padding_idx. Our [PAD] has id 0, so with pad_token_id 0 a real token at place p reads row p + 1: our row p
is written as their row p + 1, row 0 (read only by padding, whose outputs nobody uses) is zeros, and
max_position_embeddings is one more than our max_len. Padding on the right, as every agree batch is, or
anywhere else: the count skips [PAD], so the real tokens get the positions they get alone.

The NSP classifier has no place in RobertaPreLayerNorm (RoBERTa dropped next-sentence prediction): a
pre-trained model's goes to a file of its own, next_sentence.safetensors, applied to the pooler's output.
A model trained without biases (--no-bias) gets zero biases: the same function in this architecture's shape.
"""
from pathlib import Path

import torch

from agree.atomic import atomic_write_json
from agree.hf import checkpoints
from agree.hf.checkpoints import tokenizer_config, weight_and_bias, write_safetensors
from data import PAD_ID

MODEL_TYPE = "roberta-prelayernorm"
PREFIX = "roberta_prelayernorm."  # where the heads' models keep the encoder (their base_model_prefix)
FIRST_POSITION = PAD_ID + 1  # RoBERTa's first real position: padding_idx + 1


def prelayernorm_config(config, architecture, tokenizer):
    """config.json of RobertaPreLayerNormConfig for one of our pre-LN BertConfigs."""
    return {"architectures": [architecture], "model_type": MODEL_TYPE, "vocab_size": config.vocab_size,
            "hidden_size": config.d_model, "num_hidden_layers": config.n_layers,
            "num_attention_heads": config.n_heads, "intermediate_size": config.d_ff, "hidden_act": "gelu",
            "hidden_dropout_prob": config.dropout, "attention_probs_dropout_prob": config.dropout,
            "max_position_embeddings": config.max_len + FIRST_POSITION, "type_vocab_size": config.n_segments,
            "initializer_range": config.init_std, "layer_norm_eps": config.layer_norm_eps,
            # pad_token_id is also RoBERTa's padding_idx, from which its positions are counted (above)
            "pad_token_id": PAD_ID, "bos_token_id": tokenizer.cls_id, "eos_token_id": tokenizer.sep_id,
            "tie_word_embeddings": True, "is_decoder": False, "add_cross_attention": False}


# Each layer's modules, ours -> theirs in RobertaPreLayerNorm (pre-LN: each LayerNorm opens its block).
PRE_LN_LAYER_MODULES = (("attention_norm", "attention.LayerNorm"), ("attention.out", "attention.output.dense"),
                        ("feed_forward_norm", "intermediate.LayerNorm"), ("feed_forward.up", "intermediate.dense"),
                        ("feed_forward.down", "output.dense"))


def encoder_names(config):
    """[(our name in BERT, [their names in RobertaPreLayerNormModel])] for every tensor of the encoder: as for
    BertModel (checkpoints.py) but for where the LayerNorms sit, and the final LayerNorm."""
    return checkpoints.encoder_names(config, PRE_LN_LAYER_MODULES) + weight_and_bias("final_norm", "LayerNorm")


def head_names():
    """The same for the pre-training heads that RobertaPreLayerNormForMaskedLM holds. The pooler sits inside
    the encoder there (AutoModel's RobertaPreLayerNormModel uses it; the masked-LM model leaves it unused)."""
    return [*weight_and_bias("pooler.dense", PREFIX + "pooler.dense"),
            *weight_and_bias("masked_lm.dense", "lm_head.dense"),
            *weight_and_bias("masked_lm.norm", "lm_head.layer_norm"),
            ("masked_lm.bias", ["lm_head.bias"])]


def shift_positions(table):
    """Our position rows (max_len, d) as theirs (max_len + FIRST_POSITION, d): our row p at p + FIRST_POSITION,
    zeros before it (the padding row)."""
    return torch.cat([table.new_zeros(FIRST_POSITION, table.shape[1]), table])


def export_weights(state, config, heads):
    """RobertaPreLayerNorm's {name: tensor} from our state dict: RobertaPreLayerNormForMaskedLM's names when
    `heads` (our state dict is a BertForPreTraining's), RobertaPreLayerNormModel's otherwise (`state` holds an
    encoder's, under "bert.", as a Sentence-BERT's does)."""
    mapping = [("bert." + ours, [PREFIX + n if heads else n for n in names]) for ours, names in encoder_names(config)]
    if heads:
        mapping += head_names()
    weights = {}
    for ours, names in mapping:
        tensor = state.get(ours)
        if tensor is None and ours.endswith(".bias") and not config.bias:
            tensor = torch.zeros(state[ours.removesuffix(".bias") + ".weight"].shape[0])
        if ours == "bert.embeddings.position.weight":
            tensor = shift_positions(tensor)
        weights.update(zip(names, tensor.chunk(len(names))))
    return {name: tensor.contiguous() for name, tensor in weights.items()}


def write_prelayernorm_directory(directory, state, config, tokenizer, heads):
    """config.json, model.safetensors, vocab.txt and tokenizer_config.json for transformers, as
    checkpoints.write_bert_directory writes a post-LN model's. heads=True: a RobertaPreLayerNormForMaskedLM
    (pooler included) from our pre-training model's state, and next_sentence.safetensors; else a
    RobertaPreLayerNormModel (an encoder)."""
    if not config.pre_layer_norm:  # RobertaPreLayerNorm would compute another function: BERT's is the one
        raise ValueError("a post-LayerNorm model is a BERT to transformers: checkpoints.write_bert_directory")
    directory = Path(directory)
    architecture = "RobertaPreLayerNormForMaskedLM" if heads else "RobertaPreLayerNormModel"
    write_safetensors(directory / "model.safetensors", export_weights(state, config, heads), {"format": "pt"})
    if heads:
        write_safetensors(directory / "next_sentence.safetensors",
                          {part: state[f"next_sentence.{part}"].contiguous() for part in ("weight", "bias")})
    tokenizer.save(directory / "vocab.txt")
    atomic_write_json(directory / "tokenizer_config.json", tokenizer_config(tokenizer, config.max_len))
    atomic_write_json(directory / "config.json", prelayernorm_config(config, architecture, tokenizer))
