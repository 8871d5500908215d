"""Sentence-BERT (Reimers & Gurevych 2019, "Sentence-BERT: Sentence Embeddings using Siamese
BERT-Networks"): one BERT encoder turns each sentence on its own into a vector, and a linear classifier
over (u, v, |u - v|) decides entailment / neutral / contradiction.

The encoder is shared ("siamese"): both sentences go through the same weights, so u and v live in the same
space and the cosine of two embeddings means something after training. The classifier (the paper's
SoftmaxLoss) is kept and saved with the encoder, so three-way predictions work after loading.

Training calls the model on padded batches of token ids (`forward`: logits, u, v). After training there are
two questions to ask it: `encode` (sentences -> embeddings) and `predict` (premise and hypothesis -> the
label, its probabilities and the cosine of the two embeddings). `save` and `load` keep it in a directory.
"""
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from agree.atomic import atomic_write_json
from agree.errors import UserError, in_file
from agree.hf import checkpoints as hf_checkpoints
from agree.hf.wordpiece import load_tokenizer
from agree.quantize import check_cpu, quantize_encoder
from agree.training import evaluation_mode
from agree.weights import DIGESTS, checkpoint_config, load_state, load_tensors, save_tensors
from bert import BERT, BertConfig
from data import LABELS, PAD_ID, encode_sentence, length_sorted_batches

POOLINGS = ("mean", "cls", "max")
# The concatenations of the paper's ablation (its Table 6); "u,v,|u-v|" is the one it recommends.
FEATURES = ("u,v", "|u-v|", "u*v", "|u-v|,u*v", "u,v,u*v", "u,v,|u-v|", "u,v,|u-v|,u*v")


@dataclass
class SentenceBertConfig:
    bert: BertConfig
    pooling: str = "mean"
    features: str = "u,v,|u-v|"

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not {self.pooling!r}")
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {', '.join(FEATURES)}, not {self.features!r}")

    def to_dict(self):
        return {"kind": "sbert", "bert": self.bert.to_dict(), "pooling": self.pooling,
                "features": self.features, "labels": list(LABELS)}

    @classmethod
    def from_dict(cls, values):
        return cls(BertConfig.from_dict(values["bert"]), values["pooling"], values["features"])


def pool(hidden, mask, how):
    """One vector per sentence. hidden: (B, T, d); mask: (B, T), True at real tokens -> (B, d)."""
    if how == "cls":
        return hidden[:, 0]
    if how == "max":
        return hidden.masked_fill(~mask[..., None], float("-inf")).max(dim=1).values
    mask = mask[..., None].to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # padding neither adds nor counts


def pair_features(u, v, features):
    """Concatenate the chosen combinations of the two embeddings: (B, d), (B, d) -> (B, k·d)."""
    parts = {"u": u, "v": v, "|u-v|": (u - v).abs(), "u*v": u * v}
    return torch.cat([parts[name] for name in features.split(",")], dim=-1)


class SoftmaxLoss(nn.Module):
    """The classification objective o = softmax(Wᵀ(u, v, |u - v|)), W of shape (k·d, 3). Returns logits;
    the softmax lives in the cross-entropy during training and in `predictions` afterwards."""

    def __init__(self, d_model, features, num_labels=len(LABELS)):
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(len(features.split(",")) * d_model, num_labels)

    def forward(self, u, v):  # (B, d), (B, d) -> (B, 3)
        return self.classifier(pair_features(u, v, self.features))


@dataclass
class Prediction:
    label: str
    probabilities: dict  # label -> probability
    cosine_similarity: float

    def to_dict(self):
        return {"label": self.label, "probabilities": self.probabilities,
                "cosine_similarity": self.cosine_similarity}


@torch.inference_mode()
def predictions(head, u, v):  # (B, d), (B, d) -> [Prediction]
    """What the trained classifier says of B pairs from their embeddings: the label it scores highest, the
    probabilities of all three, and the cosine of the two embeddings (which the classifier does not use)."""
    device = head.classifier.weight.device
    probabilities = head(u.to(device), v.to(device)).softmax(-1).tolist()  # (B, 3)
    cosines = F.cosine_similarity(u, v, dim=-1).tolist()  # (B,)
    return [Prediction(LABELS[max(range(len(LABELS)), key=lambda i: p[i])], dict(zip(LABELS, p)), cosine)
            for p, cosine in zip(probabilities, cosines)]


