"""docs/notebook/levers.md (issue 34, item 3): the fine-tuning levers tried on the recipe's pre-training runs and
on random weights, each fine-tuning against the recipe's own of the same start and seed by RESULTS §7's rule,
printed from the committed logs by docs/runs/report_tables.py (`python docs/runs/report_tables.py
fine_tuning_levers`), and the runs made a second time for them (`... levers_reruns`).
"""
from statistics import mean

from run_logs import RANDOM_SEEDS, RANDOM_SEEDS_AT_3E4, RECIPE_RUNS, RUNS, Spread, accuracy, evaluations, interval, \
                     num, pct, records, rule, signed, spearman, table, transfer_intervals, validation

LEVERS = "levers"  # where docs/runs/levers/finetune.sh copies each lever's fine-tunings
STARTS = [f"run {run}" for run in RECIPE_RUNS] + ["random"]
SEEDS = (0, 1, 2)
KEPT = {("run 1", 0), ("run 1", 1), ("random", 0), ("random", 1)}  # the headline's fine-tunings whose weights were kept


def the_recipe(start, seed):
    """The recipe's own fine-tuning of a start and seed, as the levers found it (random weights at 3e-4): the
    first run where its weights were kept for the stsb:train figure (run 1's; random weights' seeds 0 and 1, from
    recipe 4), else the same fine-tuning again."""
    return the_first(start, seed) if (start, seed) in KEPT else made_again(start, seed)


def made_again(start, seed):
    """Where finetune.sh copied the recipe's own fine-tuning made again: random weights take run 1's shape and
    vocabulary, the same for every run."""
    return lever_run("recipe", start, seed)


def the_first(start, seed):
    """The headline's fine-tuning of a start and seed, as its first run logged it."""
    return RANDOM_SEEDS_AT_3E4[seed] if start == "random" else RECIPE_RUNS[int(start.split()[1])][1][seed]


def lever_run(lever, start, seed):
    """Where finetune.sh copied a lever's fine-tuning (random weights': under run 1)."""
    if start == "random":
        return f"{LEVERS}/{lever}/run1/sbert-random-seed{seed}"
    return f"{LEVERS}/{lever}/run{start.split()[1]}/sbert-step5907-seed{seed}"


# (folder under levers/, name, what it changes)
LEVERS_TRIED = [
    ("sick", "SICK's training pairs too", "`FINETUNE_OPTIONS=\"--train-also sick:train\"`: 4,439 more pairs, "
     "the same validation pairs"),
    ("lr6e-4", "twice the learning rate", "`PRETRAINED_LR=6e-4`, `RANDOM_INIT_LR=6e-4` (the recipe: 3e-4)"),
    ("lr1.2e-3", "four times the learning rate", "`RANDOM_INIT_LR=1.2e-3`, random weights only"),
]


def figures(run):
    """(the rule, best validation accuracy, stsb:train Spearman, snli:test accuracy, stsb:dev Spearman)."""
    return rule(run), validation(run), spearman(run, "stsb:train", "stsb-train/report.json"), accuracy(run), \
        spearman(run)


def finished(run):
    return all((RUNS / run / name).exists() for name in ("report.json", "stsb-train/report.json"))


def cells(values, base=None):
    """The rule; validation accuracy / stsb:train; snli:test / stsb:dev; each with its change from `base`."""
    shown = [num(values[0]), f"{pct(values[1])} / {num(values[2])}", f"{pct(values[3])} / {num(values[4])}"]
    if base is None:
        return shown
    change = [signed(value - base_value) for value, base_value in zip(values, base)]
    return [f"{shown[0]} ({change[0]})", f"{shown[1]} ({change[1]} / {change[2]})",
            f"{shown[2]} ({change[3]} / {change[4]})"]


def pairs(lever):
    """(start, seed, the lever's fine-tuning, the recipe's) wherever both have run."""
    return [(start, seed, lever_run(lever, start, seed), the_recipe(start, seed)) for start in STARTS
            for seed in SEEDS if finished(lever_run(lever, start, seed)) and finished(the_recipe(start, seed))]


def mean_change(matched):
    return [mean(changes) for changes in zip(*([a - b for a, b in zip(figures(run), figures(base))]
                                               for _, _, run, base in matched))]


def on_start(matched, random):
    """The pairs of `pairs` from random weights (random True) or from the pre-trained starts."""
    return [pair for pair in matched if (pair[0] == "random") == random]


def change_on(lever, random):
    """A lever's mean change on the pre-trained starts (random False) or random weights, for RESULTS §6: "rule ±x,
    `snli:test` ±y (n fine-tunings)", each against the recipe's own fine-tuning of the same start and seed."""
    group = on_start(pairs(lever), random)
    rule_change, _, _, test_change, _ = mean_change(group)
    return f"rule {signed(rule_change)}, `snli:test` {signed(test_change)} ({len(group)} fine-tunings)"


