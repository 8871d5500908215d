"""encoder_process.py: serve.py's forward passes in a process of their own give the embeddings the model gives
in this one, report a failing batch and a stopped process as errors, and leave no process behind."""
import os
import signal

import pytest
import torch

from encoder_process import EncoderProcess
from tiny_sbert import tiny_sbert

SENTENCES = ["a man is playing guitar", "the dog runs", "a woman is sleeping on the stage ."]


@pytest.fixture(scope="module")
def model():
    return tiny_sbert()


@pytest.fixture(scope="module")
def encoder(model):
    process = EncoderProcess(model, threads=1)
    yield process
    process.close()


def test_the_process_gives_the_embeddings_of_the_model_here(model, encoder):
    ids = model.tokenize(SENTENCES)
    embeddings = encoder.encode_ids(ids)
    assert embeddings.dtype == torch.float32
    assert torch.allclose(embeddings, model.encode_ids(ids), atol=1e-6)


def test_a_failing_batch_is_an_error_here_and_the_process_goes_on(model, encoder):
    too_long = [[5] * (model.config.bert.max_len + 1)]
    with pytest.raises(RuntimeError, match="the encoder process failed: ValueError: sequence of 65 tokens is "
                                           "longer than max_len 64"):
        encoder.encode_ids(too_long)
    assert torch.allclose(encoder.encode_ids(model.tokenize(SENTENCES[:1])), model.encode(SENTENCES[:1]), atol=1e-6)


def test_close_ends_the_process(model):
    process = EncoderProcess(model, threads=1)
    process.close()
    assert process.process.exitcode == 0


def test_a_process_that_died_is_a_clear_error(model):
    process = EncoderProcess(model, threads=1)
    os.kill(process.process.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match=r"the encoder process has stopped \(exit code -9\)"):
        process.encode_ids(model.tokenize(SENTENCES))
    process.close()
    assert not process.process.is_alive()
