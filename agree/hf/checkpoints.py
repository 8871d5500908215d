"""Hugging Face BERT directories, read and written by hand: no library but torch.

A directory as people download one (bert-base-uncased, the small BERTs of Turc et al. 2019, a
sentence-transformers model) holds config.json (`model_type: bert`), vocab.txt, often tokenizer_config.json,
and the weights as model.safetensors or pytorch_model.bin. agree's encoder computes the same function as
Hugging Face's BertModel: the same layers in the same order, exact GELU, LayerNorm after each block, a tanh
pooler, a masked-LM decoder tied to the token embeddings. Only the names and the layout of the weights
differ, and this module maps them, both ways; anything that does not map completely is refused with the
names that are missing or left over.

Reading order: the safetensors format, the config, the names, reading a directory, writing one.
"""
import json
import math
import sys
from pathlib import Path

import torch

from agree.atomic import atomic_path, atomic_write_json, read_json
from agree.hf.wordpiece import WordPiece
from agree.weights import check_finite, read_tensors
from bert import BertConfig, BertForPreTraining
from data import PAD_ID, Vocab

# --- safetensors: an 8-byte length, a JSON header, the raw tensors -------------------------------------------

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


def read_safetensors(path):
    """{name: tensor} from a .safetensors file. The file is: 8 bytes, the length N of the header as a
    little-endian integer; N bytes of JSON, {name: {"dtype", "shape", "data_offsets": [begin, end]}} plus an
    optional "__metadata__"; then the tensors' bytes, little-endian, at those offsets from the header's end."""
    if sys.byteorder != "little":
        raise RuntimeError("reading safetensors here assumes a little-endian machine")
    path = Path(path)
    with open(path, "rb") as file:
        header_length = int.from_bytes(file.read(8), "little")
        try:
            header = json.loads(file.read(header_length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError(f"{path}: not a safetensors file (no JSON header after the first 8 bytes)") from None
        data = file.read()
    header.pop("__metadata__", None)
    return {name: _tensor_at(path, name, entry, data) for name, entry in header.items()}


def _tensor_at(path, name, entry, data):
    dtype, shape = DTYPES.get(entry["dtype"]), entry["shape"]
    if dtype is None:
        raise ValueError(f"{path}: {name} has dtype {entry['dtype']!r}; expected one of {', '.join(DTYPES)}")
    begin, end = entry["data_offsets"]
    if end - begin != math.prod(shape) * dtype.itemsize or not 0 <= begin <= end <= len(data):
        raise ValueError(f"{path}: {name} ({entry['dtype']} {shape}) does not fit its data offsets "
                         f"[{begin}, {end}] in {len(data):,} bytes of data")
    if begin == end:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(shape)  # a copy of its own


def write_safetensors(path, tensors, metadata=None):
    """The inverse of `read_safetensors`, written atomically. Larger elements first, so that every tensor
    starts at a multiple of its element size, as the format's own writer arranges them."""
    header = {"__metadata__": metadata} if metadata else {}
    ordered = sorted(tensors.items(), key=lambda item: (-item[1].element_size(), item[0]))
    chunks, offset = [], 0
    for name, tensor in ordered:
        raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # spaces pad the header so that the data starts 8-byte aligned
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        file.write(len(encoded).to_bytes(8, "little") + encoded)
        for chunk in chunks:
            file.write(chunk)


# --- config.json ------------------------------------------------------------------------------------------------

# transformers' BertConfig defaults: older config.json files (Turc et al.'s) leave some keys out.
HF_DEFAULTS = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
               "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
               "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
               "initializer_range": 0.02, "layer_norm_eps": 1e-12, "position_embedding_type": "absolute",
               "pad_token_id": PAD_ID, "model_type": "bert"}


def bert_config_from_huggingface(values, path):
    """Our BertConfig for a Hugging Face config.json, or ValueError naming every setting agree does not
    implement. (The one dropout rate is hidden_dropout_prob; fine-tuning sets its own anyway.)"""
    values = {**HF_DEFAULTS, **values}
    expected = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute",
                "pad_token_id": PAD_ID, "is_decoder": False, "add_cross_attention": False}
    unsupported = [f"{key} is {values[key]!r} (agree implements {value!r} only)"
                   for key, value in expected.items() if values.get(key, value) != value]
    if unsupported:
        raise ValueError(f"{path}: a model agree cannot load: " + "; ".join(unsupported))
    return BertConfig(vocab_size=values["vocab_size"], max_len=values["max_position_embeddings"],
                      n_layers=values["num_hidden_layers"], d_model=values["hidden_size"],
                      n_heads=values["num_attention_heads"], d_ff=values["intermediate_size"],
                      n_segments=values["type_vocab_size"], dropout=values["hidden_dropout_prob"],
                      layer_norm_eps=values["layer_norm_eps"], init_std=values["initializer_range"])


