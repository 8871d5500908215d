"""Weight-space ensembles of a fine-tuned Sentence-BERT and its start (WiSE-FT; Wortsman et al. 2022,
"Robust fine-tuning of zero-shot models"): the encoder's weights (1 - alpha) * start + alpha * fine-tuned, the
fine-tuned classifier unchanged. No training: one evaluation per alpha.

    python wise.py --model runs/sbert --data-dir ../shared/data --out runs/sbert-wise

Why here: pre-training with the sentence-level term gives an encoder whose mean-pooled vectors already rank
`stsb:dev` pairs well (RESULTS.md §4), and fine-tuning on 18,670 NLI pairs spends part of that while the
classifier learns. Fine-tuning moves the weights little from a pre-trained start, so the straight line between
the two often keeps the start's similarity and the fine-tuned verdicts together; from random weights the line
only mixes in noise, and the choice below says so by keeping alpha = 1.

Each alpha is scored on the two validation figures of RESULTS.md §5's rule: accuracy on the run's own
validation pairs (rebuilt from its args.json: the same data, fraction and seed) and the Spearman correlation of
the cosine on --sts. The alpha with the highest mean of the two (both x 100) is chosen; alpha = 1 is the
fine-tuned model itself, so "no ensemble" is among the choices. --out receives the chosen model, an ordinary
fine-tuned checkpoint; wise.json and wise.md beside it (or in --model without --out) list every alpha. The test
sets are not read: score the chosen model with evaluate.py.

The start is rebuilt as finetune.py built it: the same --bert checkpoint (--bert here when it has moved since),
or with --random-init the same seed's random weights.
"""
import argparse
import sys
from pathlib import Path

import torch

import evaluate
import finetune
from agree.atomic import atomic_write_json, atomic_write_text, read_json
from agree.training import pick_device
from data import use_nltk_data
from sbert import SentenceBERT

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a fine-tuned Sentence-BERT directory from finetune.py")
    parser.add_argument("--alphas", type=float, nargs="+", default=DEFAULT_ALPHAS,
                        help="weights of the fine-tuned encoder to try, each in [0, 1] (default: %(default)s)")
    parser.add_argument("--sts", default="stsb:train", help="the STS spec of the rule's similarity figure "
                        "(default: %(default)s; never a test split)")
    parser.add_argument("--bert", help="the start's checkpoint, when it is no longer where the run's args.json "
                        "says")
    parser.add_argument("--data-dir", help="datasets live here (default: the run's own)")
    parser.add_argument("--cache-dir", default=".cache", help="tokenized data is cached here")
    parser.add_argument("--batch-size", type=int, default=128, help="pairs per evaluation batch")
    parser.add_argument("--out", help="write the chosen model here (a new directory)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    args = parser.parse_args(argv)
    outside = [alpha for alpha in args.alphas if not 0 <= alpha <= 1]
    if outside:
        parser.error(f"--alphas must lie in [0, 1]; got {', '.join(map(str, outside))}")
    if args.out and Path(args.out).exists():
        parser.error(f"--out {args.out} exists; choose a new directory")
    return args


# --- The two ends of the line -------------------------------------------------------------------------------

def fine_tuning_args(args):
    """The run's own finetune.py arguments, with the paths this machine has."""
    path = Path(args.model) / "args.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: --model must be a directory finetune.py wrote")
    # Options added to finetune.py after the run was made take their defaults, as they did for the run.
    defaults = vars(finetune.parse_args(["--bert", "none", "--train", "none", "--out", "none"]))
    run = argparse.Namespace(**{**defaults, **read_json(path)})
    run.data_dir = args.data_dir or run.data_dir
    run.cache_dir = args.cache_dir
    run.bert = args.bert or run.bert
    return run


def start_model(run):
    """The model finetune.py began from: the same seed before the same construction gives the same weights,
    random ones included."""
    torch.manual_seed(run.seed)
    return finetune.build_model(run)


def interpolate(start, tuned, alpha):
    """(1 - alpha) * start + alpha * tuned, tensor by tensor. Integer buffers (position ids) are the same at
    both ends and are kept."""
    if start.keys() != tuned.keys() or any(start[name].shape != tuned[name].shape for name in tuned):
        raise SystemExit("the start's encoder and the fine-tuned encoder have different weights or shapes: is --bert the "
                         "checkpoint this run was fine-tuned from?")
    return {name: torch.lerp(start[name], tuned[name], alpha) if tuned[name].is_floating_point() else tuned[name]
            for name in tuned}


# --- Scoring each alpha -------------------------------------------------------------------------------------

def score(model, val, sts, batch_size, device):
    accuracy = finetune.validate(model, val, batch_size, device)["val_accuracy"]
    spearman = evaluate.evaluate_sts(model, sts, batch_size, device)["spearman"]
    return {"val_accuracy": accuracy, "sts_spearman": spearman, "mean": (100 * accuracy + spearman) / 2}


def sweep(args, run, tuned, device):
    start = start_model(run).bert.state_dict()
    fine_tuned = {name: weights.clone() for name, weights in tuned.bert.state_dict().items()}
    _, val = finetune.load_data(run, tuned)
    if val is None:
        raise SystemExit(f"{args.model} was fine-tuned without validation pairs (--val or --val-fraction); "
                         "the rule needs them")
    sts = evaluate.pair_loader(tuned, run)(args.sts, task="sts")
    rows = []
    for alpha in sorted(set(args.alphas)):
        tuned.bert.load_state_dict(interpolate(start, fine_tuned, alpha))
        rows.append({"alpha": alpha, **score(tuned, val, sts, args.batch_size, device)})
        print(f"alpha {alpha:g}: validation accuracy {rows[-1]['val_accuracy']:.2%}, {args.sts} Spearman "
              f"{rows[-1]['sts_spearman']:.2f}, mean {rows[-1]['mean']:.2f}", file=sys.stderr)
    chosen = max(rows, key=lambda row: row["mean"])
    tuned.bert.load_state_dict(interpolate(start, fine_tuned, chosen["alpha"]))
    return rows, chosen


# --- Report -------------------------------------------------------------------------------------------------

def markdown(args, rows, chosen):
    lines = [f"# Weight-space ensembles of {args.model} and its start", "",
             f"| alpha | validation accuracy | {args.sts} Spearman | mean (chooses) |", "|---:|---:|---:|---:|"]
    for row in rows:
        mean = f"**{row['mean']:.2f}**" if row is chosen else f"{row['mean']:.2f}"
        lines.append(f"| {row['alpha']:g} | {row['val_accuracy']:.2%} | {row['sts_spearman']:.2f} | {mean} |")
    return "\n".join(lines + ["", f"Chosen: alpha = {chosen['alpha']:g}.", ""])


def main(argv=None):
    args = parse_args(argv)
    run = fine_tuning_args(args)
    use_nltk_data(run.data_dir)
    device = pick_device(args.device)
    tuned = SentenceBERT.load(args.model, device)
    rows, chosen = sweep(args, run, tuned, device)
    report = {"model": str(args.model), "start": run.bert, "random_init": run.random_init, "sts": args.sts,
              "rows": rows, "chosen_alpha": chosen["alpha"]}
    out = Path(args.out or args.model)
    if args.out:
        tuned.save(out)
    table = markdown(args, rows, chosen)
    atomic_write_json(out / "wise.json", report)
    atomic_write_text(out / "wise.md", table)
    print(table)


if __name__ == "__main__":
    main()
