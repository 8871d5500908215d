"""What one pre-training step of the recipe costs, with its batch run in length groups and with the neighbour term.

    python benchmarks/pretraining_step.py --args runs/recipe3/bert/args.json [--steps 30] [--threads 2]

Reads the corpus and options of a pre-training run (its args.json: the recipe's text, NLI sentences, shares
and sequence length), builds its model with fresh weights, and times whole training steps (batch drawn,
forward, backward, gradient clipping, AdamW) on the run's own batches, seeds 0, 1, 2, ... as a run draws them:

- `--length-passes` 1 (the batch as one, the recipe so far), 2, 3 and 4 (agree.pretraining.length_groups);
- the same with the neighbour term (`--neighbour-contrastive-weight 1`) added, passes 1 and 2.

Every contender trains its own copy of the same starting weights, the contenders take turns step by step
(so the machine's drift touches them alike), and the medians are printed with the share of the batch's
positions that hold real tokens under each grouping. A step's cost, not its learning: the grouped passes give
the same loss and gradients as one pass (tests/test_pretraining_step.py).
"""
import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's modules
import pretrain  # noqa: E402
from bert import BertForPreTraining  # noqa: E402
from data import PAD_ID  # noqa: E402
from agree.pretraining import StepConfig, forward, length_groups, neighbour_term  # noqa: E402
from agree.training import make_optimizer, seed_step  # noqa: E402

CONTENDERS = [(1, 0.0), (2, 0.0), (3, 0.0), (4, 0.0), (1, 1.0), (2, 1.0)]  # (length passes, neighbour weight)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--args", required=True, help="args.json of a pretrain.py run: its corpus and options")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per contender (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    return parser.parse_args()


def real_share(data, passes, batches=200, batch_size=32):
    """Real tokens over the positions the model computes, for the run's first `batches` batches."""
    real = positions = 0
    for step in range(batches):
        batch = data.make_batch(np.random.default_rng([0, step]), batch_size)
        for group in length_groups(batch, passes):
            real += int((group["input_ids"] != PAD_ID).sum())
            positions += group["input_ids"].numel()
    return real / positions


def train_step(model, optimizer, data, step, passes, weight, batch_size, clip_norm):
    """pretrain.py's step: the masked-LM loss of the step's batch, plus the weighted neighbour term."""
    setup, rng = StepConfig(batch_size, torch.device("cpu"), length_passes=passes), seed_step(0, step)
    loss = forward(model, data.make_batch(rng, batch_size), setup).loss
    if weight:
        loss = loss + weight * neighbour_term(model, data, rng, setup)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()


def main():
    options = parse_args()
    torch.set_num_threads(options.threads)
    defaults = vars(pretrain.parse_args(["--corpus", "-", "--out", "-"]))  # options the run predates
    run = argparse.Namespace(**{**defaults, **json.loads(Path(options.args).read_text())})
    run.max_len = run.max_len or 128
    data = pretrain.load_data(run, run.max_len)
    torch.manual_seed(0)
    start = BertForPreTraining(pretrain.model_config(run, len(data.corpus.vocab)))
    models = [copy.deepcopy(start).train() for _ in CONTENDERS]
    optimizers = [make_optimizer(m, run.lr, run.weight_decay) for m in models]
    times = [[] for _ in CONTENDERS]
    for step in range(options.warmup + options.steps):
        for i, (passes, weight) in enumerate(CONTENDERS):
            began = time.perf_counter()
            train_step(models[i], optimizers[i], data, step, passes, weight, run.batch_size, run.clip_norm)
            if step >= options.warmup:
                times[i].append(time.perf_counter() - began)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "unknown CPU")
    print(f"{cpu}, {options.threads} threads, torch {torch.__version__}; {run.preset} model, batch "
          f"{run.batch_size}, max_len {run.max_len}, NLI share {run.nli_share}; {options.steps} timed steps "
          f"per contender after {options.warmup}, taking turns; load average {open('/proc/loadavg').read()[:14]}")
    print("| length passes | neighbour term | real tokens / positions | median step | steps per hour | vs one pass |")
    print("|---:|---:|---:|---:|---:|---:|")
    baseline = statistics.median(times[0])
    for (passes, weight), measured in zip(CONTENDERS, times):
        median = statistics.median(measured)
        print(f"| {passes} | {weight:g} | {real_share(data, passes):.1%} | {1000 * median:.0f} ms | "
              f"{3600 / median:,.0f} | {baseline / median:.2f}x |")


if __name__ == "__main__":
    main()
