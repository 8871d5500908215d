"""transfer.py: the zero-shot STS signal and the frozen-encoder NLI probe, and pretrain.py logging both."""
import json

import numpy as np
import torch
import torch.nn.functional as F
from stories import OBJECTS, SUBJECTS, VERBS, stories

import pretrain
from agree.charts import training_charts
from agree.transfer import TransferConfig, TransferSignals, probe_accuracy
from bert import BERT, BertConfig
from data import Vocab, encode_sentence
from metrics import spearman


def sentence(rng):
    return f"{SUBJECTS[rng.integers(6)].capitalize()} {VERBS[rng.integers(6)]} {OBJECTS[rng.integers(6)]}."


def write_fixtures(directory, pairs=60):
    """An STS file (.csv with a header) and an NLI file (.jsonl, three hypotheses per premise) in the words of
    test_pretrain's stories."""
    rng = np.random.default_rng(0)
    sts = ["sentence1,sentence2,score"] + [f"{sentence(rng)},{sentence(rng)},{rng.uniform(0, 5):.2f}"
                                           for _ in range(pairs)]
    (directory / "sts.csv").write_text("\n".join(sts) + "\n")
    labels = ["entailment", "neutral", "contradiction"]
    nli = [json.dumps({"sentence1": premise, "sentence2": sentence(rng), "gold_label": label})
           for premise in (sentence(rng) for _ in range(pairs // 3)) for label in labels]
    (directory / "nli.jsonl").write_text("\n".join(nli) + "\n")
    return directory / "sts.csv", directory / "nli.jsonl"


def test_probe_fits_a_linear_rule_and_finds_nothing_in_noise():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1200, 12, generator=generator)
    labels = (x[:, :3] * torch.tensor([3.0, 2.0, 1.0])).argmax(-1)  # a linear rule of the features
    fit = lambda y: probe_accuracy(x[:900], y[:900], x[900:], y[900:], TransferConfig())
    assert fit(labels) > 0.9
    assert fit(labels) == fit(labels)  # full batch from zero: the same fit every time
    shuffled = labels[torch.randperm(len(labels), generator=generator)]
    assert 0.2 < fit(shuffled) < 0.47  # no signal: about a third


def test_signals_equal_a_direct_computation(tmp_path):
    sts_file, nli_file = write_fixtures(tmp_path)
    vocab = Vocab.from_counts({w: 1 for w in " ".join(SUBJECTS + VERBS + OBJECTS).lower().split() + ["."]}, 100)
    torch.manual_seed(0)
    encoder = BERT(BertConfig.preset("tiny", vocab_size=len(vocab)))
    config = TransferConfig(sts=str(sts_file), nli=str(nli_file), batch_size=7)
    signals = TransferSignals(vocab, 32, tmp_path, tmp_path / "cache", config)
    result = signals(encoder, torch.device("cpu"))
    assert encoder.training  # measured in eval mode (no dropout), then handed back as it was
    encoder.eval()

    def embedding(text):  # one sentence alone: no padding, no batching
        return encoder(torch.tensor([encode_sentence(vocab, text, 32)]))[0].mean(0)

    rows = [line.split(",") for line in sts_file.read_text().splitlines()[1:]]
    with torch.no_grad():
        cosines = [F.cosine_similarity(embedding(a), embedding(b), dim=0).item() for a, b, _ in rows]
    assert abs(result["sts_spearman"] - 100 * spearman(cosines, [float(s) for _, _, s in rows])) < 1e-3
    assert 0 <= result["probe_accuracy"] <= 1 and result == signals(encoder, torch.device("cpu"))
    # The probe is scored on premises it was not fitted on.
    premises = lambda pairs: {pairs.first.take([i]).flat.tobytes() for i in range(len(pairs))}
    assert not premises(signals.probe_train) & premises(signals.probe_test)
    assert len(signals.probe_test) == 3 * round(0.2 * 20)


def test_pretraining_logs_both_signals_from_the_random_start_on(tmp_path, capsys):
    sts_file, nli_file = write_fixtures(tmp_path)
    corpus = tmp_path / "stories.txt"
    corpus.write_text(stories())
    out = tmp_path / "bert"
    pretrain.main(["--corpus", str(corpus), "--data-dir", str(tmp_path / "data"), "--cache-dir",
                   str(tmp_path / "cache"), "--out", str(out), "--preset", "tiny", "--max-len", "32",
                   "--batch-size", "8", "--max-steps", "20", "--eval-every", "10", "--eval-batches", "1",
                   "--transfer-sts", str(sts_file), "--transfer-nli", str(nli_file)])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evaluations = [r for r in records if "sts_spearman" in r]
    assert [r["step"] for r in evaluations] == [0, 10, 20]
    assert all(-100 <= r["sts_spearman"] <= 100 and 0 <= r["probe_accuracy"] <= 1 for r in evaluations)
    printed = capsys.readouterr()
    shown = [line for line in (printed.out + printed.err).splitlines() if line.startswith("step 0:")]
    assert len(shown) == 1 and "STS Spearman" in shown[0] and "NLI probe" in shown[0]


def test_both_signals_are_charted():
    records = [{"step": 0, "heldout_mlm_accuracy": 0.0, "sts_spearman": 44.0, "probe_accuracy": 0.55},
               {"step": 10, "loss": 7.0, "mlm_accuracy": 0.1},
               {"step": 20, "heldout_mlm_accuracy": 0.2, "sts_spearman": 40.0, "probe_accuracy": 0.57}]
    charts = training_charts(records)
    assert set(charts) == {"loss.svg", "accuracy.svg", "spearman.svg"}
    assert "sts_spearman" in charts["spearman.svg"] and "probe_accuracy" in charts["accuracy.svg"]
    assert "probe_accuracy" not in charts["spearman.svg"]