def huggingface_config(config, architecture):
    """config.json for one of our BertConfigs. A pre-LN model is another function than BertModel's."""
    if config.pre_layer_norm:
        raise ValueError("a pre-LayerNorm model (pretrain.py --pre-layer-norm) is not a BERT to transformers: "
                         "BertModel normalises after each block, so no config.json can describe it")
    return {**HF_DEFAULTS, "architectures": [architecture], "vocab_size": config.vocab_size,
            "hidden_size": config.d_model, "num_hidden_layers": config.n_layers,
            "num_attention_heads": config.n_heads, "intermediate_size": config.d_ff,
            "hidden_dropout_prob": config.dropout, "attention_probs_dropout_prob": config.dropout,
            "max_position_embeddings": config.max_len, "type_vocab_size": config.n_segments,
            "initializer_range": config.init_std, "layer_norm_eps": config.layer_norm_eps}


# --- Names ----------------------------------------------------------------------------------------------------

QKV = ("query", "key", "value")


# Each layer's modules, ours -> theirs in BertModel (post-LN: each LayerNorm closes its block).
BERT_LAYER_MODULES = (("attention.out", "attention.output.dense"), ("attention_norm", "attention.output.LayerNorm"),
                      ("feed_forward.up", "intermediate.dense"), ("feed_forward.down", "output.dense"),
                      ("feed_forward_norm", "output.LayerNorm"))


def encoder_names(config, layer_modules=BERT_LAYER_MODULES):
    """[(our name in BERT, [Hugging Face's names])] for every tensor of the encoder, BertModel's by default;
    `layer_modules` maps the rest of each layer (prelayernorm.py gives RobertaPreLayerNorm's). One name maps
    to one; our fused attention projection `qkv` is their query, key and value stacked in that order (our
    attention reads the rows of qkv's output as three blocks of d_model)."""
    names = [("embeddings.token.weight", ["embeddings.word_embeddings.weight"]),
             ("embeddings.position.weight", ["embeddings.position_embeddings.weight"]),
             ("embeddings.segment.weight", ["embeddings.token_type_embeddings.weight"])]
    names += weight_and_bias("embeddings.norm", "embeddings.LayerNorm")
    for i in range(config.n_layers):
        ours, theirs = f"layers.{i}.", f"encoder.layer.{i}."
        for part in ("weight", "bias"):
            names.append((f"{ours}attention.qkv.{part}",
                          [f"{theirs}attention.self.{projection}.{part}" for projection in QKV]))
        for our_module, their_module in layer_modules:
            names += weight_and_bias(ours + our_module, theirs + their_module)
    return names


def head_names():
    """The same for BertForPreTraining's heads beyond the encoder: pooler, masked-LM transform and bias,
    next-sentence classifier. (The decoder matrix is the token embeddings: tied, not a tensor of its own.)"""
    return [*weight_and_bias("pooler.dense", "pooler.dense"),
            *weight_and_bias("masked_lm.dense", "cls.predictions.transform.dense"),
            *weight_and_bias("masked_lm.norm", "cls.predictions.transform.LayerNorm"),
            ("masked_lm.bias", ["cls.predictions.bias"]),
            *weight_and_bias("next_sentence", "cls.seq_relationship")]


