"""RESULTS.md's table of fine-tunings, read from the committed logs: for each start and fine-tuning, the two
validation figures that choose between them (the best validation accuracy in metrics.jsonl; the Spearman
correlation on stsb:train, an STS split never reported, in stsb-train/report.json) and their mean, then the
test figures (report.json), which chose nothing.

    python docs/runs/recipe2/finetune_lever_table.py docs/runs/recipe2
"""
import json
import sys
from pathlib import Path

# (folder under the root, start, fine-tuning beside SoftmaxLoss at lr 3e-4 for 1,500 steps, seed)
RUNS = [("transfer-softmax/sbert-60min-seed0", "60 min", "SoftmaxLoss alone", 0),
        ("transfer-softmax/sbert-60min-seed1", "60 min", "SoftmaxLoss alone", 1),
        ("lr/pretrained-1e-4", "60 min", "SoftmaxLoss alone, lr 1e-4", 0),
        ("levers-ft/enclr0.3-60min-seed0", "60 min", "`--encoder-lr-scale 0.3`", 0),
        ("transfer-contrastive1/sbert-60min-seed0", "60 min", "`--contrastive-weight 1`", 0),
        ("transfer-contrastive1/sbert-60min-seed1", "60 min", "`--contrastive-weight 1`", 1),
        ("sbert", "60 min", "`--contrastive-weight 0.3` (the headline)", 0),
        ("transfer/sbert-60min-seed1", "60 min", "`--contrastive-weight 0.3`", 1),
        ("transfer-softmax/sbert-random-seed0", "random", "SoftmaxLoss alone", 0),
        ("transfer-softmax/sbert-random-seed1", "random", "SoftmaxLoss alone", 1),
        ("transfer-contrastive1/sbert-random-seed0", "random", "`--contrastive-weight 1`", 0),
        ("transfer-contrastive1/sbert-random-seed1", "random", "`--contrastive-weight 1`", 1),
        ("transfer/sbert-random-seed0", "random", "`--contrastive-weight 0.3`", 0),
        ("transfer/sbert-random-seed1", "random", "`--contrastive-weight 0.3`", 1)]


def records(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def row(run, start, fine_tuning, seed):
    val = 100 * max(r["val_accuracy"] for r in records(run / "metrics.jsonl") if "val_accuracy" in r)
    sts_train = json.loads((run / "stsb-train" / "report.json").read_text())["sts"][0]["spearman"]
    report = json.loads((run / "report.json").read_text())
    return (f"| {start} | {fine_tuning} | {seed} | {val:.2f}% | {sts_train:.2f} | {(val + sts_train) / 2:.2f} | "
            f"{100 * report['test']['accuracy']:.2f}% | {report['sts'][0]['spearman']:.2f} |")


def main(root):
    root = Path(root)
    print("| start | fine-tuning | seed | best validation accuracy | `stsb:train` Spearman | mean of the two "
          "(chooses) | `snli:test` accuracy | `stsb:dev` Spearman |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for folder, start, fine_tuning, seed in RUNS:
        if (root / folder / "report.json").exists():
            print(row(root / folder, start, fine_tuning, seed))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/runs/recipe2")
