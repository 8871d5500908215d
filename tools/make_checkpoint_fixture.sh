#!/usr/bin/env bash
# Writes tests/fixtures/checkpoints: a pre-trained and a fine-tuned checkpoint made by the code of commit
# 3f767f2 (before the layout moved), and the outputs that code gave for them.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd); out=$repo/tests/fixtures/checkpoints; work=$(mktemp -d)
export NLTK_DATA=$repo/tests/fixtures/nltk_data
cd $repo
python=$repo/.venv/bin/python
mkdir -p $work/data
$python - "$work" <<'PY'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
subjects = ["man", "woman", "dog", "child"]; actions = ["running", "sleeping", "singing", "eating"]
text = []
for s in subjects:
    for a in actions:
        text.append(f"A {s} is {a} in the park. The {s} likes it. Later the {s} stops {a}.")
    text.append("")
(work / "corpus.txt").write_text("\n".join(text) + "\n")
rows = []
for i, s in enumerate(subjects):
    for j, a in enumerate(actions):
        other = actions[(j + 1) % 4]
        rows += [(f"A {s} is {a}.", f"Someone is {a}.", "entailment"),
                 (f"A {s} is {a}.", f"A {s} is {other}.", "contradiction"),
                 (f"A {s} is {a}.", f"A {s} is {a} outside.", "neutral")]
(work / "data" / "pairs.jsonl").write_text("".join(json.dumps({"sentence1": p, "sentence2": h, "gold_label": l}) + "\n" for p, h, l in rows))
PY
$python pretrain.py --corpus $work/corpus.txt --data-dir $work/data --cache-dir $work/cache --out $work/bert \
    --preset tiny --max-steps 3 --batch-size 4 --vocab-size 40 --no-transfer --pre-layer-norm --log-every 1 --seed 0
$python finetune.py --bert $work/bert --train $work/data/pairs.jsonl --val-fraction 0.2 --data-dir $work/data \
    --cache-dir $work/cache --out $work/sbert --max-steps 3 --batch-size 8 --log-every 1 --seed 0
rm -rf $out; mkdir -p $out
cp -r $work/bert $out/bert; cp -r $work/sbert $out/sbert; rm -rf $out/sbert/last
$python - "$out" <<'PY'
import json, sys
from pathlib import Path
import torch
from sbert import SentenceBERT
from pretrain import load_model
out = Path(sys.argv[1])
sentences = ["A man is running in the park.", "A dog is sleeping.", "Someone is eating outside."]
model = SentenceBERT.load(out / "sbert")
embeddings = model.encode(sentences)
p = model.predict(sentences[0], sentences[2])
bert, _ = load_model(out / "bert")
bert.eval()
ids = torch.tensor([[1, 7, 8, 9, 2, 10, 11, 2]]); segments = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1]])
with torch.no_grad():
    mlm, nsp = bert(ids, segments, torch.tensor([[1, 3]]))
expected = {"written_by": "commit 3f767f2, before the layout moved (tests/test_checkpoint_compat.py)",
            "sentences": sentences, "embeddings": embeddings.tolist(),
            "prediction": {"premise": sentences[0], "hypothesis": sentences[2], **p.to_dict()},
            "pretraining": {"input_ids": ids.tolist(), "segment_ids": segments.tolist(), "masked_positions": [[1, 3]],
                            "mlm_logits": mlm.tolist(), "nsp_logits": nsp.tolist()}}
(out / "expected_outputs.json").write_text(json.dumps(expected, indent=1) + "\n")
PY
rm -rf $work
du -sh $out; ls -la $out/*
