"""Shared test set-up: one torch thread, and NLTK's sentence splitter from tests/fixtures.

The suite needs neither ../shared nor NLTK_DATA. Sentence splitting reads its trained parameters (punkt_tab)
from the NLTK data path; here that is tests/fixtures/nltk_data, a Punkt parameter set of a dozen
abbreviations written for the tests. The product finds it the way it finds the real one, through
data.use_nltk_data and NLTK_DATA, and runs the same code on it: only the parameters are smaller.
NLTK_DATA is set for the whole session, so the scripts that tests run in subprocesses find it too.
Tests about the real data sets take them from tests/real_data.py."""
import importlib.util
import os
from pathlib import Path

import pytest
import torch

PUNKT_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "nltk_data"
DOCS_RUNS = Path(__file__).resolve().parents[1] / "docs" / "runs"


def load_script(path):
    """A script that is not a package module (docs/runs/*.py), imported from its file."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_configure(config):
    # Before any test module imports nltk, which reads NLTK_DATA once, at import.
    os.environ["NLTK_DATA"] = str(PUNKT_FIXTURE)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The tests use tiny tensors, for which a second thread costs more than it saves; on a machine that is
    busy with other work, waiting threads can make them hundreds of times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def help_groups(capsys):
    """A script's `--help` as {group title: its options' text}, in the order shown: parse_args -> dict."""
    def groups(parse_args):
        with pytest.raises(SystemExit):
            parse_args(["--help"])
        return dict(section.split(":\n", 1) for section in capsys.readouterr().out.split("\n\n")
                    if ":\n  -" in section)  # title: its options
    return groups


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny untrained Sentence-BERT saved the way finetune.py saves one (tests/tiny_sbert.py)."""
    from tiny_sbert import untrained_model  # here, not at the top: it imports nltk, after NLTK_DATA is set
    directory = tmp_path_factory.mktemp("models") / "tiny-sbert"
    untrained_model().save(directory)
    return directory
