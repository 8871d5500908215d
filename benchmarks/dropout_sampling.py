"""Would a dropout that draws uniform numbers make fine-tuning faster? (docs/performance.md: measured, not
adopted.) `--profile` of throughput.py shows torch's Bernoulli sampling (aten::bernoulli_) at 10-12% of a CPU
training step; drawing torch.rand_like and comparing with p is the same dropout, sampled another way.

    python benchmarks/dropout_sampling.py [--steps 40]

Two identical `small` Sentence-BERTs, one with nn.Dropout and one with the uniform-sample dropout, take turns
on the same batch (32 pairs of 18 and 12 tokens), with throughput.py's turn-taking, step and report.
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's modules
from bert import BertConfig  # noqa: E402
from data import Vocab  # noqa: E402
from throughput import agree_sentence_bert, interleaved_timings, report, training_step  # noqa: E402
from agree.training import make_optimizer  # noqa: E402

BATCH = 32


class UniformSampleDropout(nn.Module):
    """nn.Dropout's function: zero each value with probability p, scale the rest by 1/(1-p)."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return x * ((torch.rand_like(x) >= self.p) * (1 / (1 - self.p)))


def fine_tuning_step(uniform_sample_dropout, first, second, labels):
    torch.manual_seed(0)
    vocab = Vocab.from_counts({f"word{i}": 1 for i in range(29_995)}, 30_000)
    model = agree_sentence_bert(BertConfig.preset("small", vocab_size=len(vocab)), vocab, "written")
    if uniform_sample_dropout:
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.Dropout):
                    setattr(parent, name, UniformSampleDropout(child.p))

    def loss(index):  # the same batch at every step
        logits, _, _ = model(first, second)
        return F.cross_entropy(logits, labels)
    return training_step(model, loss, make_optimizer(model, lr=1e-4, weight_decay=0.01))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps each (default: %(default)s)")
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(1)
    first, second = (torch.randint(5, 30_000, (BATCH, length), generator=generator) for length in (18, 12))
    labels = torch.randint(0, 3, (BATCH,), generator=generator)
    contenders = {"nn.Dropout (bernoulli_)": fine_tuning_step(False, first, second, labels),
                  "uniform-sample dropout": fine_tuning_step(True, first, second, labels)}
    report("fine-tuning step, small, batch 32", "pairs", BATCH, interleaved_timings(contenders, 3, args.steps))


if __name__ == "__main__":
    main()
