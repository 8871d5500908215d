"""The masked-LM accuracy of the best constant answer (always the same word: the most frequent of the masked
words themselves) on the very held-out batches a pre-training run evaluates on: the floor a pre-trained
model has to leave.

    python docs/runs/recipe2/frequent_word_baseline.py --model runs/recipe/bert --data-dir ../shared/data
"""
import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from atomic import read_json  # noqa: E402
from bert import IGNORE_INDEX  # noqa: E402
from evaluate import heldout_data  # noqa: E402
from pretrain import heldout_batch  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a pretrain.py checkpoint")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--cache-dir", default=".cache")
    args = parser.parse_args(argv)
    config, run = read_json(Path(args.model) / "config.json"), read_json(Path(args.model) / "args.json")
    data = heldout_data(args.model, config, args.data_dir, args.cache_dir)
    labels = Counter()
    for index in range(run["eval_batches"]):
        masked = heldout_batch(data, run["seed"], index, run["batch_size"])["masked_labels"]
        labels.update(masked[masked != IGNORE_INDEX].tolist())
    most_frequent, count = labels.most_common(1)[0]
    share = count / sum(labels.values())
    print(f"always {data.corpus.vocab.tokens[most_frequent]!r}: {share:.2%} of {sum(labels.values()):,} held-out "
          f"masked words ({run['eval_batches']} batches of {run['batch_size']}, seed {run['seed']})")


if __name__ == "__main__":
    main()
