"""How much of a fine-tuning batch is real text, and how much padding (docs/performance.md).

    python benchmarks/padding.py --data-dir ../shared/data [--pairs 2048] [--batch-size 16]

Each side of a pair is padded to the longest sentence of its batch, so a batch of B pairs costs
B × (longest premise + longest hypothesis) token positions. Printed, for the SNLI dev pairs throughput.py
fine-tunes on: the share of those positions that hold real tokens, for shuffled batches (what
sentence-transformers' trainer draws), for finetune.py's length-grouped batches, and for a tighter grouping
that was considered and not adopted (within each chunk, groups of k batches sorted again by hypothesis length).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's modules
from agree.encoded_pairs import BATCHES_PER_CHUNK, encode_pairs, epoch_batch_indices  # noqa: E402
from throughput import VOCAB_SIZE, padded_vocabulary, random_batches, snli_pairs  # noqa: E402


def real_share(batches, first_lengths, second_lengths):
    real = sum(first_lengths[b].sum() + second_lengths[b].sum() for b in batches)
    positions = sum(len(b) * (first_lengths[b].max() + second_lengths[b].max()) for b in batches)
    return real / positions


def regrouped_batches(first_lengths, second_lengths, batch_size, k, seed=0):
    """finetune.py's chunks sorted by premise length, then each run of k batches sorted by hypothesis length."""
    order = np.random.default_rng(seed).permutation(len(first_lengths))
    batches = []
    for start in range(0, len(order), batch_size * BATCHES_PER_CHUNK):
        chunk = order[start:start + batch_size * BATCHES_PER_CHUNK]
        chunk = chunk[np.lexsort((second_lengths[chunk], first_lengths[chunk]))]
        for group_start in range(0, len(chunk), batch_size * k):
            group = chunk[group_start:group_start + batch_size * k]
            group = group[np.lexsort((first_lengths[group], second_lengths[group]))]
            batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
    return batches


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="data", help="holds snli_1.0/ (default: %(default)s)")
    parser.add_argument("--pairs", type=int, default=2048, help="SNLI dev pairs, as throughput.py "
                        "(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="(default: %(default)s)")
    args = parser.parse_args()
    pairs = snli_pairs(args)
    encoded = encode_pairs(pairs, padded_vocabulary(pairs, VOCAB_SIZE), max_len=128)
    first, second = encoded.first.lengths(), encoded.second.lengths()
    shuffled = random_batches(len(pairs), args.batch_size, np.random.default_rng(0))  # throughput.py's
    print(f"{len(pairs):,} SNLI dev pairs, batch {args.batch_size}; mean tokens: premise {first.mean():.1f}, "
          f"hypothesis {second.mean():.1f}")
    print(f"  {real_share(shuffled, first, second):6.1%}  real tokens, "
          "shuffled batches")
    grouped = epoch_batch_indices(encoded, args.batch_size, seed=0, epoch=0)
    print(f"  {real_share(grouped, first, second):6.1%}  real tokens, finetune.py's length-grouped batches")
    for k in (2, 3, 4, 8):
        share = real_share(regrouped_batches(first, second, args.batch_size, k), first, second)
        print(f"  {share:6.1%}  real tokens, groups of {k} batches sorted again by hypothesis length")


if __name__ == "__main__":
    main()
