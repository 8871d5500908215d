"""agree/web/index_rows.py: the search index held as int8 rows gives the exact fp32 scan's answers (the same
rows in the same order, with their exact cosines) in half the memory; an encoder process receives the
rows as their file's path; a damaged row or query is ranked as the fp32 scan ranks it, NaN first."""
import pickle

import numpy
import pytest
import torch
import torch.nn.functional as F

from agree.web.index_rows import MIN_CANDIDATES, Fp32Rows, Int8Rows, candidates, rows_of

ROWS, DIMENSION = 3_000, 32  # far more rows than int8 re-ranks (MIN_CANDIDATES), so the scan must choose them


@pytest.fixture(scope="module")
def embeddings():
    return F.normalize(torch.randn(ROWS, DIMENSION, generator=torch.Generator().manual_seed(0)), dim=1)


@pytest.fixture(scope="module")
def saved(embeddings, tmp_path_factory):
    path = tmp_path_factory.mktemp("rows") / "embeddings.npy"
    numpy.save(path, embeddings.numpy())
    return path


def queries(count=50, seed=1):
    return torch.randn(count, DIMENSION, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("k", [1, 10, 25])
def test_int8_rows_give_the_fp32_scans_rows_in_its_order_with_its_cosines(embeddings, saved, k):
    assert candidates(k) < ROWS
    exact, int8 = Fp32Rows(embeddings).nearest(queries(), k), Int8Rows(saved).nearest(queries(), k)
    for wanted, found in zip(exact, int8):
        assert [row for row, _ in found] == [row for row, _ in wanted]
        assert [cosine for _, cosine in found] == pytest.approx([cosine for _, cosine in wanted], abs=1e-6)


def test_the_int8_scan_alone_is_rough_which_is_why_its_candidates_are_ranked_again(embeddings, saved):
    rows = Int8Rows(saved)
    unit = F.normalize(queries(), dim=1)
    rough = torch.ops.quantized.linear_dynamic(unit, rows.quantized(), True)
    error = (rough - unit @ embeddings.T).abs()
    assert 1e-5 < error.max() < 0.02  # close, not exact


def test_int8_rows_hold_half_the_bytes_and_the_exact_rows_stay_in_the_file(embeddings, tmp_path):
    path = tmp_path / "embeddings.npy"
    numpy.save(path, embeddings.numpy())
    rows = Int8Rows(path)
    assert rows.nbytes == 2 * ROWS * DIMENSION + 8 * ROWS  # the int8 rows and FBGEMM's packed copy
    assert rows.nbytes < Fp32Rows(embeddings).nbytes * 0.6
    assert torch.equal(rows.embeddings, embeddings)
    in_the_file = numpy.load(path, mmap_mode="r+")
    in_the_file[5, 0] = 7.0
    in_the_file.flush()
    assert rows.embeddings[5, 0] == 7.0  # mapped, not read into memory


def test_an_encoder_process_receives_the_rows_as_their_files_path(saved):
    rows = Int8Rows(saved)
    sent = pickle.dumps(rows)
    assert len(sent) < 1_000 and str(saved).encode() in sent
    assert pickle.loads(sent).nearest(queries(5), 10) == rows.nearest(queries(5), 10)


def test_fewer_rows_than_asked_for_gives_every_row(embeddings, tmp_path):
    path = tmp_path / "few.npy"
    numpy.save(path, embeddings[:7].numpy())
    found = Int8Rows(path).nearest(queries(3), MIN_CANDIDATES + 10)
    assert [sorted(row for row, _ in rows) for rows in found] == [list(range(7))] * 3


def test_a_row_or_a_query_that_is_not_a_number_is_ranked_first_as_fp32_ranks_it(embeddings, tmp_path):
    damaged = embeddings.clone()
    damaged[123] = float("nan")
    path = tmp_path / "damaged.npy"
    numpy.save(path, damaged.numpy())
    for found in Int8Rows(path).nearest(queries(4), 10):
        assert found[0][0] == 123 and found[0][1] != found[0][1]  # NaN
    nan_query = torch.full((1, DIMENSION), float("nan"))
    assert all(cosine != cosine for _, cosine in Int8Rows(path).nearest(nan_query, 3)[0])


def test_rows_of_reads_either_format_and_refuses_another(embeddings, saved):
    assert isinstance(rows_of(saved, "int8"), Int8Rows)
    assert torch.equal(rows_of(saved, "fp32").embeddings, embeddings)
    assert rows_of(embeddings, "fp32").embeddings is embeddings
    with pytest.raises(ValueError, match="one of int8, fp32, not 'fp16'"):
        rows_of(saved, "fp16")