def fine_tuning_levers():
    """Each lever's fine-tunings, each against the recipe's own of the same start and seed (in brackets), and the
    mean change over the pre-trained starts and over random weights: what the lever does to each start's mean."""
    rows = [["**the recipe**", f"{start}, seed {seed}", *cells(figures(the_recipe(start, seed)))]
            for start in STARTS for seed in SEEDS
            if finished(the_recipe(start, seed)) and any(finished(lever_run(lever, start, seed))
                                                         for lever, _, _ in LEVERS_TRIED)]
    for lever, name, what in LEVERS_TRIED:
        matched = pairs(lever)
        rows.append([f"**{name}**", what, "", "", ""])
        rows += [["", f"{start}, seed {seed}", *cells(figures(run), figures(base))]
                 for start, seed, run, base in matched]
        for label, group in [("pre-trained", on_start(matched, False)), ("random weights", on_start(matched, True))]:
            if group:
                rule_change, *others = mean_change(group)
                rows.append(["", f"mean change, {label} ({len(group)})", signed(rule_change),
                             f"{signed(others[0])} / {signed(others[1])}",
                             f"{signed(others[2])} / {signed(others[3])}"])
    return table(["fine-tuning", "start", "the rule", "validation accuracy / `stsb:train`",
                  "`snli:test` / `stsb:dev`"], rows, ["---", "---", "---:", "---:", "---:"])


def best_step(run):
    """The step of a fine-tuning's best validation accuracy: the checkpoint it keeps (the first, on a tie)."""
    validations = [r for r in records(run) if "val_accuracy" in r]
    return max(validations, key=lambda r: r["val_accuracy"])["step"]


def levers_figures():
    """The figures docs/notebook/levers.md quotes in its prose (not a table; `... levers_figures`)."""
    candidates = [run for _, runs in RECIPE_RUNS.values() for run in runs] + \
        [the_recipe(start, seed) for start in STARTS for seed in SEEDS] + RANDOM_SEEDS_AT_3E4
    written = [run for run in dict.fromkeys(candidates) if (RUNS / run / "metrics.jsonl").exists()]
    steps = sorted(best_step(run) for run in written)
    return [f"the recipe's fine-tunings with a metrics.jsonl ({len(written)}, random weights' included) validate "
            f"best at steps {steps[0]:,}–{steps[-1]:,} of {records(written[0])[-1]['step']:,}"]


def baselines():
    """What pre-training pays over random weights at the pre-trained start's learning rate and at their own."""
    rows = []
    for rate, runs in [("3e-4, the pre-trained start's rate (until this page)", RANDOM_SEEDS_AT_3E4),
                       ("6e-4, chosen by the rule", RANDOM_SEEDS)]:
        points, sts = transfer_intervals(runs)
        rows.append([rate, f"{Spread(runs).accuracy()} / {Spread(runs).spearman()}",
                     f"{signed(points[0])} {interval(points)} points, {signed(sts[0])} {interval(sts)}"])
    return table(["random weights fine-tuned at", f"`snli:test` / `stsb:dev`, {len(RANDOM_SEEDS)} seeds",
                  "what pre-training pays, 95% interval"], rows, ["---", "---:", "---:"])


# --- Runs 0 and 2 again ---------------------------------------------------------------------------------------

PRINTED_DIGITS = {"heldout_mlm_accuracy": 4, "sts_spearman": 2, "probe_accuracy": 4}  # as recover_reports read them


def as_printed(record):
    return {key: round(record[key], digits) for key, digits in PRINTED_DIGITS.items()}


def evaluations_equal(first, again):
    """How many of a pre-training run's evaluations its second run logged equal, to the digits the first printed."""
    both = list(zip(evaluations(first), evaluations(again), strict=True))
    equal = sum(one["step"] == other["step"] and as_printed(one) == as_printed(other) for one, other in both)
    return equal, len(both)


def last_evaluation(checkpoint):
    record = as_printed(evaluations(checkpoint)[-1])
    return f"{pct(100 * record['heldout_mlm_accuracy'])} / {num(record['sts_spearman'])} / " \
           f"{pct(100 * record['probe_accuracy'])}"


MADE_AGAIN = (0, 2)  # the pre-training runs whose weights did not outlive their session


def pretraining_rows(run):
    first, again = RECIPE_RUNS[run][0], f"{LEVERS}/seed{run}-bert"
    equal, total = evaluations_equal(first, again)
    return [[f"pre-training run {run}: evaluations equal to the digits the first run printed", f"{equal} of {total}"],
            [f"pre-training run {run}, the last step: held-out masked-LM / STS signal / probe",
             f"{last_evaluation(first)} → {last_evaluation(again)}"]]


def held_out_figures(run):
    return f"{pct(accuracy(run))} / {num(spearman(run))}"


def fine_tuning_rows(start, name):
    return [[f"{name}, fine-tuning seed {seed}: `snli:test` / `stsb:dev`",
             f"{held_out_figures(the_first(start, seed))} → {held_out_figures(made_again(start, seed))}"]
            for seed in SEEDS if finished(made_again(start, seed))]


def reruns():
    """Pre-training runs made again by the same command, and the recipe's fine-tunings made again for the
    stsb:train figure: the first runs' figures (read back from their consoles where their logs were lost) against
    the second's."""
    rows = []
    for run in MADE_AGAIN:
        if (RUNS / LEVERS / f"seed{run}-bert" / "metrics.jsonl").exists():
            rows += pretraining_rows(run)
        rows += fine_tuning_rows(f"run {run}", f"run {run}")
    rows += fine_tuning_rows("random", "random weights")
    return table(["made again", "first → again"], rows, ["---", "---:"])
