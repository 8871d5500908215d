"""RESULTS.md's tables, printed from the committed logs: every figure read from a run's report.json or
metrics.jsonl, and every derived figure (a mean over seeds, a difference of means, a mean of two validation
figures) computed from the unrounded values and rounded only when printed.

    python docs/runs/report_tables.py              # every table, each under its name
    python docs/runs/report_tables.py transfer     # one table: any name of TABLES (below)

tests/test_docs.py checks that each table RESULTS.md marks with its name is this script's output, line for line.
Paths in the printed links are relative to the repository's root, where RESULTS.md and README.md live.
"""
import sys
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run_logs and the tables' modules sit beside this script

from fine_tuning_levers import baselines, fine_tuning_levers, levers_figures, reruns  # noqa: E402
from levers_table import tried  # noqa: E402
from run_logs import HEADLINE, HOURS, RANDOM, RANDOM_CHECKPOINT, RANDOM_SEEDS, RANDOM_SEEDS_AT_3E4, RANDOM_ZERO_SHOT, \
                     RECIPE_RUNS, RECIPE_STEPS, REPRODUCTION, Spread, Start, accuracy, best_run, evaluations, hour, \
                     interval, macro_f1, notebook, num, pair, pct, read, recipe_spread, records, runs_link, shape, \
                     signals, signed, spearman, steps, table, transfer_intervals, weight, zero_shot  # noqa: E402

# --- The tables -------------------------------------------------------------------------------------------------

def report_link(run, text="report.json"):
    return runs_link(f"{run}/report.json", text)


def run_name(run):
    """"run 2 seed 1": a fine-tuning of the recipe by steps, named by its pre-training and fine-tuning seeds; a
    random start's by its seed alone."""
    for pretraining, (_, fine_tunings) in RECIPE_RUNS.items():
        if run in fine_tunings:
            return f"run {pretraining} seed {fine_tunings.index(run)}"
    return f"seed {RANDOM_SEEDS.index(run)}"


def spread_source(runs):
    return " ".join(report_link(run, run_name(run)) for run in runs)


def headline():
    """RESULTS §1: the recipe's mean over pre-training runs and fine-tuning seeds, random weights of its shape,
    what pre-training pays with its interval, and `make demo`. Its value and source columns follow
    tests/test_docs.py's convention, so the check reads each figure (and each ± sd) from its reports."""
    pretrained, random = recipe_spread()
    best = best_run(pretrained)
    pays = transfer_intervals()
    demo = "demo/neighbour/sbert"
    demo_mlm = 100 * read("demo/neighbour/bert/report.json")["heldout"]["heldout_mlm_accuracy"]
    machine = "2-core Intel Xeon, 2026-12-01"
    runs = f"{len(RECIPE_RUNS)} pre-training runs × {len(pretrained.runs) // len(RECIPE_RUNS)} fine-tuning seeds"
    rows = [
        [f"`snli:test` accuracy (9,824 pairs), mean ± sd of {runs}", f"**{pretrained.accuracy()}**",
         f"`make recipe-spread`: `make recipe-headline PRETRAIN_SEED=s` for s = {', '.join(map(str, RECIPE_RUNS))} "
         f"({steps(RECIPE_STEPS)} steps each), then fine-tuning seed 1; 2-core Intel Xeon, 2026-12-02 and 03",
         f"{spread_source(pretrained.runs)} `test.accuracy`"],
        ["`snli:test` macro F1, the same", pretrained.f1(), "the same models",
         f"{spread_source(pretrained.runs)} `test.report.macro avg.f1-score`"],
        ["`stsb:dev` Spearman × 100 (1,500 pairs), the same", f"**{pretrained.spearman()}**", "the same models",
         f"{spread_source(pretrained.runs)} `sts.0.spearman`"],
        ["the best of them by `snli:test` (not chosen on validation)", f"{pct(accuracy(best))} / {num(spearman(best))}",
         f"{run_name(best)}", f"{spread_source([best])} `test.accuracy` `sts.0.spearman`"],
        [f"random weights of the same shape, the same fine-tuning, mean ± sd of {len(random.runs)} seeds",
         f"{random.accuracy()} / {random.spearman()}",
         "`make recipe-transfer` (`--random-init` at 6e-4, the learning rate the rule chose for it); 2026-12-03, "
         "2-core Intel Xeon",
         f"{spread_source(random.runs)} `test.accuracy` `sts.0.spearman`"],
        ["what pre-training pays (the means above, subtracted)",
         f"**{signed(pays[0][0])}** points / **{signed(pays[1][0])}**",
         f"95% intervals (Welch, a pre-training run one observation): {interval(pays[0])} points, "
         f"{interval(pays[1])}; [§5](#5-does-pre-training-pay)",
         f"{spread_source(pretrained.runs)} minus {spread_source(random.runs)} `test.accuracy` × 100 "
         f"`sts.0.spearman`"],
        ["`make demo`: `snli:test` accuracy, macro F1, `stsb:dev` Spearman",
         f"{pct(accuracy(demo))} / {macro_f1(demo):.3f} / {num(spearman(demo))}",
         "7.4 min of pre-training, 5 min of fine-tuning, with the offline data; " + machine,
         f"{report_link(demo)} `test.accuracy` `test.report.macro avg.f1-score` `sts.0.spearman`"],
        ["`make demo`: held-out masked-LM accuracy after pre-training (always \"the\": 6.07%)", pct(demo_mlm),
         "the same run", f"{report_link('demo/neighbour/bert')} `heldout.heldout_mlm_accuracy`"],
    ]
    return table(["", "value", "made by", "source"], rows, ["---", "---:", "---", "---"])


