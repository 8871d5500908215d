"""int8 inference against fp32, ours and sentence-transformers': how fast a model encodes, and how far int8
moves its embeddings.

    .venv-bench/bin/pip install --no-deps --target .venv-bench/onnx-overlay -r benchmarks/requirements-onnx.txt
    PYTHONPATH=.venv-bench/onnx-overlay .venv-bench/bin/python benchmarks/int8.py --model runs/sbert \\
        --data-dir ../shared/data

One fine-tuned model, five (or six) ways, in this one process, on the same threads and the same SNLI sentences, raw
text in (tokenization included on every side, as throughput.py's encoding workload):

1. agree `SentenceBERT.load(model)`: fp32.
2. agree `SentenceBERT.load(model, int8=True)`: the encoder's linear layers dynamically quantized to int8 by
   torch (agree/quantize.py), on torch's default quantized engine (FBGEMM). The same model packed for torch's
   oneDNN engine runs beside it, where torch has that engine: on CPUs with int8 matrix tiles oneDNN uses them,
   but it builds its kernel again whenever the input's shape changes.
3. `SentenceTransformer(export)`: the same model exported by `python -m agree.hf.export` (a pre-LN model as
   transformers' RobertaPreLayerNorm), run by transformers in torch fp32.
4. `SentenceTransformer(export, backend="onnx")`: the same graph in ONNX Runtime, fp32.
5. The same with `export_dynamic_quantized_onnx_model(model, CONFIG, ...)`: sentence-transformers' int8
   backend, ONNX Runtime's dynamic quantization (int8 weights per channel, inputs quantized at each call),
   CONFIG the one for this CPU ("avx512_vnni", "avx512", "avx2" or "arm64").

The ONNX graph: sentence-transformers exports a model to ONNX through optimum, whose exporter does not know
RobertaPreLayerNorm; it is written here with optimum's `main_export` and its RoBERTa ONNX configuration (the
same inputs and outputs), into the export's onnx/model.onnx, where `backend="onnx"` loads it as its own.

Two workloads: batches of 64 sentences (throughput), and one premise and hypothesis at a time (a batch of 2:
what one /predict asks). The contenders take turns and the medians are reported, as in throughput.py. The
ratios are against agree fp32; the last column is the mean cosine of each contender's embeddings with those
of its own fp32 model (agree's for agree, sentence-transformers' torch fp32 for the others), on the first step's
sentences: what int8 costs in accuracy, beside what it buys in time.

Why the overlay: the ONNX backend needs optimum-onnx, whose releases (up to 0.1.0) require transformers < 4.58,
while sentence-transformers 6 requires transformers >= 5. So sentence-transformers 5.7 and transformers 4.57
with optimum-onnx and ONNX Runtime go into a folder of their own (benchmarks/requirements-onnx.txt), first on
PYTHONPATH; torch and numpy stay .venv-bench's. All three sentence-transformers contenders run those versions.

Benchmark-only: the product never imports this file or its requirements.
"""
import argparse
import os
import pickle
import statistics
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the product's modules, as its scripts see them

from throughput import interleaved_timings, load_average, machine, report  # noqa: E402

from agree.datasets import load_pairs  # noqa: E402
from agree.hf import export  # noqa: E402
from sbert import SentenceBERT  # noqa: E402

WORKLOADS = {"batch 64": (64, 512), "one pair": (2, 64)}  # name: (sentences per call, sentences per step)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a fine-tuned Sentence-BERT (finetune.py)")
    parser.add_argument("--data-dir", default="data", help="holds snli_1.0/ (default: %(default)s)")
    parser.add_argument("--pairs", type=int, default=2048, help="SNLI dev pairs whose sentences are encoded "
                        "(default: %(default)s)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per contender and workload "
                        "(default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch, ONNX Runtime and tokenizer "
                        "threads for every contender (default: all cores, %(default)s)")
    parser.add_argument("--onnx-config", choices=["avx512_vnni", "avx512", "avx2", "arm64"],
                        help="sentence-transformers' quantization configuration (default: the one this CPU has)")
    return parser.parse_args(argv)


def cpu_quantization_config():
    """The best of sentence-transformers' four dynamic-quantization configurations that this CPU runs."""
    flags = set()
    if Path("/proc/cpuinfo").exists():
        line = next((x for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("flags")), "")
        flags = set(line.split(":", 1)[-1].split())
    for config, flag in (("avx512_vnni", "avx512_vnni"), ("avx512", "avx512f"), ("avx2", "avx2")):
        if flag in flags:
            return config
    return "arm64"


def versions():
    import onnxruntime
    import optimum.version
    import sentence_transformers
    import transformers
    return (f"torch {torch.__version__}, transformers {transformers.__version__}, sentence-transformers "
            f"{sentence_transformers.__version__}, optimum {optimum.version.__version__}, onnxruntime "
            f"{onnxruntime.__version__}")


# --- The contenders ---------------------------------------------------------------------------------------------

def write_onnx(directory):
    """onnx/model.onnx in an exported sentence-transformers directory, as backend="onnx" would write it."""
    from optimum.exporters.onnx import main_export
    from optimum.exporters.onnx.model_configs import RobertaOnnxConfig
    from transformers import AutoConfig
    config = AutoConfig.from_pretrained(directory)
    custom = {}
    if config.model_type == "roberta-prelayernorm":  # unknown to optimum's exporter; RoBERTa's inputs
        custom = {"custom_onnx_configs": {"model": RobertaOnnxConfig(config, task="feature-extraction")}}
    main_export(str(directory), output=Path(directory) / "onnx", task="feature-extraction",
                library_name="transformers", **custom)


