"""Checkpoints written before the code moved into its present layout still load and compute what they
computed then. tests/fixtures/checkpoints was written by tools/make_checkpoint_fixture.sh at commit 3f767f2:
a tiny pre-trained BERT (pretrain.py, with trainer.pt) and a Sentence-BERT fine-tuned from it, with the
outputs that commit's code gave for them."""
import json
import shutil
from pathlib import Path

import torch

import finetune
from agree.pretraining import load_pretrained_bert
from sbert import SentenceBERT

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "checkpoints"
EXPECTED = json.loads((FIXTURES / "expected_outputs.json").read_text())
TOLERANCE = dict(rtol=0, atol=1e-6)


def test_an_old_sentence_bert_gives_its_old_embeddings_and_verdict():
    model = SentenceBERT.load(FIXTURES / "sbert")
    torch.testing.assert_close(model.encode(EXPECTED["sentences"]), torch.tensor(EXPECTED["embeddings"]),
                               **TOLERANCE)
    expected = EXPECTED["prediction"]
    prediction = model.predict(expected["premise"], expected["hypothesis"])
    assert prediction.label == expected["label"]
    for label, probability in expected["probabilities"].items():
        assert abs(prediction.probabilities[label] - probability) < 1e-6
    assert abs(prediction.cosine_similarity - expected["cosine_similarity"]) < 1e-6


def test_an_old_pretrained_bert_gives_its_old_scores():
    model, config = load_pretrained_bert(FIXTURES / "bert")
    assert config["kind"] == "bert"
    inputs = EXPECTED["pretraining"]
    with torch.no_grad():
        mlm, nsp = model.eval()(torch.tensor(inputs["input_ids"]), torch.tensor(inputs["segment_ids"]),
                                torch.tensor(inputs["masked_positions"]))
    torch.testing.assert_close(mlm, torch.tensor(inputs["mlm_logits"]), **TOLERANCE)
    torch.testing.assert_close(nsp, torch.tensor(inputs["nsp_logits"]), **TOLERANCE)


def test_an_old_pretrained_bert_fine_tunes(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = [("A man is running.", "Someone is running.", "entailment"),
            ("A dog is sleeping.", "A dog is eating.", "contradiction"),
            ("A child is singing.", "A child is singing outside.", "neutral")] * 4
    (data / "pairs.jsonl").write_text("".join(json.dumps({"sentence1": p, "sentence2": h, "gold_label": label})
                                              + "\n" for p, h, label in rows))
    bert = tmp_path / "bert"
    shutil.copytree(FIXTURES / "bert", bert)
    finetune.main(["--bert", str(bert), "--train", str(data / "pairs.jsonl"), "--data-dir", str(data),
                   "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "sbert"), "--max-steps", "2",
                   "--batch-size", "4"])
    model = SentenceBERT.load(tmp_path / "sbert")
    assert model.vocab.tokens == SentenceBERT.load(FIXTURES / "sbert").vocab.tokens


def test_an_old_checkpoint_loads_with_a_one_line_note_that_it_records_no_digest(tmp_path, capsys):
    for kind, load in (("sbert", SentenceBERT.load), ("bert", load_pretrained_bert)):
        copy = shutil.copytree(FIXTURES / kind, tmp_path / kind)  # a path of its own: the note comes once per file
        load(copy)
        notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
        assert notes == [f"note: {copy / 'model.pt'} was saved without a digest (by an older version), so damage "
                         "to it cannot be detected; saving the checkpoint again adds one"]
