"""Fine-tuning fixtures: 64 NLI pairs that a tiny model can learn (entailment keeps the action, contradiction
changes it, neutral adds a place), written as JSON lines, and finetune.py run on them with the tiny preset."""
import json

import finetune

SUBJECTS = ["man", "woman", "boy", "girl"]


ACTIONS = ["playing a guitar", "sleeping on a bed", "eating an apple", "riding a bike"]


PLACES = ["outside", "at home", "in a park", "on a stage"]


def fixed_pairs():
    """64 NLI pairs: entailment keeps the action, contradiction changes it, neutral adds a place."""
    rows = []
    for i, subject in enumerate(SUBJECTS):
        for j, action in enumerate(ACTIONS):
            premise = f"A {subject} is {action}."
            other = ACTIONS[(j + 1 + i) % len(ACTIONS)]
            rows += [(premise, f"Someone is {action}.", "entailment"),
                     (premise, f"A {subject} is {other}.", "contradiction"),
                     (premise, f"A {subject} is {action} {PLACES[(i + j) % 4]}.", "neutral"),
                     (premise, f"A {subject} is not {action}.", "contradiction")]
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps({"sentence1": p, "sentence2": h, "gold_label": label}) + "\n"
                            for p, h, label in rows))
    return path


def run_finetune(tmp_path, *extra):
    finetune.main(["--bert", "none", "--preset", "tiny", "--data-dir", str(tmp_path / "data"),
                   "--cache-dir", str(tmp_path / "cache"), "--log-every", "10", "--seed", "3", *extra])
