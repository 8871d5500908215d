"""The committed runs behind RESULTS.md and how to read them: each run's figures from its report.json or
metrics.jsonl, the statistics over seeds and pre-training runs, how a figure prints, and which runs make each
row (the recipes, the hours, the recipe by steps). docs/runs/report_tables.py prints the tables from them.
"""
import json
from functools import lru_cache
from math import exp, lgamma, log, log1p, pi, sqrt
from pathlib import Path
from statistics import mean, stdev, variance

RUNS = Path(__file__).resolve().parent
LINK_ROOT = "docs/runs"      # how RESULTS.md spells RUNS
NOTEBOOK = "docs/notebook"   # the lab notebook, one file per study


# --- Reading the logs -------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def read(path):
    return json.loads((RUNS / path).read_text())


@lru_cache(maxsize=None)
def records(run):
    return tuple(json.loads(line) for line in (RUNS / run / "metrics.jsonl").read_text().splitlines() if line.strip())


def accuracy(run):
    """snli:test accuracy × 100."""
    return 100 * read(f"{run}/report.json")["test"]["accuracy"]


def macro_f1(run):
    return read(f"{run}/report.json")["test"]["report"]["macro avg"]["f1-score"]


def spearman(run, split="stsb:dev", report="report.json"):
    """The Spearman correlation × 100 of the cosine on `split`."""
    for sts in read(f"{run}/{report}")["sts"]:
        if sts["spec"] == split:
            return sts["spearman"]
    raise KeyError(f"{run}/{report} has no {split}")


def validation(run):
    """The best validation accuracy × 100 of a fine-tuning."""
    return 100 * max(r["val_accuracy"] for r in records(run) if "val_accuracy" in r)


def rule(run):
    """The fine-tuning rule's figure: the mean of the best validation accuracy and the Spearman on stsb:train."""
    return (validation(run) + spearman(run, "stsb:train", "stsb-train/report.json")) / 2


def evaluations(checkpoint):
    """A pre-training run's evaluations (held-out masked-LM accuracy, STS signal, probe), in order of steps: from
    its metrics.jsonl, or, for a run whose folder was lost, as recover_reports.py read them from its console."""
    if not (RUNS / checkpoint / "metrics.jsonl").exists():
        return [json.loads(line) for line in (RUNS / checkpoint / "evaluations.jsonl").read_text().splitlines()]
    return [r for r in records(checkpoint) if "heldout_mlm_accuracy" in r]


def signals(checkpoint, at_start=False):
    """(steps, held-out masked-LM accuracy, STS signal on stsb:train, frozen NLI probe accuracy) at the end of a
    pre-training run, or at its step 0 (random weights of its shape)."""
    record = evaluations(checkpoint)[0 if at_start else -1]
    return (record["step"], 100 * record["heldout_mlm_accuracy"], record["sts_spearman"],
            100 * record["probe_accuracy"])


def signals_at(checkpoint, step):
    record = next(r for r in evaluations(checkpoint) if r["step"] == step)
    return 100 * record["heldout_mlm_accuracy"], record["sts_spearman"], 100 * record["probe_accuracy"]


def zero_shot(checkpoint):
    """The encoder's Spearman on stsb:dev before any fine-tuning, where it was scored (in the checkpoint's own
    report or in one beside it), else None."""
    for report in (f"{checkpoint}/report.json", f"{checkpoint}-stsb-dev/report.json"):
        if (RUNS / report).exists():
            for sts in read(report).get("sts", []):
                if sts["spec"] == "stsb:dev":
                    return sts["spearman"]
    return None


def shape(checkpoint):
    config = read(f"{checkpoint}/config.json")["model"]
    return f"{config['n_layers']} × {config['d_model']}"


def weight(runs):
    weights = {read(f"{run}/args.json")["contrastive_weight"] for run in runs}
    assert len(weights) == 1, f"the seeds of {runs} were fine-tuned differently"
    return weights.pop()


class Start:
    """A start of fine-tuning and its fine-tunings (one per seed, seed 0 first): the means over the seeds."""

    def __init__(self, *runs):
        self.runs = runs
        self.accuracy = mean(accuracy(run) for run in runs)
        self.spearman = mean(spearman(run) for run in runs)

    def minus(self, other):
        return self.accuracy - other.accuracy, self.spearman - other.spearman


# --- The spread over pre-training runs --------------------------------------------------------------------------------

