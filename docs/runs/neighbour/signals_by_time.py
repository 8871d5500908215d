"""RESULTS.md's table of two pre-training runs' transfer signals at equal minutes rather than equal steps, read
from their metrics.jsonl: for every tenth of an hour, each run's last evaluation at or before that time (the
minute of an evaluation is the elapsed time of the training log line at its step), with its step, the
zero-shot STS signal, the frozen NLI probe and the held-out masked-LM accuracy.

    python docs/runs/neighbour/signals_by_time.py docs/runs/recipe3/bert docs/runs/neighbour/bert
"""
import json
import sys
from pathlib import Path

MARKS = [6, 12, 18, 24, 30, 36, 42, 48, 54, 60]  # minutes


def timed_evaluations(run):
    """(minutes, evaluation record) for every evaluation after step 0, in order."""
    records = [json.loads(line) for line in Path(run, "metrics.jsonl").read_text().splitlines() if line.strip()]
    minutes_at = {r["step"]: r["elapsed"] / 60 for r in records if "elapsed" in r}
    return [(minutes_at[r["step"]], r) for r in records
            if "heldout_mlm_accuracy" in r and r["step"] in minutes_at]


def at(evaluations, minutes):
    before = [r for m, r in evaluations if m <= minutes + 1e-9]
    return before[-1] if before else None


def cell(record):
    if record is None:
        return "—"
    return (f"{record['step']:,}: {record['sts_spearman']:.2f} / {100 * record['probe_accuracy']:.2f}% / "
            f"{100 * record['heldout_mlm_accuracy']:.2f}%")


def main(first, second):
    runs = [timed_evaluations(first), timed_evaluations(second)]
    print(f"| minutes | {Path(first).parent.name}: step: STS / probe / masked-LM | "
          f"{Path(second).parent.name}: step: STS / probe / masked-LM |")
    print("|---:|---:|---:|")
    for minutes in MARKS:
        print(f"| {minutes} | {cell(at(runs[0], minutes))} | {cell(at(runs[1], minutes))} |")
    print(f"| end | {cell(runs[0][-1][1])} | {cell(runs[1][-1][1])} |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
