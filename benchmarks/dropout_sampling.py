"""Would a dropout that draws uniform numbers make fine-tuning faster? (README, Performance: measured, not
adopted.) `--profile` of throughput.py shows torch's Bernoulli sampling (aten::bernoulli_) at 10-12% of a CPU
training step; drawing torch.rand_like and comparing with p is the same dropout, sampled another way.

    python benchmarks/dropout_sampling.py [--steps 40]

Two identical `small` Sentence-BERTs, one with nn.Dropout and one with the uniform-sample dropout, take turns
on the same batch (32 pairs of 18 and 12 tokens); printed: the median step time of each.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's modules
from bert import BertConfig  # noqa: E402
from data import Vocab  # noqa: E402
from sbert import SentenceBERT, SentenceBertConfig  # noqa: E402
from training import make_optimizer  # noqa: E402


class UniformSampleDropout(nn.Module):
    """nn.Dropout's function: zero each value with probability p, scale the rest by 1/(1-p)."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return x * ((torch.rand_like(x) >= self.p) * (1 / (1 - self.p)))


def build(uniform_sample_dropout):
    torch.manual_seed(0)
    vocab = Vocab.from_counts({f"word{i}": 1 for i in range(29_995)}, 30_000)
    model = SentenceBERT(SentenceBertConfig(BertConfig.preset("small", vocab_size=len(vocab))), vocab)
    if uniform_sample_dropout:
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.Dropout):
                    setattr(parent, name, UniformSampleDropout(child.p))
    return model.train(), make_optimizer(model, lr=1e-4, weight_decay=0.01)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps each (default: %(default)s)")
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(1)
    first, second = (torch.randint(5, 30_000, (32, length), generator=generator) for length in (18, 12))
    labels = torch.randint(0, 3, (32,), generator=generator)
    contenders = {"nn.Dropout (bernoulli_)": build(False), "uniform-sample dropout": build(True)}
    times = {name: [] for name in contenders}
    for round_number in range(args.steps + 3):  # taking turns; the first 3 rounds warm up
        for name, (model, optimizer) in contenders.items():
            start = time.perf_counter()
            logits, _, _ = model(first, second)
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(logits, labels).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if round_number >= 3:
                times[name].append(time.perf_counter() - start)
    for name, seconds in times.items():
        print(f"{name:26s} median {1000 * statistics.median(seconds):6.1f} ms per fine-tuning step")


if __name__ == "__main__":
    main()
