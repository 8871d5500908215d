"""How the two parts of a pre-training step share its one clipped gradient (RESULTS.md §4, the fifth lever).

A step of the recipe minimises masked-LM loss + W x neighbour term, and `clip_grad_norm_` (--clip-norm 1)
scales the summed gradient down to norm 1 whenever it is longer. For the random start and for checkpoints of a
run, over the same training batches (the run's own data and options, read from its args.json), this prints the
norm of each part's gradient alone, the cosine between the two, the norm of the sum for W = 0.3 and 1, and how
much of the masked-LM gradient the clipped step keeps (1 / norm of the sum, at most 1).

    python docs/runs/term0.3/gradient_parts.py runs/term0.3/bert runs/term0.3/bert-15min runs/term0.3/bert-30min
"""
import argparse
import json
import sys
from pathlib import Path
from statistics import mean

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bert import BertForPreTraining  # noqa: E402
from pretrain import load_data, load_model, model_config  # noqa: E402
from pretraining_step import forward, neighbour_loss  # noqa: E402

WEIGHTS = (0.3, 1.0)
CPU = torch.device("cpu")


def gradient(model, loss):
    """The loss's gradient over every parameter, as one flat vector."""
    model.zero_grad(set_to_none=True)
    loss.backward()
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in model.parameters()])


def parts(model, data, args, batch):
    """(masked-LM gradient, neighbour-term gradient) on training batch number `batch`; the same batches for
    every checkpoint."""
    rng = np.random.default_rng([args.seed, 424242, batch])
    mlm_loss = forward(model, data.make_batch(rng, args.batch_size), CPU, passes=args.length_passes)[0]
    mlm = gradient(model, mlm_loss)
    term = gradient(model, neighbour_loss(model.bert, data.make_neighbour_pairs(rng, args.batch_size), CPU))
    return mlm, term


def measure(model, data, args, batches, clip_norm):
    rows = [parts(model.train(), data, args, batch) for batch in range(batches)]
    figures = {"masked-LM gradient norm": [m.norm().item() for m, _ in rows],
               "term gradient norm": [t.norm().item() for _, t in rows],
               "cosine of the two": [torch.nn.functional.cosine_similarity(m, t, dim=0).item() for m, t in rows]}
    for weight in WEIGHTS:
        sums = [(m + weight * t).norm().item() for m, t in rows]
        figures[f"norm of the sum, W = {weight:g}"] = sums
        figures[f"masked-LM share kept, W = {weight:g}"] = [min(1.0, clip_norm / s) for s in sums]
    figures["masked-LM share kept, no term"] = [min(1.0, clip_norm / m.norm().item()) for m, _ in rows]
    return {name: mean(values) for name, values in figures.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="pretrain.py --out directories of one run")
    parser.add_argument("--batches", type=int, default=8)
    options = parser.parse_args()
    args = argparse.Namespace(**json.loads(Path(options.checkpoints[0], "args.json").read_text()))
    data = load_data(args, args.max_len)
    torch.manual_seed(args.seed)  # the run's own random start
    starts = [("random weights", BertForPreTraining(model_config(args, len(data.corpus.vocab))))]
    for directory in options.checkpoints:
        model, config = load_model(directory)
        starts.append((f"{Path(directory).name} (step {config['step']:,})", model))
    print(f"{options.batches} training batches of {args.batch_size}, --clip-norm {args.clip_norm}; means over the "
          "batches")
    table = [(name, measure(model, data, args, options.batches, args.clip_norm)) for name, model in starts]
    print("| checkpoint | " + " | ".join(table[0][1]) + " |")
    print("|---|" + "---:|" * len(table[0][1]))
    for name, figures in table:
        print(f"| {name} | " + " | ".join(f"{value:.3f}" for value in figures.values()) + " |")


if __name__ == "__main__":
    main()
