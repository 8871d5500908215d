"""RESULTS.md §4's table of every pre-training hour fine-tuned end to end, read from the committed logs: for each
hour its shape, its steps, its pre-training signals at the end (held-out masked-LM accuracy, the STS signal and
the frozen NLI probe from metrics.jsonl; the encoder's zero-shot Spearman on stsb:dev where it was scored),
then the means over two seeds of its chosen fine-tuning on snli:test and stsb:dev, and their difference from
random weights of the same shape fine-tuned by the same protocol (the transfer the issue asks about).

    python docs/runs/hours_table.py          # from the repository's root
"""
import json
import sys
from pathlib import Path
from statistics import mean

sys.path.insert(0, "docs/runs/term0.3")
from signals_by_step import evaluations  # noqa: E402  (a run's evaluation records by step)

RUNS = Path("docs/runs")

# The random start of each shape: where RESULTS.md describes it, its pre-training run (for the signals at step
# 0) and its two fine-tunings with the weight §5's rule chose for it.
RANDOM = {
    "4 × 256": ("§3", "recipe4/bert",
                ["recipe4/transfer/sbert-random-seed0", "recipe4/transfer/sbert-random-seed1"]),
    "4 × 128": ("§4's second lever", "shape/d128/bert",
                ["shape/d128/ft-random-c0.3-seed0", "shape/d128/ft-random-c0.3-seed1"]),
    "6 × 256": ("§4's seventh lever", "deep/bert",
                ["deep/transfer-c0.3/sbert-random-seed0", "deep/transfer-c0.3/sbert-random-seed1"]),
}

# Every hour fine-tuned end to end (§3, §4): its name, where §4 or §3 describes it, its checkpoint and its two
# fine-tunings with the weight §5's rule chose for it.
HOURS = [
    ("recipe 3: masked words alone", "§3", "recipe3/bert",
     ["recipe3/sbert", "recipe3/transfer/sbert-60min-seed1"]),
    ("recipe 3 at d 128", "§4's second lever", "shape/d128/bert",
     ["shape/d128/ft-60min-c0.1-seed0", "shape/d128/ft-60min-c0.1-seed1"]),
    ("+ the sentence-level term", "§4's third lever", "neighbour/bert",
     ["neighbour/ft-60min-c0.1-seed0", "neighbour/ft-60min-c0.1-seed1"]),
    ("recipe 4, the recipe: the term throughout", "§3", "recipe4/bert",
     ["recipe4/sbert", "recipe4/transfer/sbert-60min-seed1"]),
    ("the recipe at d 128", "§4's fourth lever", "shape/neighbour-d128/bert",
     ["shape/neighbour-d128/ft-60min-c0.3-seed0", "shape/neighbour-d128/ft-60min-c0.3-seed1"]),
    ("the term at weight 0.3", "§4's fifth lever", "term0.3/bert",
     ["term0.3/transfer-c0.3/sbert-60min-seed0", "term0.3/transfer-c0.3/sbert-60min-seed1"]),
    ("the term from 30 minutes", "§4's sixth lever", "late/bert",
     ["late/sbert", "late/transfer-c0.1/sbert-60min-seed1"]),
    ("the recipe with 6 layers", "§4's seventh lever", "deep/bert",
     ["deep/transfer-c0.3/sbert-60min-seed0", "deep/transfer-c0.3/sbert-60min-seed1"]),
]


def read(path):
    return json.loads((RUNS / path).read_text())


def shape(checkpoint):
    config = read(f"{checkpoint}/config.json")["model"]
    return f"{config['n_layers']} × {config['d_model']}"


def signals(checkpoint, at_start=False):
    """(steps, held-out masked-LM accuracy, STS signal, probe accuracy) at the end of a pre-training run, or at
    its step 0 (random weights of its shape)."""
    by_step = evaluations(RUNS / checkpoint)
    record = by_step[min(by_step) if at_start else max(by_step)]
    return (record["step"], 100 * record["heldout_mlm_accuracy"], record["sts_spearman"],
            100 * record["probe_accuracy"])


def zero_shot(checkpoint):
    """The encoder's Spearman on stsb:dev before fine-tuning, where it was scored (in the checkpoint's own report or
    in a report beside it)."""
    for report in (RUNS / checkpoint / "report.json", RUNS / f"{checkpoint}-stsb-dev" / "report.json"):
        if report.exists():
            for sts in json.loads(report.read_text()).get("sts", []):
                if sts["spec"] == "stsb:dev":
                    return sts["spearman"]
    return None


def fine_tuned(runs):
    """(contrastive weight, mean snli:test accuracy, mean stsb:dev Spearman) over a start's two fine-tunings."""
    weights = {read(f"{run}/args.json")["contrastive_weight"] for run in runs}
    assert len(weights) == 1, f"the seeds of {runs} were fine-tuned differently"
    reports = [read(f"{run}/report.json") for run in runs]
    # rounded as RESULTS.md gives them, so that a transfer here is the difference of the two figures printed
    return (weights.pop(), round(mean(100 * r["test"]["accuracy"] for r in reports), 2),
            round(mean(r["sts"][0]["spearman"] for r in reports), 2))


def row(name, where, checkpoint, runs, baseline=None, at_start=False):
    steps, masked, sts, probe = signals(checkpoint, at_start)
    score = None if at_start else zero_shot(checkpoint)
    score = "—" if score is None else f"{score:.2f}"
    weight, accuracy, spearman = fine_tuned(runs)
    transfer = "" if baseline is None else f"{accuracy - baseline[0]:+.2f} / {spearman - baseline[1]:+.2f}"
    return (f"| {name} ({where}) | {shape(checkpoint)} | {steps:,} | {masked:.2f}% | {sts:.2f} | {probe:.2f}% | "
            f"{score} | {weight} | {accuracy:.2f}% | {spearman:.2f} | {transfer} |")


def main():
    print("| hour | layers × width | steps | held-out masked-LM | STS signal | NLI probe | zero-shot `stsb:dev` | "
          "fine-tuning weight | `snli:test`, mean of 2 seeds | `stsb:dev`, mean of 2 seeds | "
          "transfer over random weights of its shape |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    baselines = {}
    for name, (where, checkpoint, runs) in RANDOM.items():
        print(row(f"random weights, {name}", where, checkpoint, runs, at_start=True))
        baselines[name] = fine_tuned(runs)[1:]
    for name, where, checkpoint, runs in HOURS:
        print(row(name, where, checkpoint, runs, baselines[shape(checkpoint)]))


if __name__ == "__main__":
    main()
