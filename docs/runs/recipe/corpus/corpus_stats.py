"""The pre-training corpus in numbers (RESULTS.md §1, §2 and §9): documents, sentences, tokens, and the two
shares that put the masked-LM accuracy in scale, read from the tokenized cache that pretrain.py builds.

    python docs/runs/recipe/corpus/corpus_stats.py --corpus ../shared/data/wikipedia/enwiki_0{0,1,2,3}.txt.gz \
        --data-dir ../shared/data

tokenizes the corpus first if no cache of it exists (a few minutes on 2 cores), as pretrain.py would.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))  # the project's modules
from corpus import CorpusConfig, load_corpus  # noqa: E402
from data import SPECIAL_TOKENS, UNK_ID  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", nargs="+", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--cache-dir", default=".cache")
    args = parser.parse_args()
    # pretrain.py --max-samples 0 --vocab-size 30000, as the recipe runs it
    corpus = load_corpus(args.corpus, args.data_dir, args.cache_dir, CorpusConfig(max_samples=0))
    counts = np.bincount(corpus.token_ids, minlength=len(corpus.vocab))
    tokens = int(counts.sum())
    # Masking never chooses [UNK] (corpus.PretrainingData._mask), so always answering the most frequent
    # word scores that word's share of the other tokens.
    words = tokens - int(counts[:len(SPECIAL_TOKENS)].sum())
    most_frequent = len(SPECIAL_TOKENS) + int(np.argmax(counts[len(SPECIAL_TOKENS):]))
    print(f"corpus: {' '.join(args.corpus)}")
    print(f"documents: {corpus.num_documents:,}")
    print(f"sentences: {len(corpus.sentence_offsets) - 1:,}")
    print(f"tokens: {tokens:,}")
    print(f"vocabulary: {len(corpus.vocab):,} entries")
    print(f"[UNK]: {counts[UNK_ID]:,} tokens, {100 * counts[UNK_ID] / tokens:.2f}% of all tokens")
    print(f"most frequent word: {corpus.vocab.tokens[most_frequent]!r}, {counts[most_frequent]:,} tokens, "
          f"{100 * counts[most_frequent] / words:.2f}% of the tokens masking may choose (all but [UNK])")


if __name__ == "__main__":
    main()