def t_quantile(probability, degrees):
    """Student's t distribution's quantile: bisection on its distribution function, which Simpson's rule
    integrates from its density (no statistics library: the product has none)."""
    log_scale = lgamma((degrees + 1) / 2) - lgamma(degrees / 2) - 0.5 * log(degrees * pi)

    def density(t):
        return exp(log_scale - (degrees + 1) / 2 * log1p(t * t / degrees))

    def below(x, intervals=2000):
        width = x / intervals
        inner = sum((4 if i % 2 else 2) * density(i * width) for i in range(1, intervals))
        return 0.5 + (density(0) + inner + density(x)) * width / 3

    low, high = 0.0, 1000.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if below(middle) < probability else (low, middle)
    return (low + high) / 2


def welch_interval(first, second, level=0.95):
    """(difference of means, low, high): Welch's interval for mean(first) - mean(second), unequal variances."""
    a, b = variance(first) / len(first), variance(second) / len(second)
    degrees = (a + b) ** 2 / (a ** 2 / (len(first) - 1) + b ** 2 / (len(second) - 1))
    half = t_quantile((1 + level) / 2, degrees) * sqrt(a + b)
    difference = mean(first) - mean(second)
    return difference, difference - half, difference + half


class Spread:
    """Fine-tunings of one kind of start: their figures, mean and standard deviation (n − 1)."""

    def __init__(self, runs):
        self.runs = list(runs)
        self.accuracies = [accuracy(run) for run in self.runs]
        self.spearmans = [spearman(run) for run in self.runs]
        self.f1s = [macro_f1(run) for run in self.runs]

    def accuracy(self):
        return f"{pct(mean(self.accuracies))} ± {stdev(self.accuracies):.2f}"

    def spearman(self):
        return f"{num(mean(self.spearmans))} ± {stdev(self.spearmans):.2f}"

    def f1(self):
        return f"{mean(self.f1s):.3f} ± {stdev(self.f1s):.3f}"


# --- Formatting -------------------------------------------------------------------------------------------------

def pct(value):
    return f"{value:.2f}%"


def num(value, decimals=2):
    return f"{value:,.{decimals}f}"


def signed(value, decimals=2):
    """+1.93, −0.72 (a typographic minus, as the prose writes it)."""
    return f"{value:+.{decimals}f}".replace("-", "−")


def pair(values, unit=""):
    return " / ".join(f"{value:.2f}{unit}" for value in values)


def steps(value):
    return f"{value:,}"


def link(text, path):
    return f"[{text}]({path})"


def runs_link(path, text=None):
    return link(text or f"`{path}`", f"{LINK_ROOT}/{path}")


def notebook(name, text=None, heading=""):
    return link(text or name, f"{NOTEBOOK}/{name}.md" + (f"#{heading}" if heading else ""))


def table(header, rows, align):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


# --- The runs ---------------------------------------------------------------------------------------------------

HEADLINE = "recipe4/sbert"
RANDOM = {  # random weights of each shape, fine-tuned with the weight the rule chose for them, seeds 0 and 1
    "4 × 256": Start("recipe4/transfer/sbert-random-seed0", "recipe4/transfer/sbert-random-seed1"),
    "4 × 128": Start("shape/d128/ft-random-c0.3-seed0", "shape/d128/ft-random-c0.3-seed1"),
    "6 × 256": Start("deep/transfer-c0.3/sbert-random-seed0", "deep/transfer-c0.3/sbert-random-seed1"),
}
RANDOM_CHECKPOINT = {"4 × 256": "recipe4/bert", "4 × 128": "shape/d128/bert", "6 × 256": "deep/bert"}
RANDOM_ZERO_SHOT = "recipe2/bert-0min"  # recipe 2's initial weights, saved after one step at learning rate 0