class SentenceBERT(nn.Module):
    def __init__(self, config, vocab):
        super().__init__()
        if len(vocab) != config.bert.vocab_size:
            raise ValueError(f"the vocabulary has {len(vocab)} words but the model expects "
                             f"{config.bert.vocab_size}")
        self.config = config
        self.vocab = vocab
        self.bert = BERT(config.bert)
        self.head = SoftmaxLoss(config.bert.d_model, config.features)

    @property
    def device(self):
        return next(self.parameters()).device

    # --- training: padded batches of token ids in, tensors out

    def forward(self, first_ids, second_ids):  # (B, T1), (B, T2) -> logits (B, 3), u (B, d), v (B, d)
        u, v = self._embed(first_ids), self._embed(second_ids)  # the same encoder for both: siamese
        return self.head(u, v), u, v

    def _embed(self, input_ids):  # (B, T) -> (B, d)
        hidden = self.bert(input_ids)  # (B, T, d): one sentence per row, all segment 0
        return pool(hidden, input_ids != PAD_ID, self.config.pooling)

    # --- after training: sentences in, embeddings and predictions out

    def tokenize(self, sentences):
        """Each sentence as the token ids the model reads: [CLS] words [SEP], cut to fit max_len."""
        return [encode_sentence(self.vocab, s, self.config.bert.max_len) for s in sentences]

    @torch.inference_mode()
    def encode(self, sentences, batch_size=64):
        """Sentence embeddings (N, d) on the CPU, in the order given. Each sentence is text, or token ids as
        `tokenize` gives them (the server tokenizes in its request threads). Batches hold sentences of similar
        length, so little padding is computed."""
        ids = [self.tokenize([s])[0] if isinstance(s, str) else s for s in sentences]
        embeddings = torch.empty(len(ids), self.config.bert.d_model)
        with evaluation_mode(self):  # embeddings are the eval-mode function: no dropout
            for chosen, batch in length_sorted_batches(ids, batch_size):
                embeddings[torch.from_numpy(chosen)] = self._embed(batch.to(self.device)).float().cpu()
        return embeddings

    def predict(self, premise, hypothesis):
        """The trained classifier's verdict on a pair, the probabilities of the three labels and the cosine
        of the two embeddings: a Prediction for two sentences, a list of them for two equally long lists of
        sentences (encoded together, in batches)."""
        single = isinstance(premise, str)
        premises, hypotheses = ([premise], [hypothesis]) if single else (list(premise), list(hypothesis))
        if len(premises) != len(hypotheses):
            raise ValueError(f"{len(premises)} premises but {len(hypotheses)} hypotheses")
        embeddings = self.encode(premises + hypotheses)  # (2N, d): the premises, then the hypotheses
        found = predictions(self.head, embeddings[:len(premises)], embeddings[len(premises):])
        return found[0] if single else found

    # --- checkpoints

    def save(self, directory):
        """config.json, vocab.txt and model.pt (encoder and classifier), each written atomically, config.json
        last with the digest of model.pt (agree/weights.py); other files in the directory (metrics.jsonl,
        reports) are left alone."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.vocab.save(directory / "vocab.txt")
        digest = save_tensors({k: v.cpu() for k, v in self.state_dict().items()}, directory / "model.pt")
        config = {**self.config.to_dict(), "tokenizer": self.vocab.settings(),  # wordpiece.load_tokenizer reads it
                  DIGESTS: {"model.pt": digest}}
        atomic_write_json(directory / "config.json", config)

    @classmethod
    def load(cls, directory, device="cpu", int8=False):
        """The model saved in `directory`, its weights checked (digest, finite values, shapes); a problem with
        any of its files is a UserError (or SystemExit) naming the file. int8=True: the encoder's linear layers
        in int8 for inference on the CPU (agree/quantize.py), faster at a small cost in accuracy."""
        directory = Path(directory)
        if int8:
            check_cpu(device)
        values = checkpoint_config(directory, "sbert", "a fine-tuned Sentence-BERT (run finetune.py on it first)")
        try:
            config = SentenceBertConfig.from_dict(values)
        except (KeyError, TypeError, ValueError) as error:
            raise in_file(directory / "config.json", error) from error
        model = cls.checked(config, load_tokenizer(directory, values), directory)
        load_state(model, load_tensors(directory / "model.pt", values), directory / "model.pt")
        model = model.to(device).eval()
        return quantize_encoder(model) if int8 else model

    @classmethod
    def checked(cls, config, tokenizer, directory):
        """The model of a checkpoint's config and tokenizer, or a UserError when they disagree."""
        try:
            return cls(config, tokenizer)
        except ValueError as error:
            raise UserError(f"{directory / 'vocab.txt'} does not fit {directory / 'config.json'}: {error}") from error

    @classmethod
    def from_pretrained_bert(cls, directory, pooling="mean", features="u,v,|u-v|", dropout=None, weights=True):
        """Start from a pretrain.py checkpoint or a Hugging Face BERT directory (agree/hf/checkpoints.py): its
        encoder weights and tokenizer, a fresh classifier. `dropout` replaces the pre-training dropout rate when
        given. weights=False keeps the architecture and tokenizer but not the weights: the baseline that shows what
        pre-training buys."""
        directory = Path(directory)
        bert_config, tokenizer, read_encoder = pretrained_encoder(directory)
        if dropout is not None:
            bert_config.dropout = dropout
        config = SentenceBertConfig(bert_config, pooling, features)
        model = cls.checked(config, tokenizer, directory)
        if weights:
            encoder, path = read_encoder()
            load_state(model.bert, encoder, path)  # strict: every encoder weight must be there
        return model


def pretrained_encoder(directory):
    """(BertConfig, tokenizer, read_encoder) of a pre-trained checkpoint; read_encoder() gives the encoder's
    state dict and the file it came from. A pretrain.py checkpoint's weights are read only when wanted (not
    for --random-init), after their digest is checked; a Hugging Face directory's are read at once, so that one
    that does not map is refused at once."""
    if hf_checkpoints.is_huggingface_bert(directory):
        try:
            config, tokenizer, encoder = hf_checkpoints.load_encoder(directory)
        except ValueError as error:
            raise SystemExit(str(error)) from None
        return config, tokenizer, lambda: (encoder, directory)
    values = checkpoint_config(directory, "bert", "a pre-trained BERT from pretrain.py or a Hugging Face BERT "
                               "directory")
    try:
        config = BertConfig.from_dict(values["model"])
    except (KeyError, TypeError, ValueError) as error:
        raise in_file(directory / "config.json", error) from error

    def read_encoder():
        saved = load_tensors(directory / "model.pt", values)
        return {k.removeprefix("bert."): v for k, v in saved.items() if k.startswith("bert.")}, directory / "model.pt"
    return config, load_tokenizer(directory, values), read_encoder
