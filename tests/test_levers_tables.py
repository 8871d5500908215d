"""docs/runs/fine_tuning_levers.py: a second run of a pre-training counts as the same run only where it logged the
figures the first printed, to the digits it printed; the figures docs/notebook/levers.md quotes come from its
logs."""
import json

import pytest
from conftest import DOCS_RUNS, load_script


@pytest.fixture
def levers(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(DOCS_RUNS))
    module = load_script(DOCS_RUNS / "fine_tuning_levers.py")
    monkeypatch.setitem(module.evaluations.__globals__, "RUNS", tmp_path)  # run_logs reads the logs under tmp_path
    module.records.cache_clear()
    yield module
    module.records.cache_clear()


def write_lines(path, records):
    path.mkdir(parents=True, exist_ok=True)
    name = "metrics.jsonl" if any("heldout_mlm_loss" in r for r in records) else "evaluations.jsonl"
    (path / name).write_text("".join(json.dumps(r) + "\n" for r in records))


def evaluation(step, masked, sts, probe, printed=False):
    record = {"step": step, "heldout_mlm_accuracy": masked, "sts_spearman": sts, "probe_accuracy": probe}
    return record if printed else {**record, "heldout_mlm_loss": 5.0}


def test_a_rerun_is_equal_to_the_printed_digits_and_no_further(levers, tmp_path):
    write_lines(tmp_path / "first", [evaluation(0, 0.0, 44.37, 0.5589, printed=True),
                                     evaluation(500, 0.1231, 52.68, 0.5553, printed=True),
                                     evaluation(1000, 0.1513, 57.04, 0.5722, printed=True)])
    write_lines(tmp_path / "again", [evaluation(0, 0.0, 44.3714960662, 0.5588985085),
                                     evaluation(500, 0.12314, 52.6849, 0.55526),
                                     evaluation(1000, 0.1513, 57.05, 0.5722)])  # 57.05: a different run
    assert levers.evaluations_equal("first", "again") == (2, 3)
    assert levers.last_evaluation("again") == "15.13% / 57.05 / 57.22%"


def test_a_rerun_with_fewer_evaluations_is_an_error_not_a_smaller_count(levers, tmp_path):
    write_lines(tmp_path / "first", [evaluation(0, 0.0, 44.37, 0.5589, printed=True),
                                     evaluation(500, 0.1231, 52.68, 0.5553, printed=True)])
    write_lines(tmp_path / "again", [evaluation(0, 0.0, 44.37, 0.5589)])
    with pytest.raises(ValueError):
        levers.evaluations_equal("first", "again")


def test_the_best_step_is_the_checkpoint_a_fine_tuning_keeps_the_first_on_a_tie(levers, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"step": 250, "val_accuracy": 0.55}, {"step": 250, "loss": 0.9}, {"step": 500, "val_accuracy": 0.61},
        {"step": 750, "val_accuracy": 0.61}, {"step": 1000, "val_accuracy": 0.60}]))
    assert levers.best_step("run") == 500