# Every hour of pre-training fine-tuned end to end: (name, its page in the notebook, checkpoint, its two
# fine-tunings with the weight the rule chose for it).
HOURS = [
    ("recipe 2: half the examples from the NLI sentences", "recipe-2", "recipe2/bert",
     ["recipe2/sbert", "recipe2/transfer/sbert-60min-seed1"]),
    ("recipe 2 with nine in ten (7,189 steps)", "nli-share-0.9", "recipe2/levers-pt/nli0.9/bert",
     ["recipe2/levers-pt/nli0.9/sbert-60min-seed0", "recipe2/levers-pt/nli0.9/sbert-60min-seed1"]),
    ("recipe 3: nine in ten, masked words alone", "recipe-3", "recipe3/bert",
     ["recipe3/sbert", "recipe3/transfer/sbert-60min-seed1"]),
    ("recipe 3 at d 128", "width-d128", "shape/d128/bert",
     ["shape/d128/ft-60min-c0.1-seed0", "shape/d128/ft-60min-c0.1-seed1"]),
    ("recipe 3 + the sentence-level term (first run)", "neighbour-term", "neighbour/bert",
     ["neighbour/ft-60min-c0.1-seed0", "neighbour/ft-60min-c0.1-seed1"]),
    ("**recipe 4: the headline's recipe**, its run by time", "recipe-4", "recipe4/bert",
     [HEADLINE, "recipe4/transfer/sbert-60min-seed1"]),
    ("recipe 4 at d 128", "width-and-term", "shape/neighbour-d128/bert",
     ["shape/neighbour-d128/ft-60min-c0.3-seed0", "shape/neighbour-d128/ft-60min-c0.3-seed1"]),
    ("recipe 4, the term at weight 0.3", "term-weight-0.3", "term0.3/bert",
     ["term0.3/transfer-c0.3/sbert-60min-seed0", "term0.3/transfer-c0.3/sbert-60min-seed1"]),
    ("recipe 4, the term from 30 minutes on", "term-late", "late/bert",
     ["late/sbert", "late/transfer-c0.1/sbert-60min-seed1"]),
    ("recipe 4 with 6 layers", "depth", "deep/bert",
     ["deep/transfer-c0.3/sbert-60min-seed0", "deep/transfer-c0.3/sbert-60min-seed1"]),
]

# The recipe by steps (`make recipe-spread`): each pre-training run's checkpoint and its fine-tunings, seed 0
# first. Seed 1's second run (`seed1/rerun`) made both of its fine-tunings; its first made seed 0's alone.
# Random weights: seeds 0 to 2, at the learning rate the rule chose for them (6e-4; docs/notebook/levers.md).
RECIPE_RUNS = {
    0: ("seed0/bert", ["seed0/sbert", "seed0/transfer/sbert-step5907-seed1"]),
    1: ("seed1/rerun/bert", ["seed1/rerun/sbert", "seed1/rerun/transfer/sbert-step5907-seed1"]),
    2: ("seed2/bert", ["seed2/sbert", "seed2/transfer/sbert-step5907-seed1"]),
}
RECIPE_STEPS = 5907
REPRODUCTION = ("seed1", "seed1/rerun")  # pre-training seed 1 run twice, on two machines
RANDOM_SEEDS = [f"levers/lr6e-4/run1/sbert-random-seed{seed}" for seed in range(3)]
# Random weights at the pre-trained start's learning rate (3e-4), the baseline until the levers' search.
RANDOM_SEEDS_AT_3E4 = ["recipe4/transfer/sbert-random-seed0", "recipe4/transfer/sbert-random-seed1",
                       "seed2/transfer/sbert-random-seed2"]


def recipe_spread():
    """(every fine-tuning of the recipe by steps, random weights' fine-tunings) as Spreads."""
    return Spread(run for _, runs in RECIPE_RUNS.values() for run in runs), Spread(RANDOM_SEEDS)


def run_means(figure):
    """Each pre-training run's mean of `figure` over its fine-tunings: the fine-tunings of one run share its
    pre-training, so they are not independent draws of the recipe; the runs are."""
    return [mean(figure(run) for run in runs) for _, runs in RECIPE_RUNS.values()]


def interval(values, decimals=2):
    """"[low, high]" of a (difference, low, high) from welch_interval."""
    difference, low, high = values
    return f"[{signed(low, decimals)}, {signed(high, decimals)}]"


def transfer_intervals(random_runs=RANDOM_SEEDS):
    """Welch's 95% intervals for what pre-training pays, each pre-training run one observation (the mean of its
    fine-tunings) against each random seed: (accuracy, Spearman), each (difference, low, high)."""
    random = Spread(random_runs)
    return (welch_interval(run_means(accuracy), random.accuracies),
            welch_interval(run_means(spearman), random.spearmans))


def best_run(spread):
    return max(spread.runs, key=accuracy)


def hour(name):
    """The Start of the hour whose name begins with `name`."""
    return next(Start(*runs) for hour_name, _, _, runs in HOURS if hour_name.strip("*").startswith(name))
