"""Sentence-pair files as the data-set readers meet them (agree/datasets.py, agree/encoded_pairs.py): JSON
lines, SICK's layout, pairs of many lengths, and a small vocabulary to encode them with."""
import json

from agree import datasets as nli
from agree import encoded_pairs
from data import Vocab

WORDS = "a man is playing guitar woman sleeps dog runs two people the park".split()


VOCAB = Vocab.from_counts({word: 1 for word in WORDS}, 100)


def write_jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def load(specs, data_dir, task="nli"):
    """load_pairs, returning the summary lines as well."""
    lines = []
    return nli.load_pairs(specs, data_dir, task, log=lines.append), lines


SICK_HEADER = ("pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tentailment_AB\t"
               "entailment_BA\tsentence_A_original\tsentence_B_original\tsentence_A_dataset\t"
               "sentence_B_dataset\tSemEval_set")


def write_sick(data_dir):
    rows = [(1, "A man is playing.", "A man plays.", "ENTAILMENT", "4.5", "TRAIN"),
            (2, "A dog runs.", "A dog sleeps.", "CONTRADICTION", "2.1", "TRIAL"),
            (3, "Two people walk.", "A woman sleeps.", "NEUTRAL", "1.2", "TRAIN"),
            (4, "A woman sleeps.", "Someone sleeps.", "ENTAILMENT", "3.9", "TEST")]
    lines = [SICK_HEADER] + [f"{i}\t{a}\t{b}\t{label}\t{score}\tA_x_B\tB_x_A\t{a}\t{b}\tFLICKR\tFLICKR\t{split}"
                             for i, a, b, label, score, split in rows]
    path = data_dir / "SICK" / "SICK.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def write_local_nli(path, count=40):
    """`count` pairs with sentences of many different lengths and all three labels."""
    return write_jsonl(path, [{"premise": " ".join(["a man"] * (1 + i % 7)) + " is playing .",
                               "hypothesis": " ".join(["the dog"] * (1 + (i * 5) % 11)) + " runs .",
                               "label": i % 3} for i in range(count)])


def encode(spec, data_dir, cache_dir, max_len=16, vocab=VOCAB):
    return encoded_pairs.load_encoded_pairs(spec, vocab, max_len, data_dir, cache_dir=cache_dir, log=lambda line: None)
