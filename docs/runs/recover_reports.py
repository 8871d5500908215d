"""Rebuild the logs of runs whose directories were lost but whose console log survived.

Pre-training runs 0 and 2 of the recipe by steps (issue 34) finished, but the machine's `runs/` folder was wiped
before their logs were copied out; what survived is each chain's console output (`headline.log`), in which
`pretrain.py` printed its evaluations and `evaluate.py` printed each report in full. This script reads them back:

- each fine-tuning's `report.json`, its `snli:test` figures recomputed from the printed confusion matrix by
  metrics.py (so accuracy and F1 are exact), its `stsb:dev` correlations as printed (two decimals);
- each pre-training run's `evaluations.jsonl`: the held-out masked-LM accuracy, the STS signal and the frozen NLI
  probe at every evaluation, as printed (four, two and four decimals).

Every file it writes names its source (`recovered_from`) and which figures are rounded (`rounded`).

    python docs/runs/recover_reports.py docs/runs/seed0/headline.log docs/runs/seed2/headline.log
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agree.atomic import atomic_write_json, atomic_write_text  # noqa: E402
from metrics import classification_report  # noqa: E402

LABELS = ["entailment", "neutral", "contradiction"]
EVALUATION = re.compile(r"^step (\d+): held-out MLM ([\d.]+), STS Spearman ([\d.]+), NLI probe ([\d.]+)$")
PRETRAINED = re.compile(r"^done\. [\d,]+ steps in [\d.]+ min; checkpoint in (\S+)$")
REPORT_TITLE = re.compile(r"^# Evaluation of `(\S+)`$")
EVALUATED = re.compile(r"evaluated (\S+) on (\S+) with torch (\S+) in ([\d.]+) s:$")
MATRIX_ROW = re.compile(r"^\| (entailment|neutral|contradiction) \| (\d+) \| (\d+) \| (\d+) \|$")
STS_ROW = re.compile(r"^\| `(\S+)` \| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \|$")
TEST = re.compile(r"^## NLI: `(\S+)` \(([\d,]+) pairs\)$")


def console_lines(log):
    """The log's lines, each progress bar's redraws (carriage returns) split into lines of their own."""
    return Path(log).read_text(encoding="utf-8").replace("\r", "\n").splitlines()


def pretraining_evaluations(lines):
    """{checkpoint: [evaluation records]}: the evaluations printed before each pre-training's `done.` line."""
    runs, pending = {}, []
    for line in lines:
        if match := EVALUATION.match(line.strip()):
            step, masked, sts, probe = match.groups()
            pending.append({"step": int(step), "heldout_mlm_accuracy": float(masked), "sts_spearman": float(sts),
                            "probe_accuracy": float(probe)})
        elif match := PRETRAINED.match(line.strip()):
            runs[match.group(1)], pending = pending, []
    return runs


def printed_reports(lines):
    """{model: its printed report's lines}, from each `# Evaluation of` heading to the next heading of a report."""
    reports, current = {}, None
    for line in lines:
        if match := REPORT_TITLE.match(line):
            current = reports.setdefault(match.group(1), [])
        elif current is not None:
            if line.startswith("## Charts"):
                current = None
            else:
                current.append(line)
    return reports


def report_from(model, lines, log):
    """A report.json's content from a printed report: the test figures from its confusion matrix."""
    matrix = {m.group(1): [int(n) for n in m.groups()[1:]] for m in map(MATRIX_ROW.match, lines) if m}
    if sorted(matrix) != sorted(LABELS):
        raise ValueError(f"{log}: the report of {model} has no complete confusion matrix")
    truth = [true for true in LABELS for predicted, count in zip(LABELS, matrix[true]) for _ in range(count)]
    predictions = [predicted for true in LABELS for predicted, count in zip(LABELS, matrix[true]) for _ in range(count)]
    test = next(m for m in map(TEST.match, lines) if m)
    evaluated = next(m for m in (EVALUATED.search(line) for line in lines) if m)
    command = next(line for line in lines if line.startswith("python evaluate.py"))
    report = classification_report(truth, predictions, labels=LABELS)
    return {
        "model": model, "kind": "sbert", "int8": False,
        "test": {"spec": test.group(1), "pairs": int(test.group(2).replace(",", "")),
                 "accuracy": report["accuracy"], "labels": LABELS, "report": report,
                 "confusion_matrix": [matrix[label] for label in LABELS]},
        "sts": [{"spec": spec, "pairs": int(pairs.replace(",", "")), "spearman": float(rho), "pearson": float(r),
                 "undefined": None} for spec, pairs, rho, r in (m.groups() for m in map(STS_ROW.match, lines) if m)],
        "command": command, "date": evaluated.group(1), "torch": evaluated.group(3), "device": evaluated.group(2),
        "seconds": float(evaluated.group(4)), "charts": [],
        "recovered_from": source_name(log),
        "rounded": ["sts.*.spearman", "sts.*.pearson"],
    }


def source_name(log):
    """The log's path from the repository's root (as given, for a log elsewhere)."""
    path = Path(log).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(log)


def destination(run, log):
    """Where a run's recovered log goes: `runs/recipe-seed0/sbert` of docs/runs/seed0/headline.log is
    docs/runs/seed0/sbert."""
    return Path(log).parent.joinpath(*Path(run).parts[2:])


def recover(log):
    lines = console_lines(log)
    written = []
    for checkpoint, evaluations in pretraining_evaluations(lines).items():
        source = source_name(log)
        rows = [dict(record, recovered_from=source, rounded=["heldout_mlm_accuracy", "sts_spearman", "probe_accuracy"])
                for record in evaluations]
        path = destination(checkpoint, log) / "evaluations.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
        written.append(path)
    for model, report_lines in printed_reports(lines).items():
        path = destination(model, log) / "report.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, report_from(model, report_lines, log))
        written.append(path)
    return written


if __name__ == "__main__":
    for log in sys.argv[1:]:
        for path in recover(log):
            print(f"wrote {path}")
