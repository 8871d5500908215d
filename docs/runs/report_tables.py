"""RESULTS.md's tables, printed from the committed logs: every figure read from a run's report.json or
metrics.jsonl, and every derived figure (a mean over seeds, a difference of means, a mean of two validation
figures) computed from the unrounded values and rounded only when printed.

    python docs/runs/report_tables.py              # every table, each under its name
    python docs/runs/report_tables.py transfer     # one table: headline, recipes, transfer, hours, tried, readme

tests/test_docs.py checks that each table RESULTS.md marks with its name is this script's output, line for line.
Paths in the printed links are relative to the repository's root, where RESULTS.md and README.md live.
"""
import json
import re
import sys
from functools import lru_cache
from pathlib import Path
from statistics import mean

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
    """A pre-training run's evaluations (held-out masked-LM accuracy, STS signal, probe), in order of steps."""
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
    ("**recipe 4: the headline**", "recipe-4", "recipe4/bert",
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


def hour(name):
    """The Start of the hour whose name begins with `name`."""
    return next(Start(*runs) for hour_name, _, _, runs in HOURS if hour_name.strip("*").startswith(name))


# --- The tables -------------------------------------------------------------------------------------------------

def report_link(run, text="report.json"):
    return runs_link(f"{run}/report.json", text)


def seeds_source(runs):
    return " ".join(report_link(run, f"seed {seed}") for seed, run in enumerate(runs))


def headline():
    """RESULTS §1: the headline, random weights of its shape, what pre-training pays, and `make demo`. Its value
    and source columns follow tests/test_docs.py's convention, so the check reads each figure from its report."""
    pretrained, random = hour("recipe 4: the"), RANDOM["4 × 256"]
    transfer = pretrained.minus(random)
    demo = "demo/neighbour/sbert"
    demo_mlm = 100 * read("demo/neighbour/bert/report.json")["heldout"]["heldout_mlm_accuracy"]
    machine = "2-core Intel Xeon, 2026-12-01"
    rows = [
        ["`snli:test` accuracy (9,824 pairs)", f"**{pct(accuracy(HEADLINE))}**",
         f"`make recipe-headline`: 60 min of pre-training ({steps(signals('recipe4/bert')[0])} steps), "
         f"1,500 fine-tuning steps (8.9 min, paused once for the unit tests); "
         f"{machine}",
         f"{report_link(HEADLINE)} `test.accuracy`"],
        ["`snli:test` macro F1", f"{macro_f1(HEADLINE):.3f}", "the same model",
         f"{report_link(HEADLINE)} `test.report.macro avg.f1-score`"],
        ["`stsb:dev` Spearman × 100 (1,500 pairs)", f"**{num(spearman(HEADLINE))}**", "the same model",
         f"{report_link(HEADLINE)} `sts.0.spearman`"],
        ["the same, mean of two fine-tuning seeds", f"{pct(pretrained.accuracy)} / {num(pretrained.spearman)}",
         f"`make recipe-transfer`: seed 1 (5.9 min); {machine}",
         f"{seeds_source(pretrained.runs)} `test.accuracy` `sts.0.spearman`"],
        ["random weights of the same shape, the same fine-tuning, mean of two seeds",
         f"{pct(random.accuracy)} / {num(random.spearman)}",
         "`make recipe-transfer` (`--random-init`): 6 min a seed; 2-core Intel Xeon, 2026-11-30",
         f"{seeds_source(random.runs)} `test.accuracy` `sts.0.spearman`"],
        ["what the hour of pre-training pays (the two rows above, subtracted)",
         f"**{signed(transfer[0])}** points / **{signed(transfer[1])}**", "[§5](#5-does-pre-training-pay)",
         f"{seeds_source(pretrained.runs)} minus {seeds_source(random.runs)} `test.accuracy` × 100 "
         f"`sts.0.spearman`"],
        ["`make demo`: `snli:test` accuracy, macro F1, `stsb:dev` Spearman",
         f"{pct(accuracy(demo))} / {macro_f1(demo):.3f} / {num(spearman(demo))}",
         "7.4 min of pre-training, 5 min of fine-tuning, with the offline data; " + machine,
         f"{report_link(demo)} `test.accuracy` `test.report.macro avg.f1-score` `sts.0.spearman`"],
        ["`make demo`: held-out masked-LM accuracy after pre-training (always \"the\": 6.07%)", pct(demo_mlm),
         "the same run", f"{report_link('demo/neighbour/bert')} `heldout.heldout_mlm_accuracy`"],
    ]
    return table(["", "value", "made by", "source"], rows, ["---", "---:", "---", "---"])


def recipes():
    """RESULTS §1: what each recipe was, with its headline run's figures."""
    rows = []
    described = [
        ("1", "BERT's objectives (masked words and next sentence) on `enwiki_00`–`03`, 128-token sequences; "
              "30 minutes of SoftmaxLoss fine-tuning", "recipe/bert", "recipe/sbert", "AMD EPYC (AVX2), 2026-11-26",
         "recipe-1"),
        ("2", "Wikipedia's long core articles (`enwiki_04`–`07`) and the NLI sentences, half the examples each; "
              "no next sentence; 64-token sequences; 1,500 fine-tuning steps, + 0.3 × the contrastive term",
         "recipe2/bert", "recipe2/sbert", "Intel Xeon, 2026-11-30", "recipe-2"),
        ("3", "recipe 2 with nine in ten examples from the NLI sentences (`--nli-share 0.9`)",
         "recipe3/bert", "recipe3/sbert", "Intel Xeon, 2026-11-30", "recipe-3"),
        ("4", "recipe 3 + the sentence-level term and two length-sorted passes a step; fine-tuned with 0.1 × "
              "the contrastive term: **the headline**", "recipe4/bert", HEADLINE, "Intel Xeon, 2026-12-01",
         "recipe-4"),
    ]
    for number, what, checkpoint, run, machine, page in described:
        rows.append([number, what, steps(signals_or_steps(checkpoint)), machine,
                     f"{pct(accuracy(run))} / {num(spearman(run))}", notebook(page)])
    return table(["recipe", "what it is", "pre-training steps in 60 min", "2 cores of", "`snli:test` / `stsb:dev` "
                  "(seed 0)", "notebook"], rows, ["---:", "---", "---:", "---", "---:", "---"])


def signals_or_steps(checkpoint):
    """The steps of a pre-training run (recipe 1 logged no transfer signals, only its held-out figures)."""
    return max(r["step"] for r in records(checkpoint) if "step" in r)


def transfer():
    """RESULTS §5: recipe 4's starts along the hour, two fine-tuning seeds each, against random weights."""
    random = RANDOM["4 × 256"]
    starts = [("random weights", "recipe4/bert", True, random),
              ("15 minutes", "recipe4/bert-15min", False,
               Start("recipe4/transfer/sbert-15min-seed0", "recipe4/transfer/sbert-15min-seed1")),
              ("30 minutes", "recipe4/bert-30min", False,
               Start("recipe4/transfer/sbert-30min-seed0", "recipe4/transfer/sbert-30min-seed1")),
              ("**60 minutes: the headline**", "recipe4/bert", False, hour("recipe 4: the"))]
    rows = []
    for name, checkpoint, at_start, start in starts:
        count, masked, sts, probe = signals(checkpoint, at_start)
        score = zero_shot(RANDOM_ZERO_SHOT if at_start else checkpoint)
        each_accuracy = pair([accuracy(run) for run in start.runs])
        each_spearman = pair([spearman(run) for run in start.runs])
        gain = "" if at_start else " / ".join(map(signed, start.minus(random)))
        rows.append([name, steps(count), pct(masked), num(sts), pct(probe), "—" if score is None else num(score),
                     f"{pct(start.accuracy)} ({each_accuracy})", f"{num(start.spearman)} ({each_spearman})", gain])
    return table(["start of fine-tuning", "pre-training steps", "held-out masked-LM", "STS signal",
                  "NLI probe (frozen)", "zero-shot `stsb:dev`", "`snli:test`, mean (seed 0 / 1)",
                  "`stsb:dev`, mean (seed 0 / 1)", "over random weights"], rows,
                 ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"])


def hours():
    """RESULTS §5: every hour of pre-training fine-tuned end to end, against random weights of its shape."""
    rows = []
    for name, start in RANDOM.items():
        count, masked, sts, probe = signals(RANDOM_CHECKPOINT[name], at_start=True)
        score = zero_shot(RANDOM_ZERO_SHOT) if name == "4 × 256" else None
        rows.append([f"random weights, {name}", name, "0", pct(masked), num(sts), pct(probe),
                     "—" if score is None else num(score), f"{weight(start.runs):g}", pct(start.accuracy),
                     num(start.spearman), "", ""])
    for name, page, checkpoint, runs in HOURS:
        start = Start(*runs)
        count, masked, sts, probe = signals(checkpoint)
        score = zero_shot(checkpoint)
        gain = start.minus(RANDOM[shape(checkpoint)])
        rows.append([name, shape(checkpoint), steps(count), pct(masked), num(sts), pct(probe),
                     "—" if score is None else num(score), f"{weight(runs):g}", pct(start.accuracy),
                     num(start.spearman), f"{signed(gain[0])} / {signed(gain[1])}", notebook(page, "notebook")])
    return table(["hour", "layers × width", "steps", "held-out masked-LM", "STS signal", "NLI probe",
                  "zero-shot `stsb:dev`", "fine-tuning weight", "`snli:test`, mean of 2 seeds",
                  "`stsb:dev`, mean of 2 seeds", "over random weights of its shape", "details"], rows,
                 ["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---"])


def probe_step(name, step=600):
    """(STS signal, probe accuracy) of a 600-step pre-training probe at `step`."""
    masked, sts, probe = signals_at(f"recipe2/levers/{name}", step)
    return sts, probe


def probe_change(lever, base):
    sts, probe = probe_step(lever)
    base_sts, base_probe = probe_step(base)
    return f"at 600 steps: probe {signed(probe - base_probe)} points, STS signal {signed(sts - base_sts)}"


def length_passes_speed_up():
    text = (RUNS / "bench/pretraining_step.txt").read_text()
    return re.search(r"^\| 2 \| 0 \|.*\| ([\d.]+)x \|$", text, re.M).group(1)


def tried():
    """RESULTS §6: every lever, one line each."""
    random = RANDOM["4 × 256"]
    r2, r3, r4 = hour("recipe 2: half"), hour("recipe 3: nine"), hour("recipe 4: the")
    share, term = hour("recipe 2 with nine"), hour("recipe 3 + the")
    narrow, narrow_term = hour("recipe 3 at d 128"), hour("recipe 4 at d 128")
    light, late, deep = hour("recipe 4, the term at"), hour("recipe 4, the term from"), hour("recipe 4 with 6")
    r3_end, r4_end = signals("recipe3/bert"), signals("recipe4/bert")
    rows = []

    def row(lever, what, on_signals, end_to_end, verdict, page):
        rows.append([lever, what, on_signals, end_to_end, verdict, page])

    def gain(start, base):
        return " / ".join(map(signed, start.minus(base)))

    def figures(start):
        return f"{pct(start.accuracy)} / {num(start.spearman)}"

    # Pre-training, on 600-step probes (recipe 2's machine and data)
    row("NLI sentences in the pre-training text", "the sentences of the NLI training pairs, no labels, as half the "
        "examples (`--nli-share 0.5`)", probe_change("mix-nsp", "wiki-nsp"), "—", "adopted (recipe 2)",
        notebook("pretraining-probes", "probes"))
    row("no next-sentence prediction", "`--no-nsp`: one run of text per example", probe_change("mix-nonsp", "mix-nsp"),
        "—", "adopted (recipe 2)", notebook("pretraining-probes", "probes"))
    row("Wikipedia's long core articles", "`enwiki_04`–`07` instead of the stub-heavy `00`–`03`",
        probe_change("core-mix-nsp", "mix-nsp"), "—", "adopted (recipe 2)", notebook("pretraining-probes", "probes"))
    row("30% of the words masked", "`--mask-prob 0.3`", probe_change("mix-nonsp-mask30", "mix-nonsp"), "—",
        "not adopted", notebook("pretraining-probes", "probes"))
    row("a peak learning rate of 1e-3", "`--lr 1e-3` instead of 5e-4", probe_change("mix-nonsp-lr1e3", "mix-nonsp"),
        "—", "not adopted", notebook("pretraining-probes", "probes"))

    # Pre-training, an hour each, fine-tuned end to end
    share_end, r2_end = signals("recipe2/levers-pt/nli0.9/bert"), signals("recipe2/bert")
    row("nine in ten examples from the NLI sentences", "`--nli-share 0.9` instead of 0.5",
        f"at the hour's end: probe {pct(share_end[3])} (recipe 2: {pct(r2_end[3])}), STS signal "
        f"{num(share_end[2])} ({num(r2_end[2])})",
        f"{figures(share)} against recipe 2's {figures(r2)}: {gain(share, r2)}; over random weights "
        f"{gain(share, random)}", "adopted: recipe 3", notebook("nli-share-0.9"))
    term_end = signals("neighbour/bert")
    row("a sentence-level term", "beside the masked words, each sentence ranked against the batch for the one after "
        "it in its document (`--neighbour-contrastive-weight 1`)",
        f"STS signal {num(term_end[2])} (recipe 3: {num(r3_end[2])}), probe {pct(term_end[3])} "
        f"({pct(r3_end[3])}), masked-LM {pct(term_end[1])} ({pct(r3_end[1])}); zero-shot `stsb:dev` "
        f"{num(zero_shot('neighbour/bert'))} ({num(zero_shot('recipe3/bert'))})",
        f"{figures(term)}; over random weights {gain(term, random)} (recipe 3: {gain(r3, random)}); reproduced "
        f"as recipe 4: {gain(r4, random)}", "adopted: recipe 4", notebook("neighbour-term"))
    row("two length-sorted passes a step", "`--length-passes 2`: the same loss and gradients with less padding",
        f"{length_passes_speed_up()}× the steps a minute on recipe 3's batches "
        f"({runs_link('bench/pretraining_step.txt', 'benchmark')})", "not run alone", "adopted with the term "
        "(recipe 4)", link("performance", "docs/performance.md#where-the-time-goes"))
    narrow_end = signals("shape/d128/bert")
    narrow_4500 = (accuracy("shape/d128/ft4500-60min-c0.1-seed0") - accuracy("shape/d128/ft4500-random-c0.3-seed0"),
                   spearman("shape/d128/ft4500-60min-c0.1-seed0") - spearman("shape/d128/ft4500-random-c0.3-seed0"))
    row("a narrower model", "d = 128 instead of 256 (2 heads, d_ff 512), recipe 3 otherwise",
        f"{steps(narrow_end[0])} steps in the hour (recipe 3: {steps(r3_end[0])}); masked-LM {pct(narrow_end[1])} "
        f"({pct(r3_end[1])})",
        f"{figures(narrow)}; over random weights of its shape {gain(narrow, RANDOM['4 × 128'])}; with 4,500 "
        f"fine-tuning steps {' / '.join(map(signed, narrow_4500))} (seed 0)",
        "not adopted: below recipe 3", notebook("width-d128"))
    narrow_term_end = signals("shape/neighbour-d128/bert")
    long_pretrained = Start("shape/neighbour-d128/ft4500-60min-c0.3-seed0", "shape/neighbour-d128/ft4500-60min-c0.3-seed1")
    long_random = Start("shape/d128/ft4500-random-c0.3-seed0", "shape/neighbour-d128/ft4500-random-c0.3-seed1")
    row("the term and the narrower model together", "recipe 4 at d = 128 (AMD EPYC)",
        f"{steps(narrow_term_end[0])} steps; STS signal {num(narrow_term_end[2])}; zero-shot `stsb:dev` "
        f"{num(zero_shot('shape/neighbour-d128/bert'))}",
        f"{figures(narrow_term)}; over random weights of its shape {gain(narrow_term, RANDOM['4 × 128'])}; with "
        f"4,500 fine-tuning steps {gain(long_pretrained, long_random)}",
        "not adopted: below recipe 4", notebook("width-and-term"))
    light_end = signals("term0.3/bert")
    row("a lighter term", "`--neighbour-contrastive-weight 0.3` instead of 1 (AMD EPYC)",
        f"masked-LM {pct(light_end[1])} (recipe 4: {pct(r4_end[1])}); zero-shot `stsb:dev` "
        f"{num(zero_shot('term0.3/bert'))} ({num(zero_shot('recipe4/bert'))})",
        f"{figures(light)}; over random weights {gain(light, random)}", "not adopted", notebook("term-weight-0.3"))
    late_end = signals("late/bert")
    row("the term in the second half hour only", "`--neighbour-contrastive-from 0.5` (AMD EPYC)",
        f"masked-LM {pct(late_end[1])} (recipe 3: {pct(r3_end[1])}); zero-shot `stsb:dev` "
        f"{num(zero_shot('late/bert'))}",
        f"{figures(late)}; over random weights {gain(late, random)}",
        f"not adopted: the rule prefers recipe 4 ({num(rule('late/sbert'))} against {num(rule(HEADLINE))})",
        notebook("term-late"))
    deep_end = signals("deep/bert")
    row("a deeper model", "6 layers instead of 4 (AMD EPYC)",
        f"{steps(deep_end[0])} steps (recipe 4: {steps(r4_end[0])}); at step 3,500 masked-LM "
        f"{pct(signals_at('deep/bert', 3500)[0])} (recipe 4: {pct(signals_at('recipe4/bert', 3500)[0])})",
        f"{figures(deep)}; over random weights of its shape {gain(deep, RANDOM['6 × 256'])}", "not adopted",
        notebook("depth"))
    bf16, fp32 = read("recipe-bf16/bert/report.json")["heldout"], read("recipe/bert/report.json")["heldout"]
    row("four times the pre-training steps", "recipe 1 in bf16 on a Xeon with AMX (`--precision bf16`)",
        f"{steps(bf16['step'])} steps against {steps(fp32['step'])}; masked-LM "
        f"{pct(100 * bf16['heldout_mlm_accuracy'])} ({pct(100 * fp32['heldout_mlm_accuracy'])})",
        f"{pct(accuracy('recipe-bf16/sbert'))} / {num(spearman('recipe-bf16/sbert'))} against "
        f"{pct(accuracy('recipe/sbert'))} / {num(spearman('recipe/sbert'))}", "one run; `--precision auto` uses bf16 "
        "where a CPU has the units",
        notebook("recipe-1", "recipe 1", "four-times-the-pre-training-the-same-recipe-on-the-xeon-in-bf16"))
    faithful, preln = records("probes/faithful")[-1], records("probes/preln_5e-4")[-1]
    row("pre-LN blocks, learning rate 5e-4, no dropout", "recipe 1's changes to BERT's pre-training",
        f"held-out masked-LM loss after 300 steps {faithful['heldout_mlm_loss']:.2f} → "
        f"{preln['heldout_mlm_loss']:.2f}", "—", "adopted (recipe 1)",
        notebook("recipe-1", "recipe 1", "a6-the-levers-measured"))

    # Fine-tuning
    softmax = "recipe2/transfer-softmax/sbert-60min-seed0"
    row("an in-batch contrastive term beside SoftmaxLoss", "each entailment premise ranked against the batch's "
        "hypotheses (`--contrastive-weight`)", "—",
        f"recipe 2's start, seed 0: {pct(accuracy(softmax))} / {num(spearman(softmax))} without, "
        f"{pct(accuracy('recipe2/sbert'))} / {num(spearman('recipe2/sbert'))} at 0.3",
        "adopted: 0.1 for recipe 4 and random weights, 0.3 for recipes 2 and 3", notebook("fine-tuning-objective"))
    row("the fine-tuning learning rate", "3e-4 against 1e-4 (recipe 2) and SBERT's 2e-5, batch 16 (recipe 1)", "—",
        f"1e-4: {pct(accuracy('recipe2/lr/pretrained-1e-4'))} against {pct(accuracy(softmax))}; SBERT's defaults: "
        f"{pct(accuracy('recipe/levers/paper-defaults'))} against {pct(accuracy('recipe/levers/uv-absdiff'))}",
        "3e-4", notebook("fine-tuning-objective"))
    slow = [("recipe2/levers-ft/enclr0.3-60min-seed0", softmax, "recipe 2, SoftmaxLoss"),
            ("term0.3/slower-encoder/sbert-60min-seed0", "term0.3/transfer-c0.3/sbert-60min-seed0", "the lighter term")]
    slow_narrow = Start("shape/neighbour-d128/ft-60min-c0.3-lrscale0.3-seed0",
                        "shape/neighbour-d128/ft-60min-c0.3-lrscale0.3-seed1")
    row("a slower encoder", "the encoder at 0.3 × the head's learning rate (`--encoder-lr-scale 0.3`)", "—",
        "; ".join(f"{name}: {pct(accuracy(run))} / {num(spearman(run))} against {pct(accuracy(base))} / "
                  f"{num(spearman(base))}" for run, base, name in slow)
        + f"; recipe 4 at d 128 (2 seeds): {figures(slow_narrow)} against {figures(narrow_term)}",
        "rejected by the rule each time", notebook("fine-tuning-objective"))
    frozen = "shape/frozen-emb/ft-60min-c0.3-seed0"
    row("frozen word embeddings", "`--freeze-word-embeddings`, recipe 3's start", "—",
        f"rule {num(rule(frozen))} against {num(rule('recipe3/sbert'))}; {pct(accuracy(frozen))} / "
        f"{num(spearman(frozen))} against {pct(accuracy('recipe3/sbert'))} / {num(spearman('recipe3/sbert'))}",
        "rejected", notebook("fine-tuning-objective"))
    first, base = "term0.3/head-first/sbert-60min-seed0", "term0.3/transfer-c0.3/sbert-60min-seed0"
    row("the classifier first", "300 steps with the encoder frozen, then both (`--head-first-steps 300`)", "—",
        f"rule {num(rule(first))} against {num(rule(base))}; random weights {num(rule('term0.3/head-first/sbert-random-seed0'))}"
        f" against {num(rule('recipe4/transfer/sbert-random-seed0'))}", "rejected", notebook("term-weight-0.3"))
    longer, longer_random = "recipe3/length/ft4500-60min-c0.3-seed0", "recipe3/length/ft4500-random-c0.1-seed0"
    row("three times the fine-tuning", "4,500 steps instead of 1,500, recipe 3's starts", "—",
        f"rule {num(rule(longer))} against {num(rule('recipe3/sbert'))} (pre-trained), "
        f"{num(rule(longer_random))} against {num(rule('recipe4/transfer/sbert-random-seed0'))} (random); "
        f"{pct(accuracy(longer))} / {num(spearman(longer))} against {pct(accuracy('recipe3/sbert'))} / "
        f"{num(spearman('recipe3/sbert'))}", "1,500 kept", notebook("fine-tuning-length"))
    wise = Start("wise/late-60min-seed0", "wise/late-60min-seed1")
    row("weight-space ensembles", "the encoder pulled back towards its start, α chosen by the rule (`wise.py`)", "—",
        f"α = 0.9 chosen; the late-term hour, 2 seeds: {figures(wise)} against {figures(late)}",
        "not adopted", notebook("weight-space-ensembles"))
    uv, no_uv = "recipe/ablation/sbert-60min", "recipe/levers/uv-absdiff"
    row("the u∗v feature", "(u, v, \\|u−v\\|, u∗v) instead of the paper's (u, v, \\|u−v\\|), recipe 1", "—",
        f"{pct(accuracy(uv))} / {num(spearman(uv))} with it, {pct(accuracy(no_uv))} / {num(spearman(no_uv))} "
        "without", "dropped", notebook("recipe-1", "recipe 1", "a6-the-levers-measured"))
    mixes = {name: validation(f"recipe/mix/{name}") for name in ("snli", "snli-sick", "snli-mnli", "snli-mnli-sick")}
    row("which NLI pairs", "SICK train and MultiNLI dev-matched beside SNLI, chosen on SNLI validation pairs, "
        "recipe 1", "—", f"SICK: {signed(mixes['snli-sick'] - mixes['snli'])} and "
        f"{signed(mixes['snli-mnli-sick'] - mixes['snli-mnli'])} points of validation accuracy; MultiNLI: "
        f"{signed(mixes['snli-mnli'] - mixes['snli'])}", "SICK dropped, MultiNLI kept",
        notebook("recipe-1", "recipe 1", "which-nli-data-the-mix-chosen-on-snli-validation-pairs"))
    curve = [accuracy(run) for run in ("recipe/curve/pre-25", "recipe/curve/pre-50", "recipe/levers/uv-absdiff")]
    row("more NLI pairs", "a quarter, half and all of the pairs, recipe 1", "—",
        f"{signed(curve[1] - curve[0])} and {signed(curve[2] - curve[1])} points of `snli:test` per doubling, "
        "from the pre-trained start", "the data here is fixed",
        notebook("recipe-1", "recipe 1", "how-accuracy-grows-with-nli-data-the-learning-curve"))
    row("`make demo`'s own choices", "the NLI share, the fine-tuning and the term at 7 + 5 minutes", "—",
        f"with the term: rule {num(rule('demo/neighbour/sbert'))} against {num(rule('demo/sbert'))}; "
        f"{pct(accuracy('demo/neighbour/sbert'))} / {num(spearman('demo/neighbour/sbert'))}",
        "share 0.5, the term, weight 0.1", notebook("demo"))
    return table(["lever", "what it is", "on the transfer signals", "end to end: `snli:test` / `stsb:dev`",
                  "verdict", "notebook"], rows, ["---", "---", "---", "---", "---", "---"])


def readme():
    """A results table for README, in tests/test_docs.py's value/source convention: README marks it with the
    plain marker and keeps its own words; the check reads each figure from the reports its source cell links."""
    pretrained, random = hour("recipe 4: the"), RANDOM["4 × 256"]
    transfer = pretrained.minus(random)
    demo = "demo/neighbour/sbert"
    rows = [
        ["the headline: `snli:test` accuracy / macro F1 / `stsb:dev` Spearman",
         f"**{pct(accuracy(HEADLINE))}** / {macro_f1(HEADLINE):.3f} / **{num(spearman(HEADLINE))}**",
         "`make recipe-headline DATA_DIR=../shared/data`", "60 + 9 min, 2-core Intel Xeon",
         f"{report_link(HEADLINE)} `test.accuracy` `test.report.macro avg.f1-score` `sts.0.spearman`"],
        ["random weights of the same shape, fine-tuned the same way (mean of 2 seeds)",
         f"{pct(random.accuracy)} / {num(random.spearman)}", "`make recipe-transfer DATA_DIR=../shared/data`",
         "6 min a seed, the same machine", f"{seeds_source(random.runs)} `test.accuracy` `sts.0.spearman`"],
        ["what pre-training pays (the headline's 2 seeds minus random weights')",
         f"{signed(transfer[0])} points / {signed(transfer[1])}", "the same",
         "[RESULTS §5](RESULTS.md#5-does-pre-training-pay)",
         f"{seeds_source(pretrained.runs)} minus {seeds_source(random.runs)} `test.accuracy` × 100 "
         f"`sts.0.spearman`"],
        ["`make demo`: `snli:test` accuracy / macro F1 / `stsb:dev` Spearman",
         f"{pct(accuracy(demo))} / {macro_f1(demo):.3f} / {num(spearman(demo))}", "`make demo DATA_DIR=../shared/data`",
         "7 + 5 min, the same machine, the offline data",
         f"{report_link(demo)} `test.accuracy` `test.report.macro avg.f1-score` `sts.0.spearman`"],
    ]
    return table(["result", "value", "command", "time and hardware", "source"], rows,
                 ["---", "---:", "---", "---", "---"])


TABLES = {"headline": headline, "recipes": recipes, "transfer": transfer, "hours": hours, "tried": tried,
          "readme": readme}


def main(names):
    for name in names or TABLES:
        if not names:
            print(f"\n{name}:\n")
        print("\n".join(TABLES[name]()))


if __name__ == "__main__":
    main(sys.argv[1:])
