"""docs/runs/recover_reports.py reads a lost run's figures back from its console log: tested on a run whose
report.json and metrics.jsonl were kept, so the recovered figures can be compared with the written ones."""
import json
import shutil

import pytest
from conftest import DOCS_RUNS, load_script

KEPT = DOCS_RUNS / "seed1"   # pre-training seed 1: its console log and its logs, both committed


def load_recovery():
    return load_script(DOCS_RUNS / "recover_reports.py")


@pytest.fixture
def recovered(tmp_path):
    log = tmp_path / "seed1" / "headline.log"
    log.parent.mkdir()
    shutil.copy(KEPT / "headline.log", log)
    written = load_recovery().recover(log)
    return tmp_path / "seed1", written


def test_the_recovered_test_figures_are_the_written_ones(recovered):
    folder, written = recovered
    assert sorted(path.relative_to(folder).as_posix() for path in written) == [
        "bert/evaluations.jsonl", "sbert/report.json"]
    kept = json.loads((KEPT / "sbert" / "report.json").read_text())
    report = json.loads((folder / "sbert" / "report.json").read_text())
    assert report["test"] == kept["test"]
    assert report["date"] == kept["date"] and report["command"] == kept["command"]
    assert report["recovered_from"].endswith("headline.log") and report["rounded"]


def test_the_recovered_correlations_are_the_written_ones_rounded(recovered):
    folder, _ = recovered
    kept = json.loads((KEPT / "sbert" / "report.json").read_text())["sts"]
    sts = json.loads((folder / "sbert" / "report.json").read_text())["sts"]
    assert [row["spec"] for row in sts] == [row["spec"] for row in kept]
    for got, want in zip(sts, kept):
        assert got["spearman"] == round(want["spearman"], 2) and got["pearson"] == round(want["pearson"], 2)


def test_the_recovered_pretraining_evaluations_are_the_written_ones_rounded(recovered):
    folder, _ = recovered
    kept = [json.loads(line) for line in (KEPT / "bert" / "metrics.jsonl").read_text().splitlines()
            if "heldout_mlm_accuracy" in line]
    got = [json.loads(line) for line in (folder / "bert" / "evaluations.jsonl").read_text().splitlines()]
    assert [r["step"] for r in got] == [r["step"] for r in kept]
    for mine, theirs in zip(got, kept):
        assert mine["heldout_mlm_accuracy"] == pytest.approx(theirs["heldout_mlm_accuracy"], abs=5e-5)
        assert mine["sts_spearman"] == pytest.approx(theirs["sts_spearman"], abs=5e-3)
        assert mine["probe_accuracy"] == pytest.approx(theirs["probe_accuracy"], abs=5e-5)


def test_a_report_cut_short_is_refused_and_named(tmp_path):
    lines = (KEPT / "headline.log").read_text().replace("\r", "\n").splitlines()
    cut = [line for line in lines if not line.startswith("| neutral |")]
    log = tmp_path / "run" / "headline.log"
    log.parent.mkdir()
    log.write_text("\n".join(cut))
    with pytest.raises(ValueError, match=r"headline\.log: the report of runs/recipe-seed1/sbert has no complete"):
        load_recovery().recover(log)
