"""agree/web/encoder_process.py: what requests ask of the model (predictions of tokenized pairs, the nearest
sentences of the index to tokenized queries, the steps of explanations), computed here by ModelWork and in a
process of its own by EncoderProcess, gives the model's own answers; a failing batch, a process that died and
one that does not answer within its deadline are errors that say so; closing ends even a stopped process;
nothing is left behind."""
import os
import signal
import threading

import numpy
import pytest
import torch
from tiny_sbert import untrained_model

from agree.web.encoder_process import EncoderFailure, EncoderProcess, ModelWork
from agree.web.index_rows import Fp32Rows, Int8Rows
from agree.web.occlusion import explain

GUARD_SECONDS = 60  # only a hung test waits this long
SENTENCES = ["a man is playing guitar", "the dog runs", "a woman is sleeping on the stage .", "the music"]
PAIRS = [("a man is playing guitar", "the man is sleeping"), ("the dog runs", "a dog runs on the stage .")]


@pytest.fixture(scope="module")
def model():
    return untrained_model()


@pytest.fixture(scope="module")
def index_embeddings(model):
    return torch.nn.functional.normalize(model.encode(SENTENCES), dim=1)


@pytest.fixture(scope="module")
def index_rows(index_embeddings, tmp_path_factory):
    """The server's default: int8 rows, which an encoder process receives as their file's path."""
    path = tmp_path_factory.mktemp("index") / "rows.npy"
    numpy.save(path, index_embeddings.numpy())
    return Int8Rows(path)


@pytest.fixture(scope="module")
def encoder(model, index_rows):
    process = EncoderProcess(ModelWork(model, index_rows), threads=1)
    yield process
    process.close()


def brute_force_nearest(index_embeddings, query_embedding, k):
    cosines = [torch.dot(row, torch.nn.functional.normalize(query_embedding, dim=0)).item() for row in index_embeddings]
    return sorted(enumerate(cosines), key=lambda row_cosine: -row_cosine[1])[:k]


@pytest.mark.parametrize("in_a_process", [False, True])
def test_verdicts_of_a_batch_are_the_models_one_pair_at_a_time(model, encoder, in_a_process):
    work = encoder if in_a_process else ModelWork(model)
    answers = work.predict_ids([tuple(model.tokenize(pair)) for pair in PAIRS])
    for answer, pair in zip(answers, PAIRS):
        wanted = model.predict(*pair)
        assert answer.label == wanted.label
        assert answer.cosine_similarity == pytest.approx(wanted.cosine_similarity, abs=1e-6)
        assert [answer.probabilities[label] for label in wanted.probabilities] == \
            pytest.approx(list(wanted.probabilities.values()), abs=1e-6)


@pytest.mark.parametrize("where", ["fp32 rows here", "int8 rows here", "int8 rows in a process"])
def test_search_gives_each_query_its_own_k_nearest_rows_best_first(model, index_embeddings, index_rows, encoder,
                                                                   where):
    work = {"fp32 rows here": ModelWork(model, Fp32Rows(index_embeddings)),
            "int8 rows here": ModelWork(model, index_rows),
            "int8 rows in a process": encoder}[where]
    queries = [("a dog is sleeping", 2), ("the man plays music", 4)]
    found = work.search_ids([(model.tokenize([query])[0], k) for query, k in queries])
    for rows, (query, k) in zip(found, queries):
        wanted = brute_force_nearest(index_embeddings, model.encode([query])[0], k)
        assert [row for row, _ in rows] == [row for row, _ in wanted]
        assert [cosine for _, cosine in rows] == pytest.approx([cosine for _, cosine in wanted], abs=1e-6)


@pytest.mark.parametrize("in_a_process", [False, True])
def test_explanations_computed_step_by_step_there_are_those_of_explain_here(model, encoder, in_a_process):
    work = encoder if in_a_process else ModelWork(model)
    for pair in PAIRS:
        answer = explain(model, *pair, compute=lambda *step: work.explain_steps([step])[0])
        wanted = explain(model, *pair)
        assert answer.prediction.label == wanted.prediction.label
        for side in ("premise", "hypothesis"):
            got, expected = getattr(answer, side), getattr(wanted, side)
            assert [effect.word for effect in got] == [effect.word for effect in expected]
            assert [effect.probability_without for effect in got] == \
                pytest.approx([effect.probability_without for effect in expected], abs=1e-6)


def test_a_failing_batch_is_an_error_here_and_the_process_goes_on(model, encoder):
    too_long = [[5] * (model.config.bert.max_len + 1)] * 2
    with pytest.raises(RuntimeError, match="the encoder process failed: ValueError: sequence of 65 tokens is "
                                           "longer than max_len 64"):
        encoder.predict_ids([tuple(too_long)])
    assert encoder.predict_ids([tuple(model.tokenize(PAIRS[0]))])[0].label == model.predict(*PAIRS[0]).label


def test_close_ends_the_process(model):
    process = EncoderProcess(ModelWork(model), threads=1)
    process.close()
    assert process.process.exitcode == 0


def test_a_process_that_died_is_a_clear_error(model):
    process = EncoderProcess(ModelWork(model), threads=1)
    os.kill(process.process.pid, signal.SIGKILL)
    with pytest.raises(EncoderFailure, match=r"the encoder process has stopped \(exit code -9\)"):
        process.predict_ids([tuple(model.tokenize(PAIRS[0]))])
    process.close()
    assert not process.process.is_alive()


def test_an_interrupt_for_the_whole_terminal_leaves_the_child_to_the_server(model):
    process = EncoderProcess(ModelWork(model), threads=1)
    os.kill(process.process.pid, signal.SIGINT)  # what Ctrl+C sends every process of the foreground group
    answers = process.predict_ids([tuple(model.tokenize(PAIRS[0]))])
    assert answers[0].label == model.predict(*PAIRS[0]).label
    process.close()
    assert process.process.exitcode == 0


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads resident memory the Linux way")
def test_the_child_holds_one_copy_of_the_index_not_its_pickled_bytes_beside_it(model):
    def resident_with(embeddings):
        process = EncoderProcess(ModelWork(model, embeddings), threads=1)
        try:
            return process.resident_bytes()
        finally:
            process.close()

    rows = 64 * 2**20 // (4 * model.config.bert.d_model)  # 64 MiB of float32 embeddings
    grown = resident_with(torch.ones(rows, model.config.bert.d_model)) - resident_with(None)
    assert 0.9 * 64 * 2**20 < grown < 1.5 * 64 * 2**20  # one copy, not two


def test_a_process_that_does_not_answer_within_the_deadline_is_a_clear_error_and_closing_kills_it(model):
    process = EncoderProcess(ModelWork(model), threads=1)
    os.kill(process.process.pid, signal.SIGSTOP)  # as a stuck process looks: alive, silent
    try:
        with pytest.raises(EncoderFailure, match=r"the encoder process did not answer within 0.2 s"):
            process.call("predict_ids", [tuple(model.tokenize(PAIRS[0]))], deadline=0.2)
        closing = threading.Thread(target=process.close, kwargs={"grace": 0.1})
        closing.start()
        closing.join(timeout=GUARD_SECONDS)
        assert not closing.is_alive() and process.process.exitcode == -signal.SIGKILL
    finally:
        if process.process.is_alive():
            os.kill(process.process.pid, signal.SIGKILL)
