"""docs/notebook/levers.md (issue 34, item 3): the fine-tuning levers tried on the recipe's three pre-training
runs and on random weights, each judged by RESULTS §7's rule at fine-tuning seed 0, printed from the committed
logs by docs/runs/report_tables.py (`python docs/runs/report_tables.py fine_tuning_levers`), and pre-training
runs 0 and 2 made a second time for them (`... levers_reruns`).
"""
from statistics import mean

from run_logs import RANDOM_SEEDS, RECIPE_RUNS, RUNS, accuracy, evaluations, num, pct, records, rule, signed, \
    spearman, table, validation

LEVERS = "levers"  # where docs/runs/levers/finetune.sh copies each lever's fine-tunings


def the_recipe(run):
    """The recipe's own fine-tuning with seed 0 of pre-training run `run`, with its stsb:train figure: run 1's
    is the headline's; runs 0 and 2 were fine-tuned again (their first fine-tunings' weights were not kept)."""
    return RECIPE_RUNS[1][1][0] if run == 1 else f"{LEVERS}/recipe/run{run}/sbert-step5907-seed0"


# (name, what it changes, the fine-tuning of each pre-training run with seed 0, the random start's)
FINE_TUNINGS = [
    ("the recipe", "as `make recipe-headline`", [the_recipe(run) for run in RECIPE_RUNS], RANDOM_SEEDS[0]),
    ("SICK's training pairs too", "`FINETUNE_OPTIONS=\"--train-also sick:train\"`: 4,439 more pairs, the same "
     "validation pairs", [f"{LEVERS}/sick/run{run}/sbert-step5907-seed0" for run in RECIPE_RUNS],
     f"{LEVERS}/sick/run1/sbert-random-seed0"),
    ("twice the learning rate", "`PRETRAINED_LR=6e-4`, `RANDOM_INIT_LR=6e-4` (the recipe: 3e-4)",
     [f"{LEVERS}/lr6e-4/run{run}/sbert-step5907-seed0" for run in RECIPE_RUNS],
     f"{LEVERS}/lr6e-4/run1/sbert-random-seed0"),
]


def figures(run):
    """(the rule, best validation accuracy, stsb:train Spearman, snli:test accuracy, stsb:dev Spearman)."""
    return rule(run), validation(run), spearman(run, "stsb:train", "stsb-train/report.json"), accuracy(run), \
        spearman(run)


def finished(run):
    return all((RUNS / run / name).exists() for name in ("report.json", "stsb-train/report.json"))


def cells(values):
    rule_figure, val, sts_train, test, sts_dev = values
    return [num(rule_figure), f"{pct(val)} / {num(sts_train)}", f"{pct(test)} / {num(sts_dev)}"]


def mean_figures(runs):
    return [mean(column) for column in zip(*(figures(run) for run in runs))]


def changes(values, base):
    """What a lever did: (rule; validation / stsb:train; snli:test / stsb:dev), each minus the recipe's."""
    rule_change, *others = (value - base_value for value, base_value in zip(values, base))
    return [signed(rule_change), " / ".join(map(signed, others[:2])), " / ".join(map(signed, others[2:]))]


def fine_tuning_levers():
    """Each lever on every start at seed 0, as far as its fine-tunings have run: each pre-training run, then
    (once all three have run) their mean and what the lever changed in it; random weights and their change."""
    rows = []
    recipe_runs, recipe_random = FINE_TUNINGS[0][2], FINE_TUNINGS[0][3]
    for name, what, runs, random in FINE_TUNINGS:
        rows.append([f"**{name}**", what, "", "", ""])
        for number, run in zip(RECIPE_RUNS, runs):
            if finished(run):
                rows.append(["", f"pre-training run {number}", *cells(figures(run))])
        if all(map(finished, runs)):
            rows.append(["", "the mean of the three runs", *cells(mean_figures(runs))])
            if runs != recipe_runs:
                rows.append(["", "change in the mean", *changes(mean_figures(runs), mean_figures(recipe_runs))])
        if finished(random):
            rows.append(["", "random weights", *cells(figures(random))])
            if random != recipe_random:
                rows.append(["", "change for random weights", *changes(figures(random), figures(recipe_random))])
    return table(["fine-tuning, seed 0", "start", "the rule", "validation accuracy / `stsb:train`",
                  "`snli:test` / `stsb:dev`"], rows, ["---", "---", "---:", "---:", "---:"])


def best_step(run):
    """The step of a fine-tuning's best validation accuracy: the checkpoint it keeps (the first, on a tie)."""
    validations = [r for r in records(run) if "val_accuracy" in r]
    return max(validations, key=lambda r: r["val_accuracy"])["step"]


def levers_figures():
    """The figures docs/notebook/levers.md quotes in its prose (not a table; `... levers_figures`)."""
    candidates = [run for _, runs in RECIPE_RUNS.values() for run in runs] + \
        [the_recipe(run) for run in RECIPE_RUNS] + RANDOM_SEEDS
    written = [run for run in dict.fromkeys(candidates) if (RUNS / run / "metrics.jsonl").exists()]
    steps = sorted(best_step(run) for run in written)
    return [f"the recipe's fine-tunings with a metrics.jsonl ({len(written)}, random weights' included) validate "
            f"best at steps {steps[0]:,}–{steps[-1]:,} of {records(written[0])[-1]['step']:,}"]


# --- Runs 0 and 2 again ---------------------------------------------------------------------------------------

PRINTED_DIGITS = {"heldout_mlm_accuracy": 4, "sts_spearman": 2, "probe_accuracy": 4}  # as recover_reports read them


def as_printed(record):
    return {key: round(record[key], digits) for key, digits in PRINTED_DIGITS.items()}


def evaluations_equal(first, again):
    """How many of a pre-training run's evaluations its second run logged equal, to the digits the first printed."""
    pairs = list(zip(evaluations(first), evaluations(again), strict=True))
    equal = sum(one["step"] == other["step"] and as_printed(one) == as_printed(other) for one, other in pairs)
    return equal, len(pairs)


def last_evaluation(checkpoint):
    record = as_printed(evaluations(checkpoint)[-1])
    return f"{pct(100 * record['heldout_mlm_accuracy'])} / {num(record['sts_spearman'])} / " \
           f"{pct(100 * record['probe_accuracy'])}"


def reruns():
    """Pre-training runs 0 and 2 made again by the same command, and the recipe's fine-tuning seed 0 of each: the
    first runs' figures (read back from their consoles) against the second's."""
    columns = [(RECIPE_RUNS[run][0], f"{LEVERS}/seed{run}-bert", RECIPE_RUNS[run][1][0], the_recipe(run))
               for run in (0, 2)]
    rows = [["pre-training: evaluations equal to the digits the first run printed",
             *(f"{equal} of {total}" for equal, total in (evaluations_equal(first, again)
                                                          for first, again, _, _ in columns))]]
    rows.append(["pre-training, the last step: held-out masked-LM / STS signal / probe",
                 *(f"{last_evaluation(first)} → {last_evaluation(again)}" for first, again, _, _ in columns)])
    for label, figure in [("fine-tuning seed 0: `snli:test` accuracy", lambda run: pct(accuracy(run))),
                          ("fine-tuning seed 0: `stsb:dev` Spearman", lambda run: num(spearman(run)))]:
        rows.append([label, *(f"{figure(first)} → {figure(again)}" for _, _, first, again in columns)])
    return table(["", "run 0: first → again", "run 2: first → again"], rows, ["---", "---:", "---:"])

