"""RESULTS.md's transfer tables, read from the committed logs: for each start of fine-tuning, the pre-training
figures of its checkpoint (last held-out evaluation in metrics.jsonl) and, for each fine-tuning seed, the best
validation accuracy (metrics.jsonl) and the test figures (report.json). The runs of one fine-tuning objective
live in one folder: transfer/ (the recipe's, contrastive weight 0.3, whose 60-minute seed-0 run is the headline,
sbert/), transfer-contrastive1/ (weight 1) or transfer-softmax/ (SoftmaxLoss alone). A pre-training lever's
folder holds its own bert/ and its fine-tunings sbert-60min-seed*/ (its row only):

    python docs/runs/recipe2/transfer_table.py docs/runs/recipe2 [transfer | transfer-contrastive1 | transfer-softmax]
    python docs/runs/recipe2/transfer_table.py docs/runs/recipe2/levers-pt/nli0.9 .
"""
import json
import sys
from pathlib import Path
from statistics import mean

STARTS = [("random weights", None, "random"), ("15 min pre-trained", "bert-15min", "15min"),
          ("30 min pre-trained", "bert-30min", "30min"), ("60 min pre-trained", "bert", "60min")]


def records(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def last_evaluation(bert_dir):
    return [r for r in records(bert_dir / "metrics.jsonl") if "heldout_mlm_accuracy" in r][-1]


def first_evaluation(bert_dir):  # step 0: the random start
    return [r for r in records(bert_dir / "metrics.jsonl") if "heldout_mlm_accuracy" in r][0]


def seeds(root, folder, tag):
    """The fine-tuned runs of one start, seed 0 first; the headline (sbert/) is the recipe's 60-minute seed 0."""
    headline = [root / "sbert"] if folder == "transfer" and tag == "60min" else []
    return headline + sorted(run for run in root.glob(f"{folder}/sbert-{tag}-seed*") if (run / "report.json").exists())


def row(root, folder, label, bert, tag):
    runs = seeds(root, folder, tag)
    if not runs:
        return None
    evaluation = first_evaluation(root / "bert") if bert is None else last_evaluation(root / bert)
    val = [max(r["val_accuracy"] for r in records(run / "metrics.jsonl") if "val_accuracy" in r) for run in runs]
    reports = [json.loads((run / "report.json").read_text()) for run in runs]
    test = [100 * report["test"]["accuracy"] for report in reports]
    sts = [report["sts"][0]["spearman"] for report in reports]
    each = lambda values, unit="": " / ".join(f"{v:.2f}{unit}" for v in values)
    return (f"| {label} | {evaluation['step']:,} | {100 * evaluation['heldout_mlm_accuracy']:.2f}% | "
            f"{evaluation['sts_spearman']:.2f} | {100 * evaluation['probe_accuracy']:.2f}% | "
            f"{each([100 * v for v in val], '%')} | **{mean(test):.2f}%** ({each(test)}) | "
            f"**{mean(sts):.2f}** ({each(sts)}) |")


def main(root, folder):
    root = Path(root)
    print("| start of fine-tuning | pre-training steps | held-out masked-LM accuracy | zero-shot STS signal "
          "(stsb:train) | NLI probe (frozen) | best validation accuracy (seed 0 / 1) | `snli:test` accuracy, "
          "mean (seed 0 / 1) | `stsb:dev` Spearman, mean (seed 0 / 1) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, bert, tag in STARTS:
        line = row(root, folder, label, bert, tag)
        if line:
            print(line)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/runs/recipe2", sys.argv[2] if len(sys.argv) > 2 else "transfer")
