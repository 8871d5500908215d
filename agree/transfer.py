"""Transfer signals: is pre-training buying anything for sentence pairs yet?

Masked-LM accuracy says how well the encoder fills in words; it does not say whether its sentence vectors
are any use for similarity or inference. Two cheap measurements of the current encoder say that, so a
pre-training run can be watched (and levers compared) on what the fine-tuning will need:

- `sts_spearman`: mean-pooled embeddings, zero-shot: Spearman correlation (x100, as the SBERT paper writes it)
  between the cosine of each pair's two embeddings and the human score, on an STS split that the reports
  never use (stsb:train by default; the reports use stsb:dev).
- `probe_accuracy`: a frozen-encoder NLI probe. The encoder is not trained; a logistic regression on
  (u, v, |u - v|) of the frozen mean-pooled embeddings is fitted on the pairs of some premises and scored on
  the pairs of the other premises (split by premise, so no premise is on both sides). One fit of a linear
  model on features computed once: cheap beside the pre-training it watches.

Both take the same inputs at every evaluation (the same pairs, the same split, a deterministic fit), so
their changes along a run are the encoder's. A random encoder scores well above zero on both (a mean of
random word vectors is a bag of words), which is why the run measures them at step 0 too.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from agree.datasets import split_pairs
from agree.encoded_pairs import load_encoded_pairs
from agree.training import autocast, evaluation_mode
from data import LABELS, PAD_ID, by_length
from metrics import spearman
from sbert import pool


@dataclass(frozen=True)
class TransferConfig:
    sts: str = "stsb:train"       # STS pairs for the zero-shot similarity signal (never a reported split)
    nli: str = "snli:dev"         # NLI training pairs for the probe (never a test split)
    probe_test_fraction: float = 0.2   # premises whose pairs score the probe; the rest fit it
    probe_l2: float = 1e-3        # ridge penalty of the probe's logistic regression (on standardised features)
    probe_iterations: int = 100   # L-BFGS iterations: enough for the fit to converge on a dev split
    batch_size: int = 256
    seed: int = 0


class TransferSignals:
    """Holds the tokenized pairs once; calling it measures an encoder (a bert.BERT)."""

    def __init__(self, vocab, max_len, data_dir, cache_dir=".cache", config=TransferConfig(), log=print):
        self.config = config
        load = lambda specs, task: load_encoded_pairs(specs, vocab, max_len, data_dir, task, cache_dir, log)
        self.sts = load(config.sts, "sts")
        self.probe_train, self.probe_test = split_pairs(load(config.nli, "nli"), config.probe_test_fraction,
                                                        config.seed)

    def __call__(self, encoder, device, precision="auto"):
        with evaluation_mode(encoder):
            embed = lambda ids: embed_all(encoder, ids, self.config.batch_size, device, precision)
            sts = F.cosine_similarity(embed(self.sts.first), embed(self.sts.second), dim=-1)
            train = probe_features(embed(self.probe_train.first), embed(self.probe_train.second))
            test = probe_features(embed(self.probe_test.first), embed(self.probe_test.second))
        accuracy = probe_accuracy(train, torch.from_numpy(self.probe_train.labels), test,
                                  torch.from_numpy(self.probe_test.labels), self.config)
        return {"sts_spearman": 100 * spearman(sts.tolist(), self.sts.scores.tolist()),
                "probe_accuracy": accuracy}


@torch.no_grad()  # not inference_mode: the probe's fit needs the embeddings as ordinary tensors
def embed_all(encoder, ragged_ids, batch_size, device, precision):
    """Mean-pooled embeddings (N, d) of every sequence of an encoded_pairs.RaggedIds, shortest first to pad little."""
    embeddings = torch.empty(len(ragged_ids), encoder.config.d_model)
    for chosen in by_length(ragged_ids.lengths(), batch_size):
        ids = ragged_ids.padded(chosen).to(device)
        with autocast(device, precision):
            hidden = encoder(ids)  # (B, T, d)
        embeddings[torch.from_numpy(chosen)] = pool(hidden.float(), ids != PAD_ID, "mean").cpu()
    return embeddings


def probe_features(u, v):  # (N, d), (N, d) -> (N, 3d): the SBERT classifier's input
    return torch.cat([u, v, (u - v).abs()], dim=-1)


def probe_accuracy(train_x, train_y, test_x, test_y, config):
    """Fit a multinomial logistic regression with L-BFGS on standardised features (deterministic: full batch,
    zero start), return its accuracy on the test pairs."""
    mean, std = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    with torch.enable_grad():
        weight = torch.zeros(train_x.shape[1], len(LABELS), requires_grad=True)
        bias = torch.zeros(len(LABELS), requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], max_iter=config.probe_iterations,
                                      line_search_fn="strong_wolfe")

        def loss():
            optimizer.zero_grad()
            value = F.cross_entropy(train_x @ weight + bias, train_y) + config.probe_l2 * weight.square().sum()
            value.backward()
            return value

        optimizer.step(loss)
    predictions = (test_x @ weight.detach() + bias.detach()).argmax(-1)
    return (predictions == test_y).float().mean().item()