def weight_and_bias(ours, theirs):
    return [(f"{ours}.{part}", [f"{theirs}.{part}"]) for part in ("weight", "bias")]


# Tied copies that some checkpoints store anyway (pytorch_model.bin does): each must equal what it is tied to.
TIED = {"cls.predictions.decoder.weight": "embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias"}


def _their_spelling(name):
    """A checkpoint's name as the mapping spells it: without BertForPreTraining's "bert." prefix, and with
    LayerNorm's weight and bias where checkpoints converted from TensorFlow say gamma and beta."""
    name = name.removeprefix("bert.")
    for old, new in ((".gamma", ".weight"), (".beta", ".bias")):
        if ".LayerNorm." in name and name.endswith(old):
            name = name.removesuffix(old) + new
    return name


def import_weights(weights, config, source, heads):
    """Our state dict from a checkpoint's {name: tensor}: BertForPreTraining's (the encoder under "bert.")
    when `heads`, else BERT's alone, with any head tensors in the checkpoint left unused."""
    theirs = {_their_spelling(name): tensor for name, tensor in weights.items()}
    theirs.pop("embeddings.position_ids", None)  # a constant buffer (0, 1, 2, ...) some checkpoints carry
    for copy, original in TIED.items():
        if copy in theirs and original in theirs and not torch.equal(theirs.pop(copy), theirs[original]):
            raise ValueError(f"{source}: {copy} differs from {original}; agree's masked-LM decoder is tied to it")
    mapping = encoder_names(config)
    if heads:
        mapping = [("bert." + ours, names) for ours, names in mapping] + head_names()
    missing = [name for _, names in mapping for name in names if name not in theirs]
    used = {name for _, names in mapping for name in names}
    optional = {name for _, names in head_names() for name in names} | set(TIED)
    unexpected = [name for name in theirs if name not in used and (heads or name not in optional)]
    if missing or unexpected:
        raise ValueError(f"{source} does not map completely onto agree's BERT"
                         + (f"; missing: {', '.join(missing)}" if missing else "")
                         + (f"; unexpected: {', '.join(unexpected)}" if unexpected else ""))
    state = {ours: torch.cat([theirs[name] for name in names]).float() for ours, names in mapping}
    if heads:  # the decoder reads the token embeddings through a module of its own name
        state["masked_lm.token_embedding.weight"] = state["bert.embeddings.token.weight"]
    return state


def export_weights(state, config, heads):
    """Hugging Face's {name: tensor} from our state dict: BertForPreTraining's names when `heads` (our state
    dict is a BertForPreTraining's), BertModel's otherwise (`state` holds an encoder's, under "bert.").
    A model trained without biases (--no-bias) gets zero biases: the same function in BertModel's shape."""
    mapping = [("bert." + ours, names) for ours, names in encoder_names(config)]
    if heads:  # BertForPreTraining keeps the encoder and the pooler under "bert."
        mapping = [(ours, ["bert." + n for n in names]) for ours, names in mapping]
        mapping += [(ours, [n if n.startswith("cls.") else "bert." + n for n in names])
                    for ours, names in head_names()]
    weights = {}
    for ours, names in mapping:
        tensor = state.get(ours)
        if tensor is None and ours.endswith(".bias") and not config.bias:
            tensor = torch.zeros(state[ours.removesuffix(".bias") + ".weight"].shape[0])
        weights.update(zip(names, tensor.chunk(len(names))))
    return {name: tensor.contiguous() for name, tensor in weights.items()}


# --- Reading a directory --------------------------------------------------------------------------------------

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def is_huggingface_bert(directory):
    """A config.json that is not agree's own (ours name their "kind")."""
    path = Path(directory) / "config.json"
    return path.is_file() and "kind" not in read_json(path)


def read_config(directory):
    path = Path(directory) / "config.json"
    return bert_config_from_huggingface(read_json(path), path)


