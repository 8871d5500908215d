"""RESULTS.md's table of fine-tunings, read from the committed logs: for each start and fine-tuning, the two
validation figures that choose between them (the best validation accuracy in metrics.jsonl; the Spearman
correlation on stsb:train, an STS split never reported, in stsb-train/report.json) and their mean, then the
test figures (report.json), which chose nothing.

    python docs/runs/recipe2/finetune_lever_table.py docs/runs/recipe2
"""
import json
import sys
from pathlib import Path

from transfer_table import records, seeds

# the contrastive term's weights: the folder of those run with both seeds (transfer_table.py), or None for those
# run with seed 0 only, in levers-ft/contrastive<weight>-<start>-seed0
WEIGHTS = [("0.1", "transfer-contrastive0.1"), ("0.3", "transfer"), ("0.5", None), ("1", "transfer-contrastive1")]
# the other fine-tunings of the 60-minute start, seed 0: (folder under the root, what changed)
OTHERS_60MIN = [("lr/pretrained-1e-4", "SoftmaxLoss alone, lr 1e-4"),
                ("levers-ft/enclr0.3-60min-seed0", "`--encoder-lr-scale 0.3`")]


def row(run, start, fine_tuning):
    seed = json.loads((run / "args.json").read_text())["seed"]
    val = 100 * max(r["val_accuracy"] for r in records(run / "metrics.jsonl") if "val_accuracy" in r)
    sts_train = json.loads((run / "stsb-train" / "report.json").read_text())["sts"][0]["spearman"]
    report = json.loads((run / "report.json").read_text())
    headline = " (the headline)" if run.name == "sbert" else ""
    return (f"| {start} | {fine_tuning}{headline} | {seed} | {val:.2f}% | {sts_train:.2f} | "
            f"{(val + sts_train) / 2:.2f} | {100 * report['test']['accuracy']:.2f}% | "
            f"{report['sts'][0]['spearman']:.2f} |")


def runs_of(root, tag):
    """(run folder, fine-tuning) of one start, in the table's order: SoftmaxLoss alone, then the other
    fine-tunings of the 60-minute start (each changes one of its settings), then the contrastive term by weight."""
    runs = [(run, "SoftmaxLoss alone") for run in seeds(root, "transfer-softmax", tag)]
    if tag == "60min":
        runs += [(root / other, change) for other, change in OTHERS_60MIN]
    for weight, folder in WEIGHTS:
        seed0 = root / "levers-ft" / f"contrastive{weight}-{tag}-seed0"
        found = seeds(root, folder, tag) if folder else [seed0] if (seed0 / "report.json").exists() else []
        runs += [(run, f"`--contrastive-weight {weight}`") for run in found]
    return runs


def main(root):
    root = Path(root)
    print("| start | fine-tuning | seed | best validation accuracy | `stsb:train` Spearman | mean of the two "
          "(chooses) | `snli:test` accuracy | `stsb:dev` Spearman |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for start, tag in (("60 min", "60min"), ("random", "random")):
        for run, fine_tuning in runs_of(root, tag):
            print(row(run, start, fine_tuning))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/runs/recipe2")
