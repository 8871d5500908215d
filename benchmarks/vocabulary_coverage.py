"""How much of each data set a vocabulary covers: the share of word tokens that become [UNK].

    python benchmarks/vocabulary_coverage.py --vocab runs/recipe/bert/vocab.txt runs/old/bert/vocab.txt \\
        --data-dir ../shared/data --specs snli:dev,snli:test,mnli:dev_matched,sick:train,stsb:dev

Every sentence of each spec is tokenized as the models tokenize it (data.encode_sentence, without [CLS] and
[SEP]); a distinct sentence counts once per pair it appears in, as the model meets it.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data import UNK_ID, Vocab, encode_sentence, use_nltk_data  # noqa: E402
from agree.datasets import load_pairs  # noqa: E402


def unk_share(vocab, sentences, max_len=512):
    ids = {s: encode_sentence(vocab, s, max_len)[1:-1] for s in set(sentences)}
    tokens = sum(len(ids[s]) for s in sentences)
    return sum(ids[s].count(UNK_ID) for s in sentences) / tokens, tokens


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab", nargs="+", required=True, help="vocab.txt files (a checkpoint's)")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--specs", default="snli:dev,snli:test,mnli:dev_matched,sick:train,stsb:dev")
    args = parser.parse_args(argv)
    use_nltk_data(args.data_dir)
    vocabs = {path: Vocab.load(path) for path in args.vocab}
    print("| data set | tokens | " + " | ".join(f"[UNK] with {path}" for path in vocabs) + " |")
    print("|---|---:|" + "---:|" * len(vocabs))
    for spec in args.specs.split(","):
        pairs = load_pairs(spec, args.data_dir, "sts" if spec.startswith("stsb:") else "nli", log=lambda m: None)
        shares = [unk_share(vocab, pairs.first + pairs.second) for vocab in vocabs.values()]
        print(f"| {spec} | {shares[0][1]:,} | " + " | ".join(f"{share:.2%}" for share, _ in shares) + " |")


if __name__ == "__main__":
    main()