def read_tokenizer(directory):
    """vocab.txt with tokenizer_config.json's settings (BertTokenizer's defaults where it is missing). A
    directory agree exported from a model of NLTK words says so there, and gets its NLTK words back."""
    directory = Path(directory)
    if not (directory / "vocab.txt").is_file():
        raise ValueError(f"{directory} has no vocab.txt (agree reads BERT's WordPiece vocabulary from it)")
    path = directory / "tokenizer_config.json"
    settings = read_json(path) if path.is_file() else {}
    if settings.get("agree_tokenizer") == Vocab.name:
        return Vocab.load(directory / "vocab.txt")
    unsupported = [f"{key} is {settings[key]!r}" for key, default in
                   (("strip_accents", None), ("tokenize_chinese_chars", True), ("do_basic_tokenize", True))
                   if settings.get(key, default) != default]
    if unsupported:
        raise ValueError(f"{path}: a tokenizer setting agree does not implement: {'; '.join(unsupported)}")
    return WordPiece.load(directory / "vocab.txt", lowercase=settings.get("do_lower_case", True))


def read_weights(directory):
    """{name: tensor} from model.safetensors, or else pytorch_model.bin (a state dict: no code is run); NaN or
    infinity in them is refused (agree/weights.py)."""
    directory = Path(directory)
    if (directory / "model.safetensors").is_file():
        path = directory / "model.safetensors"
        return check_finite(read_safetensors(path), path), path
    if (directory / "pytorch_model.bin").is_file():
        path = directory / "pytorch_model.bin"
        return check_finite(read_tensors(path), path), path
    shards = ", ".join(p.name for p in directory.glob("*.index.json"))
    raise ValueError(f"{directory} holds no {' or '.join(WEIGHT_FILES)}"
                     + (f" (weights split into shards, {shards}, are not read here)" if shards else ""))


def read_model_files(directory):
    """(BertConfig, tokenizer) of a Hugging Face BERT directory: config.json, vocab.txt and its settings."""
    config, tokenizer = read_config(directory), read_tokenizer(directory)
    if len(tokenizer) != config.vocab_size:
        raise ValueError(f"{directory}: vocab.txt lists {len(tokenizer):,} tokens but config.json says "
                         f"vocab_size {config.vocab_size:,}")
    return config, tokenizer


def load_encoder(directory):
    """(BertConfig, tokenizer, encoder state dict): what fine-tuning starts from. The pooler and the
    pre-training heads, when the checkpoint has them, are not needed."""
    config, tokenizer = read_model_files(directory)
    weights, source = read_weights(directory)
    return config, tokenizer, import_weights(weights, config, source, heads=False)


def load_pretraining_model(directory):
    """(BertForPreTraining, tokenizer): the whole checkpoint, every head required."""
    config, tokenizer = read_model_files(directory)
    weights, source = read_weights(directory)
    model = BertForPreTraining(config)
    model.load_state_dict(import_weights(weights, config, source, heads=True))
    return model.eval(), tokenizer


# --- Writing a directory --------------------------------------------------------------------------------------

def write_bert_directory(directory, state, config, tokenizer, heads):
    """config.json, model.safetensors, vocab.txt and tokenizer_config.json, as transformers reads them.
    heads=True: a BertForPreTraining from our pre-training model's state; else a BertModel (an encoder)."""
    directory = Path(directory)
    values = huggingface_config(config, "BertForPreTraining" if heads else "BertModel")
    write_safetensors(directory / "model.safetensors", export_weights(state, config, heads), {"format": "pt"})
    tokenizer.save(directory / "vocab.txt")
    atomic_write_json(directory / "tokenizer_config.json", tokenizer_config(tokenizer, config.max_len))
    atomic_write_json(directory / "config.json", values)


def tokenizer_config(tokenizer, max_len):
    """BertTokenizer's settings. A model of NLTK words gets the nearest BertTokenizer (lower-case, accents
    kept, as NLTK's words here are) and a note for agree to read it back as NLTK words."""
    settings = {"tokenizer_class": "BertTokenizer", "model_max_length": max_len}
    if isinstance(tokenizer, WordPiece):
        return {**settings, "do_lower_case": tokenizer.lowercase}
    return {**settings, "do_lower_case": True, "strip_accents": False, "agree_tokenizer": Vocab.name}
