"""How the search index holds its rows in memory and scans them for a batch of queries.

Every search compares its query with every row of the index, so at 100,000 sentences and more a search's cost
is the scan: reading N rows of d numbers. Two formats (serve.py --index-rows):

- `fp32`: the unit-length embeddings as they are, 4 bytes a number; the cosines of a batch of queries with
  every row are one matrix product. The plain way, and exact.
- `int8` (the default): each row in 8-bit integers with a scale of its own (its largest number maps to 127);
  a scan reads a quarter of fp32's bytes, and the rows take half of fp32's memory (FBGEMM keeps the int8 rows
  it packed beside its packed copy). The scan is one int8 matrix product (torch's FBGEMM kernel, which
  quantizes the queries to 8 bits as it goes), on the int8 dot-product instructions of recent CPUs. Its
  cosines are off by about a thousandth, enough to swap two sentences whose cosines are nearly equal, so it
  only proposes: the best `candidates(k)` rows of each query are then ranked again by their exact fp32
  cosines. The fp32 rows for that stay on disk, in the index's cache file, memory-mapped: a search reads only
  its candidates' rows, and the operating system keeps the pages it reads as a cache it may drop, not as the
  server's own memory.

How often that re-ranking gives the fp32 scan's own top 10 over 1,000 queries, and what either costs at 10,000
to 1,000,000 rows, is measured by benchmarks/search_latency.py (docs/web.md). The int8 rows are quantized
again from the cache file in every process that scans them (an encoder process receives the file's path, not
the rows), so the file must stay where it is while the server runs.
"""
import numpy as np
import torch
import torch.nn.functional as F

from agree.quantize import quantization_warnings_silenced

ROW_FORMATS = ("int8", "fp32")
CANDIDATES_PER_ANSWER = 4  # int8 candidates re-ranked exactly for each of the k answers asked for ...
MIN_CANDIDATES = 40  # ... and never fewer than this
QUANTIZE_CHUNK = 65_536  # rows measured at a time, so that no second fp32 copy of the index is ever made


def candidates(k):
    return max(CANDIDATES_PER_ANSWER * k, MIN_CANDIDATES)


class Fp32Rows:
    """The unit-length embeddings (N, d) in memory, scanned exactly."""

    def __init__(self, embeddings):
        self.embeddings = embeddings

    def __len__(self):
        return len(self.embeddings)

    @property
    def nbytes(self):
        return self.embeddings.element_size() * self.embeddings.numel()

    def nearest(self, query_embeddings, k):
        """[[(row, cosine)]]: for each query (B, d), the k rows with the highest cosine, best first."""
        queries = F.normalize(query_embeddings.float(), dim=1)
        cosines = queries @ self.embeddings.T  # (B, N): rows and queries have length 1, so each product is a cosine
        return top(cosines, k)


class Int8Rows:
    """The rows of an .npy file of unit-length fp32 embeddings (the index's cache file), held in memory as
    int8 with one scale a row and scanned in int8; the file stays memory-mapped for the exact re-ranking.

    The int8 rows are made at the first search, or at once in an encoder process (`__setstate__`): a server
    whose encoder processes scan keeps only the path, to send it to a new process."""

    def __init__(self, path):
        self.path = str(path)
        self.embeddings = torch.from_numpy(np.load(self.path, mmap_mode="c"))  # copy-on-write: never written
        self.finite, self._packed = None, None

    def quantized(self):
        """The int8 rows packed for FBGEMM, made at the first call (which also notes whether every row is finite)."""
        if self._packed is None:
            self.finite = all(bool(rows.isfinite().all()) for rows in self.embeddings.split(QUANTIZE_CHUNK))
            self._packed = pack_int8(self.embeddings)
        return self._packed

    def __len__(self):
        return len(self.embeddings)

    @property
    def nbytes(self):
        """The bytes the rows take in memory once quantized: two a number, because FBGEMM keeps the int8 rows it
        packed beside its packed copy, and the row scales (the fp32 file is mapped, not held)."""
        return 2 * self.embeddings.numel() + 8 * len(self)

    def nearest(self, query_embeddings, k):
        queries, packed = F.normalize(query_embeddings.float(), dim=1), self.quantized()
        if not (self.finite and queries.isfinite().all()):  # a damaged model: the exact scan ranks its NaN first,
            return top(queries @ self.embeddings.T, k)        # as fp32 rows do, and the server refuses it (outputs.py)
        rough = torch.ops.quantized.linear_dynamic(queries, packed, True)  # (B, N) cosines to about 1e-3
        proposed = torch.topk(rough, min(candidates(k), len(self)), dim=1).indices  # (B, C)
        exact = torch.einsum("bcd,bd->bc", self.embeddings[proposed], queries)
        return top(exact, k, proposed)

    def __getstate__(self):
        return {"path": self.path}  # an encoder process maps the file and quantizes it itself

    def __setstate__(self, state):
        self.__init__(state["path"])
        self.quantized()  # now, before the process says it is ready, rather than at its first search


def pack_int8(embeddings):
    """FBGEMM's packed int8 weight with a scale per row: the rows as the weight of a linear layer with one
    output per row, so that the layer's output for a query is its cosine with every row."""
    scales = torch.cat([rows.abs().amax(dim=1) for rows in embeddings.split(QUANTIZE_CHUNK)]).double()
    scales = scales.nan_to_num(nan=1.0, posinf=1.0).clamp(min=1e-12) / 127  # each row's largest number: 127
    with quantization_warnings_silenced():
        weight = torch.quantize_per_channel(embeddings, scales, torch.zeros(len(embeddings), dtype=torch.long), 0,
                                            torch.qint8)
    return torch.ops.quantized.linear_prepack(weight, None)


def top(scores, k, rows=None):
    """[[(row, score)]]: for each query, the k highest of its `scores` (B, C), best first, with their `rows`
    (B, C); without `rows`, the scores' own positions are the rows."""
    best = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    chosen = best.indices if rows is None else torch.gather(rows, 1, best.indices)
    return [list(zip(indices, values)) for values, indices in zip(best.values.tolist(), chosen.tolist())]


def rows_of(embeddings_or_path, row_format):
    """The index's rows in `row_format`: fp32 from a tensor (N, d) or an .npy file, int8 from an .npy file."""
    if row_format not in ROW_FORMATS:
        raise ValueError(f"index rows must be one of {', '.join(ROW_FORMATS)}, not {row_format!r}")
    if row_format == "int8":
        return Int8Rows(embeddings_or_path)
    if isinstance(embeddings_or_path, torch.Tensor):
        return Fp32Rows(embeddings_or_path)
    return Fp32Rows(torch.from_numpy(np.load(embeddings_or_path)))