def same_figures(one, other):
    """Two metrics.jsonl records equal in everything but how long they took."""
    timings = {"elapsed", "tokens_per_second", "seconds"}
    return {k: v for k, v in one.items() if k not in timings} == {k: v for k, v in other.items() if k not in timings}


def reproduction():
    """docs/notebook/spread.md: pre-training seed 1 run twice by `make recipe-headline`, on two machines: each
    evaluation of the pre-training and the fine-tuning with seed 0."""
    first, second = REPRODUCTION
    rows = []
    for one, other in zip(evaluations(f"{first}/bert"), evaluations(f"{second}/bert"), strict=True):
        rows.append([f"pre-training, step {steps(one['step'])}: held-out masked-LM / STS signal / probe",
                     f"{pct(100 * one['heldout_mlm_accuracy'])} / {num(one['sts_spearman'])} / "
                     f"{pct(100 * one['probe_accuracy'])}",
                     f"{pct(100 * other['heldout_mlm_accuracy'])} / {num(other['sts_spearman'])} / "
                     f"{pct(100 * other['probe_accuracy'])}"])
    for kind, run in [("pre-training", "bert"), ("fine-tuning seed 0", "sbert")]:
        ours, theirs = records(f"{first}/{run}"), records(f"{second}/{run}")
        equal = sum(same_figures(one, other) for one, other in zip(ours, theirs, strict=True))
        rows.append([f"{kind}: `metrics.jsonl`, its records equal but for timings", f"{len(ours)} records",
                     f"{equal} equal"])
    for label, figure in [("`snli:test` accuracy", lambda run: pct(accuracy(run))),
                          ("`snli:test` macro F1", lambda run: f"{macro_f1(run):.4f}"),
                          ("`stsb:dev` Spearman", lambda run: num(spearman(run), 4))]:
        rows.append([f"fine-tuning seed 0: {label}", figure(f"{first}/sbert"), figure(f"{second}/sbert")])
    return table(["", f"first run (`docs/runs/{first}`)", f"second run (`docs/runs/{second}`)"], rows,
                 ["---", "---:", "---:"])


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
              "the contrastive term: **the headline's recipe**", "recipe4/bert", HEADLINE, "Intel Xeon, 2026-12-01",
         "recipe-4"),
    ]
    for number, what, checkpoint, run, machine, page in described:
        rows.append([number, what, steps(signals_or_steps(checkpoint)), machine,
                     f"{pct(accuracy(run))} / {num(spearman(run))}", notebook(page)])
    return table(["recipe", "what it is", "pre-training steps in 60 min", "2 cores of", "`snli:test` / `stsb:dev` "
                  "(its run, seed 0)", "notebook"], rows, ["---:", "---", "---:", "---", "---:", "---"])