def sentence_transformers_models(model_dir, directory, threads, quantization):
    """{name: SentenceTransformer} of the exported model: torch fp32, ONNX fp32, ONNX int8."""
    import onnxruntime
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model
    export.main(["--model", str(model_dir), "--out", str(directory)])
    write_onnx(directory)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    onnx_fp32 = SentenceTransformer(str(directory), backend="onnx", device="cpu",
                                    model_kwargs={"session_options": options})
    export_dynamic_quantized_onnx_model(onnx_fp32, quantization, str(directory))
    onnx_int8 = SentenceTransformer(str(directory), backend="onnx", device="cpu", model_kwargs={
        "file_name": f"onnx/model_qint8_{quantization}.onnx", "session_options": options})
    torch_fp32 = SentenceTransformer(str(directory), device="cpu")
    attention = torch_fp32[0].auto_model.config._attn_implementation
    return {f"sentence-transformers, torch fp32 ({attention} attention)": torch_fp32,
            "sentence-transformers, ONNX Runtime fp32": onnx_fp32,
            f"sentence-transformers, ONNX Runtime int8 ({quantization})": onnx_int8}


def packed_for(model, engine):
    """The int8 `model` with its weights packed for another quantized engine (unpickling packs them for the
    process's engine), the process's engine left as it was."""
    chosen, torch.backends.quantized.engine = torch.backends.quantized.engine, engine
    try:
        return pickle.loads(pickle.dumps(model))
    finally:
        torch.backends.quantized.engine = chosen


def encoders(args, directory):
    """{name: encode(sentences, batch_size) -> (N, d) tensor}, agree fp32 first (the reference)."""
    fp32, int8 = SentenceBERT.load(args.model), SentenceBERT.load(args.model, int8=True)
    engine = torch.backends.quantized.engine
    found = {"agree SentenceBERT, fp32": fp32.encode,
             f"agree SentenceBERT, int8 (--int8; {engine} engine)": int8.encode}
    if engine != "onednn" and "onednn" in torch.backends.quantized.supported_engines:
        found["agree SentenceBERT, int8 on the onednn engine"] = packed_for(int8, "onednn").encode
    quantization = args.onnx_config or cpu_quantization_config()
    for name, model in sentence_transformers_models(args.model, directory, args.threads, quantization).items():
        found[name] = lambda sentences, batch_size, model=model: torch.as_tensor(model.encode(
            sentences, batch_size=batch_size, show_progress_bar=False))
    return found


def sentences_of(args):
    pairs = load_pairs("snli:dev", args.data_dir, log=lambda *_: None)
    pairs = pairs.subset(range(min(args.pairs, len(pairs))))
    return list(dict.fromkeys(pairs.first + pairs.second))


# --- Agreement and timing ---------------------------------------------------------------------------------------

def agreement(encode, sentences):
    """Mean cosine of each contender's embeddings with its own fp32 model's (see the docstring)."""
    embeddings = {name: function(sentences, 64) for name, function in encode.items()}
    names = list(encode)
    theirs = next(name for name in names if name.startswith("sentence-transformers"))
    own_fp32 = {name: names[0] if name.startswith("agree") else theirs for name in names}
    return {name: float(F.cosine_similarity(embeddings[name], embeddings[own_fp32[name]]).mean())
            for name in names}


def workload(args, encode, sentences, name, batch_size, per_step):
    chunks = [sentences[i:i + per_step] for i in range(0, len(sentences) - per_step + 1, per_step)]
    if not chunks:
        raise SystemExit(f"--pairs {args.pairs} gives {len(sentences)} distinct sentences; a step needs {per_step}")

    def contender(function):
        def step(index):
            chunk = chunks[index % len(chunks)]
            for start in range(0, len(chunk), batch_size):
                function(chunk[start:start + batch_size], batch_size)
        return step

    print(f"\n=== {name}: {batch_size} sentences per call, {per_step} per step " + "=" * 40)
    seconds = interleaved_timings({n: contender(f) for n, f in encode.items()}, args.warmup, args.steps)
    return report(f"encoding, {name}", "sentences", per_step, seconds), seconds


def main(argv=None):
    args = parse_args(argv)
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # the Rust tokenizer's thread pool, read on first use
    torch.set_num_threads(args.threads)
    load_before = load_average()
    print(f"{machine()}\n{versions()}, {args.threads} threads, {load_before}")
    sentences = sentences_of(args)
    with tempfile.TemporaryDirectory() as directory:
        encode = encoders(args, Path(directory) / "export")
        cosines = agreement(encode, sentences[:WORKLOADS["batch 64"][1]])
        results = {name: workload(args, encode, sentences, name, *sizes) for name, sizes in WORKLOADS.items()}
    command = " ".join(["PYTHONPATH=.venv-bench/onnx-overlay .venv-bench/bin/python benchmarks/int8.py",
                        *(sys.argv[1:] if argv is None else argv)])
    print(f"\n### int8 encoding\n\n{machine()}; {versions()}; {args.threads} threads; {load_before} before, "
          f"{load_average()} after.\n")
    print("| contender | " + " | ".join(f"{name}: sentences/s (vs agree fp32)" for name in WORKLOADS)
          + " | mean cosine to its fp32 |")
    print("|---|" + "---:|" * (len(WORKLOADS) + 1))
    for contender in encode:
        cells = []
        for name, (_, per_step) in WORKLOADS.items():
            seconds = results[name][1]
            reference = statistics.median(next(iter(seconds.values())))
            median = statistics.median(seconds[contender])
            cells.append(f"{per_step / median:,.0f} ({reference / median:.2f}x)")
        print(f"| {contender} | " + " | ".join(cells) + f" | {cosines[contender]:.5f} |")
    print(f"\nMedians of {args.steps} timed steps per contender, taking turns, after {args.warmup} warm-up steps. "
          f"Command:\n\n    {command}")


if __name__ == "__main__":
    main()
