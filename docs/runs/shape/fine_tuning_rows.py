"""RESULTS.md's rows for fine-tuned runs, read from their committed logs, in the columns of §5: the start
(pre-trained checkpoint or random weights, and the model's width), the fine-tuning's contrastive weight and
options (frozen word embeddings, a slower encoder, the classifier first; its steps, when not the recipe's
1,500), the seed, the two validation figures that choose (best validation accuracy in metrics.jsonl; the
Spearman correlation on stsb:train, in stsb-train/report.json) and their mean, then the test figures
(report.json), which chose nothing. Then, for each start and fine-tuning run with more than one seed, the
means over its seeds of the two test figures (the transfer table's entries).

    python docs/runs/shape/fine_tuning_rows.py docs/runs/shape/d128/ft-* docs/runs/shape/frozen-emb/ft-*
"""
import json
import sys
from pathlib import Path
from statistics import mean


def read(path):
    return json.loads(Path(path).read_text())


def best_validation_accuracy(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return 100 * max(r["val_accuracy"] for r in rows if "val_accuracy" in r)


def figures(run):
    """(start, fine-tuning, seed, validation accuracy, stsb:train Spearman, snli:test accuracy, stsb:dev
    Spearman) of one fine-tuned run."""
    args, config = read(run / "args.json"), read(run / "config.json")
    checkpoint = Path(args["bert"]).name  # bert: the end of pre-training; bert-30min: a copy kept on the way
    start = "random weights" if args.get("random_init") else "60 min" if checkpoint == "bert" else checkpoint
    fine_tuning = f"`--contrastive-weight {args['contrastive_weight']}`"
    if args.get("freeze_word_embeddings"):
        fine_tuning += " `--freeze-word-embeddings`"
    if args.get("encoder_lr_scale", 1.0) != 1.0:  # the encoder slower than the head
        fine_tuning += f" `--encoder-lr-scale {args['encoder_lr_scale']}`"
    if args.get("head_first_steps"):  # the classifier alone first
        fine_tuning += f" `--head-first-steps {args['head_first_steps']}`"
    if args["max_steps"] != 1500:  # the recipe's length; others say theirs
        fine_tuning += f", {args['max_steps']:,} steps"
    report = read(run / "report.json")
    shape = f"d = {config['bert']['d_model']}"
    if config["bert"]["n_layers"] != 4:  # the small preset's depth; others say theirs
        shape += f", {config['bert']['n_layers']} layers"
    return (f"{start}, {shape}", fine_tuning, args["seed"], best_validation_accuracy(run),
            read(run / "stsb-train" / "report.json")["sts"][0]["spearman"], 100 * report["test"]["accuracy"],
            report["sts"][0]["spearman"])


def main(folders):
    print("| run | start | fine-tuning | seed | best validation accuracy | `stsb:train` Spearman | mean of the two "
          "(chooses) | `snli:test` accuracy | `stsb:dev` Spearman |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    groups = {}
    for folder in map(Path, folders):
        start, fine_tuning, seed, validation, sts_train, test, sts_dev = figures(folder)
        groups.setdefault((start, fine_tuning), []).append((seed, test, sts_dev))
        print(f"| {folder.name} | {start} | {fine_tuning} | {seed} | {validation:.2f}% | {sts_train:.2f} | "
              f"{(validation + sts_train) / 2:.2f} | {test:.2f}% | {sts_dev:.2f} |")
    print("\n| start | fine-tuning | seeds | `snli:test` accuracy, mean | `stsb:dev` Spearman, mean |")
    print("|---|---|---|---:|---:|")
    for (start, fine_tuning), runs in groups.items():
        if len(runs) > 1:
            print(f"| {start} | {fine_tuning} | {', '.join(str(seed) for seed, _, _ in runs)} | "
                  f"{mean(test for _, test, _ in runs):.2f}% | {mean(sts for _, _, sts in runs):.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