def signals_or_steps(checkpoint):
    """The steps of a pre-training run (recipe 1 logged no transfer signals, only its held-out figures)."""
    return max(r["step"] for r in records(checkpoint) if "step" in r)


def transfer():
    """RESULTS §5: the recipe by steps, each pre-training run and its fine-tunings, against random weights: the
    means with their spread and what pre-training pays, with its interval."""
    pretrained, random = recipe_spread()
    rows = []
    _, masked, sts, probe = signals("recipe4/bert", at_start=True)
    rows.append(["random weights, fine-tuned at 6e-4", "0", pct(masked), num(sts), pct(probe),
                 pair(random.accuracies), pair(random.spearmans)])
    for seed, (checkpoint, runs) in RECIPE_RUNS.items():
        count, masked, sts, probe = signals(checkpoint)
        rows.append([f"pre-training seed {seed}", steps(count), pct(masked), num(sts), pct(probe),
                     pair(map(accuracy, runs)), pair(map(spearman, runs))])
    rows.append([f"**the recipe: mean ± sd of {len(RECIPE_RUNS)} runs, {len(pretrained.runs)} fine-tunings**",
                 "", "", "", "", f"**{pretrained.accuracy()}**", f"**{pretrained.spearman()}**"])
    rows.append([f"random weights: mean ± sd of {len(random.runs)} seeds", "", "", "", "",
                 random.accuracy(), random.spearman()])
    pays = transfer_intervals()
    rows.append(["**what pre-training pays**, 95% interval (Welch, a run one observation)", "", "", "", "",
                 f"**{signed(pays[0][0])}** {interval(pays[0])}", f"**{signed(pays[1][0])}** {interval(pays[1])}"])
    at_3e4, pays_at_3e4 = Spread(RANDOM_SEEDS_AT_3E4), transfer_intervals(RANDOM_SEEDS_AT_3E4)
    rows.append([f"before the learning-rate search: random weights at 3e-4 ({len(at_3e4.runs)} seeds), and what "
                 "pre-training paid over them", "", "", "", "",
                 f"{at_3e4.accuracy()}; {signed(pays_at_3e4[0][0])} {interval(pays_at_3e4[0])}",
                 f"{at_3e4.spearman()}; {signed(pays_at_3e4[1][0])} {interval(pays_at_3e4[1])}"])
    return table(["start of fine-tuning", "steps", "held-out masked-LM", "STS signal",
                  "NLI probe (frozen)", "`snli:test` (fine-tuning seed 0 / 1 / 2)",
                  "`stsb:dev` (seed 0 / 1 / 2)"], rows,
                 ["---"] + ["---:"] * 6)


def along_the_hour():
    """RESULTS §5: recipe 4's starts along its hour (one run, scheduled by time), two fine-tuning seeds each."""
    random = RANDOM["4 × 256"]
    starts = [("random weights", "recipe4/bert", True, random),
              ("15 minutes", "recipe4/bert-15min", False,
               Start("recipe4/transfer/sbert-15min-seed0", "recipe4/transfer/sbert-15min-seed1")),
              ("30 minutes", "recipe4/bert-30min", False,
               Start("recipe4/transfer/sbert-30min-seed0", "recipe4/transfer/sbert-30min-seed1")),
              ("60 minutes", "recipe4/bert", False, hour("recipe 4: the"))]
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
                 ["---"] + ["---:"] * 8)


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


