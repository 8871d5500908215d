"""RESULTS.md's table of a pre-training lever's transfer signals beside the recipe's, step by step, read from the
two runs' metrics.jsonl: the zero-shot STS signal (stsb:train) and the frozen NLI probe at every evaluation
the two share, and each run's held-out masked-LM accuracy (on its own held-out mix of examples).

    python docs/runs/recipe2/levers-pt/signals_table.py docs/runs/recipe2/bert docs/runs/recipe2/levers-pt/nli0.9/bert
"""
import json
import sys
from pathlib import Path


def evaluations(run):
    records = (json.loads(line) for line in Path(run, "metrics.jsonl").read_text().splitlines() if line.strip())
    return {r["step"]: r for r in records if "heldout_mlm_accuracy" in r}


def main(recipe, lever):
    ours, theirs = evaluations(recipe), evaluations(lever)
    print("| step | STS signal: recipe / lever | NLI probe: recipe / lever | "
          "held-out masked-LM accuracy: recipe / lever |")
    print("|---:|---:|---:|---:|")
    for step in sorted(set(ours) & set(theirs)):
        a, b = ours[step], theirs[step]
        print(f"| {step:,} | {a['sts_spearman']:.2f} / {b['sts_spearman']:.2f} | {100 * a['probe_accuracy']:.2f}% / "
              f"{100 * b['probe_accuracy']:.2f}% | {100 * a['heldout_mlm_accuracy']:.2f}% / "
              f"{100 * b['heldout_mlm_accuracy']:.2f}% |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
