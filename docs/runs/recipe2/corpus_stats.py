"""Documents, sentences and tokens of each source of a tokenized corpus cache (the recipe's:
.cache/corpus-<key>/, the folder pretrain.py names when it starts).

    python docs/runs/recipe2/corpus_stats.py .cache/corpus-24fa006fca04c5d9
"""
import json
import sys
from pathlib import Path

import numpy as np


def main(directory):
    directory = Path(directory)
    sources = json.loads((directory / "meta.json").read_text())["sources"]
    document_sources = np.load(directory / "document_sources.npy")
    document_offsets = np.load(directory / "document_offsets.npy")
    sentence_offsets = np.load(directory / "sentence_offsets.npy")
    sentences = np.diff(document_offsets)
    tokens = np.diff(sentence_offsets[document_offsets])
    print("| source | documents | sentences | tokens |\n|---|---:|---:|---:|")
    for index, source in enumerate(sources):
        chosen = document_sources == index
        print(f"| `{Path(source).name}` | {chosen.sum():,} | {sentences[chosen].sum():,} | {tokens[chosen].sum():,} |")
    print(f"| all | {len(document_sources):,} | {sentences.sum():,} | {tokens.sum():,} |")


if __name__ == "__main__":
    main(sys.argv[1])