def spread_figures():
    """The figures RESULTS, README and docs/notebook/spread.md quote in their prose about the recipe's spread,
    derived here from the unrounded logs (not a table; `python docs/runs/report_tables.py spread_figures`)."""
    pretrained, random = recipe_spread()
    (pays, low, high), (sts_pays, sts_low, sts_high) = transfer_intervals()
    accuracies, spearmans = pretrained.accuracies, pretrained.spearmans
    masked = [signals(checkpoint)[1] for checkpoint, _ in RECIPE_RUNS.values()]
    return [
        f"headline: {pretrained.accuracy()} on snli:test, {pretrained.spearman()} on stsb:dev",
        f"below the 66% target by {66 - mean(accuracies):.2f} points; fine-tunings at 66% or more: "
        f"{sum(value >= 66 for value in accuracies)} of {len(accuracies)}",
        f"what pre-training pays: {signed(pays)} [{signed(low)}, {signed(high)}] points, interval "
        f"{high - low:.1f} wide; {signed(sts_pays)} [{signed(sts_low)}, {signed(sts_high)}] Spearman",
        f"fine-tunings span {pct(min(accuracies))}–{pct(max(accuracies))} on snli:test, "
        f"{num(min(spearmans))}–{num(max(spearmans))} on stsb:dev; masked-LM at the end "
        f"{pct(min(masked))}–{pct(max(masked))}",
        f"lowest fine-tuning above the highest random seed on stsb:dev by "
        f"{num(min(spearmans) - max(random.spearmans))}; fine-tunings above the best random seed on snli:test "
        f"({pct(max(random.accuracies))}): {sum(value > max(random.accuracies) for value in accuracies)} of "
        f"{len(accuracies)}",
    ]


def readme():
    """A results table for README, in tests/test_docs.py's value/source convention: README marks it with the
    plain marker and keeps its own words; the check reads each figure from the reports its source cell links."""
    pretrained, random = recipe_spread()
    pays = transfer_intervals()
    demo = "demo/neighbour/sbert"
    rows = [
        [f"the recipe: `snli:test` accuracy / macro F1 / `stsb:dev` Spearman, mean ± sd of {len(RECIPE_RUNS)} "
         f"pre-training runs ({len(pretrained.runs)} fine-tunings)",
         f"**{pretrained.accuracy()}** / {pretrained.f1()} / **{pretrained.spearman()}**",
         "`make recipe-spread DATA_DIR=../shared/data`",
         "5,907 steps (60 min on the reference Xeon) + 2 × 6–10 min a run, 2-core Intel Xeon",
         f"{spread_source(pretrained.runs)} `test.accuracy` `test.report.macro avg.f1-score` `sts.0.spearman`"],
        [f"random weights of the same shape, fine-tuned the same way at their own learning rate "
         f"({len(random.runs)} seeds)",
         f"{random.accuracy()} / {random.spearman()}", "the same (its `--random-init` fine-tunings)",
         "6 min a seed, the same machine", f"{spread_source(random.runs)} `test.accuracy` `sts.0.spearman`"],
        ["what pre-training pays (the means, subtracted; 95% intervals in RESULTS §5)",
         f"{signed(pays[0][0])} points / {signed(pays[1][0])}", "the same",
         "[RESULTS §5](RESULTS.md#5-does-pre-training-pay)",
         f"{spread_source(pretrained.runs)} minus {spread_source(random.runs)} `test.accuracy` × 100 "
         f"`sts.0.spearman`"],
        ["`make demo`: `snli:test` accuracy / macro F1 / `stsb:dev` Spearman",
         f"{pct(accuracy(demo))} / {macro_f1(demo):.3f} / {num(spearman(demo))}", "`make demo DATA_DIR=../shared/data`",
         "7 + 5 min, the same machine, the offline data",
         f"{report_link(demo)} `test.accuracy` `test.report.macro avg.f1-score` `sts.0.spearman`"],
    ]
    return table(["result", "value", "command", "time and hardware", "source"], rows,
                 ["---", "---:", "---", "---", "---"])


TABLES = {"headline": headline, "recipes": recipes, "transfer": transfer, "along_the_hour": along_the_hour,
          "hours": hours, "tried": tried, "readme": readme, "reproduction": reproduction,
          "spread_figures": spread_figures, "fine_tuning_levers": fine_tuning_levers,
          "levers_reruns": reruns, "levers_figures": levers_figures,
          "levers_baselines": baselines}


def main(names):
    for name in names or TABLES:
        if not names:
            print(f"\n{name}:\n")
        print("\n".join(TABLES[name]()))


if __name__ == "__main__":
    main(sys.argv[1:])
