"""Split snli:dev by premise into a training part and a 10% validation part, written as SNLI-style .jsonl
files, so that fine-tunings on different mixes of NLI data (RESULTS.md §6) are all chosen on the same SNLI
validation pairs, the distribution of the test set.

    python docs/runs/recipe/mix/split_snli_dev.py --data-dir ../shared/data --out runs/recipe/mix

writes OUT/snli_dev_train.jsonl and OUT/snli_dev_val.jsonl (the data itself is never committed).
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))  # the project's modules
from atomic import atomic_write_text  # noqa: E402
from nli import load_pairs, split_pairs  # noqa: E402
from sbert import LABELS  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--fraction", type=float, default=0.1, help="share of premises held out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train, val = split_pairs(load_pairs("snli:dev", args.data_dir), args.fraction, args.seed)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for name, pairs in (("snli_dev_train", train), ("snli_dev_val", val)):
        rows = (json.dumps({"sentence1": first, "sentence2": second, "gold_label": LABELS[label]})
                for first, second, label in zip(pairs.first, pairs.second, pairs.labels))
        atomic_write_text(Path(args.out) / f"{name}.jsonl", "".join(row + "\n" for row in rows))
        print(f"{name}.jsonl: {len(pairs):,} pairs")


if __name__ == "__main__":
    main()
