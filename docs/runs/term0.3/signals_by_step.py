"""RESULTS.md's table of two pre-training runs' transfer signals at equal steps, read from their metrics.jsonl:
at every evaluation step both runs share, and at each one's last, the zero-shot STS signal, the frozen NLI
probe and the held-out masked-LM accuracy. (docs/runs/neighbour/signals_by_time.py compares at equal
minutes; runs on different processors compare by steps.)

    python docs/runs/term0.3/signals_by_step.py docs/runs/recipe4/bert docs/runs/term0.3/bert
"""
import json
import sys
from pathlib import Path


def evaluations(run):
    """{step: evaluation record} of a run's metrics.jsonl."""
    records = [json.loads(line) for line in Path(run, "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {r["step"]: r for r in records if "heldout_mlm_accuracy" in r}


def cell(record):
    return (f"{record['sts_spearman']:.2f} / {100 * record['probe_accuracy']:.2f}% / "
            f"{100 * record['heldout_mlm_accuracy']:.2f}%")


def main(first, second):
    runs = [evaluations(first), evaluations(second)]
    print(f"| step | {first}: STS / probe / masked-LM | {second}: STS / probe / masked-LM |")
    print("|---:|---:|---:|")
    for step in sorted(set(runs[0]) & set(runs[1])):
        print(f"| {step:,} | {cell(runs[0][step])} | {cell(runs[1][step])} |")
    last = [max(run) for run in runs]
    print(f"| end | {last[0]:,}: {cell(runs[0][last[0]])} | {last[1]:,}: {cell(runs[1][last[1]])} |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
