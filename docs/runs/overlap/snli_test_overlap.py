"""How many of snli:test's distinct sentences also occur in the NLI pairs the recipe trains on (RESULTS.md §2).

Pre-training never reads them (`--exclude-sentences-of snli:test,stsb:dev` drops every sentence that equals one of
theirs, lower-cased and stripped); the fine-tuning reads its pairs whole, so these sentences are in its data.
Counted twice: as exact strings, and lower-cased and stripped as the pre-training's exclusion compares them.

    python docs/runs/overlap/snli_test_overlap.py --data-dir ../shared/data > docs/runs/overlap/snli_test_overlap.txt
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from agree.datasets import load_pairs  # noqa: E402

SOURCES = [("the fine-tuning's training pairs", "snli:dev,mnli:dev_matched"),
           ("the pre-training's NLI sources (before the exclusion)", "snli:dev,mnli:dev_matched,sick:train")]


def sentences(specs, data_dir):
    pairs = load_pairs(specs, data_dir, "nli", log=lambda message: None)
    return set(pairs.first + pairs.second)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    args = parser.parse_args()
    test = sentences("snli:test", args.data_dir)
    lowered = {sentence.strip().lower() for sentence in test}
    print(f"snli:test: {len(test):,} distinct sentences ({len(lowered):,} lower-cased and stripped)")
    for name, specs in SOURCES:
        other = sentences(specs, args.data_dir)
        exact = test & other
        folded = lowered & {sentence.strip().lower() for sentence in other}
        print(f"also in {name}, {specs}: {len(exact):,} exact, {len(folded):,} lower-cased and stripped")
        print(f"  e.g. {', '.join(repr(s) for s in sorted(exact, key=lambda s: (len(s), s))[:5])}")


if __name__ == "__main__":
    main()
