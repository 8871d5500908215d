"""How fast agree trains and encodes, next to Hugging Face transformers and sentence-transformers.

    .venv-bench/bin/python benchmarks/throughput.py --data-dir DIR [--preset small] [--steps N] [--threads T]

Three workloads; every contender runs in this one process, on the same threads and the same inputs:

1. Pre-training step (forward, backward, gradient clipping, AdamW) of BERT with its masked-LM and
   next-sentence heads, in tokens/s: our `BertForPreTraining`, with written and with fused attention, against
   transformers' `BertForPreTraining` built with the same configuration. Both learn from the same masked
   positions, in different ways: ours gathers the P masked positions and scores only those against the
   vocabulary; transformers scores all T positions and leaves the unmasked ones out of the loss (label -100).
   That difference is the point: the vocabulary projection is the largest matrix multiply of the model.
2. Fine-tuning step of Sentence-BERT (SoftmaxLoss on (u, v, |u-v|), mean pooling, AdamW, batch 16), in
   pairs/s, on real SNLI pairs: ours against sentence-transformers over a transformers `BertModel` of the
   same size. sentence-transformers tokenizes inside its training loop (its data collator), so that is timed
   with it; agree trains from token ids that nli.py cached on disk beforehand, so only padding is timed here.
3. Encoding sentences for inference, in sentences/s, batch 64: `SentenceBERT.encode` against
   `SentenceTransformer.encode`, both from raw text, tokenization included.
   Tokenization is also timed on its own, both sides, to show how much of encoding it is.

`--precision bf16` runs every contender's forward pass in bf16 autocast (backward follows the forward's
types; weights and optimizer state stay fp32), to compare the two sides where the matrix multiplies are
cheap: on a CPU with bf16 matrix units they are several times faster than in fp32.

Every training step uses training.make_optimizer: the fused AdamW that transformers' Trainer, and so
SentenceTransformerTrainer, picks by default with torch >= 2.8 (optim="adamw_torch_fused"), with the same
parameter groups (no weight decay on biases and LayerNorms). Same hyperparameters on both sides.

Why the contenders take turns (A, B, C, A, B, C, ...): a shared machine's speed drifts. Taking
turns exposes every contender to the same drift, and medians ignore the odd step a neighbour slowed down.
Read the ratios; the absolute numbers move with the load average printed beside them.

Benchmark-only: not part of the test suite. The product never imports this file or its requirements
(benchmarks/requirements.txt, installed into .venv-bench).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the product's modules, as its scripts see them

from bert import IGNORE_INDEX, BertConfig, BertForPreTraining, pretraining_loss  # noqa: E402
from data import CLS_ID, MASK_ID, PAD_ID, SEP_ID, SPECIAL_TOKENS, Vocab, tokenize  # noqa: E402
from agree.encoded_pairs import collate, encode_pairs, epoch_batch_indices  # noqa: E402
from agree.datasets import load_pairs  # noqa: E402
from sbert import SentenceBERT, SentenceBertConfig  # noqa: E402
from agree.training import autocast, make_optimizer  # noqa: E402

# The pre-training batch per preset: (rows, sequence length). `base` gets a small one so that a step takes
# seconds, not minutes, on a CPU.
PRETRAINING_BATCH = {"tiny": (32, 64), "small": (32, 128), "base": (4, 128)}
VOCAB_SIZE = 30_000  # pretrain.py's default; a fine-tuned model keeps its pre-training vocabulary
FINETUNE_BATCH = 16  # the SBERT paper's
ENCODE_BATCH = 64
SENTENCES_PER_ENCODE_STEP = 512  # one timed encoding step: 8 batches of 64
WORKLOADS = ("pretrain", "finetune", "encode")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=list(PRETRAINING_BATCH), default="small",
                        help="model size (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per contender and workload "
                        "(default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch and tokenizer threads for "
                        "every contender (default: all cores, %(default)s)")
    parser.add_argument("--data-dir", default="data", help="holds snli_1.0/ (default: %(default)s)")
    parser.add_argument("--pairs", type=int, default=2048, help="SNLI dev pairs used (default: %(default)s)")
    parser.add_argument("--only", nargs="+", choices=WORKLOADS, default=list(WORKLOADS),
                        help="workloads to run (default: all)")
    parser.add_argument("--profile", action="store_true", help="also print where each contender's time goes")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="every contender's "
                        "forward pass in fp32, or in bf16 autocast (worth it on CPUs with bf16 matrix units; "
                        "default: %(default)s)")
    return parser.parse_args(argv)


# --- Timing and reporting -------------------------------------------------------------------------------------

def interleaved_timings(contenders, warmup, steps):
    """Seconds per step of each contender (name -> callable(step_index)). Step i of every contender runs before
    step i + 1 of any, and each round starts with the next contender, so none always follows the same one."""
    names = list(contenders)
    for index in range(warmup):
        for name in names:
            contenders[name](index)
    seconds = {name: [] for name in names}
    for index in range(steps):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            contenders[name](warmup + index)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def report(workload, unit, items_per_step, seconds):
    """Print each contender's median and fastest step against the first contender's; return table rows.
    The ratio of medians is the headline. The ratio of fastest steps is what the code costs when no neighbour
    interferes: when the two disagree, the machine was busy."""
    reference = next(iter(seconds))
    median = {name: statistics.median(times) for name, times in seconds.items()}
    fastest = {name: min(times) for name, times in seconds.items()}
    print(f"\n{workload}  ({len(seconds[reference])} timed steps each, {items_per_step:,} {unit} per step)")
    rows = []
    for name in seconds:
        rate = items_per_step / median[name]
        ratio, fastest_ratio = median[reference] / median[name], fastest[reference] / fastest[name]
        print(f"  {name:<56} median {median[name] * 1000:7.1f} ms, fastest {fastest[name] * 1000:7.1f} ms  "
              f"{rate:8,.0f} {unit}/s  {ratio:4.2f}x  (fastest steps {fastest_ratio:4.2f}x)")
        rows.append((workload, name, f"{rate:,.0f} {unit}/s", f"{ratio:.2f}x", f"{fastest_ratio:.2f}x"))
    return rows


def print_profile(name, step, rounds=3):
    """Where one contender's time goes over a few steps: the phases of a training step, the torch operators
    with the most self time, and the share spent outside any operator (Python, tokenization, batching).
    Shares are of the wall time under the profiler, which adds a little overhead to every operator."""
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        start = time.perf_counter()
        for index in range(rounds):
            step(index)
        wall_us = (time.perf_counter() - start) * 1e6
    events = profiler.key_averages()
    phases = sorted((e for e in events if e.key.startswith("phase: ")), key=lambda e: e.key)
    operators = sorted((e for e in events if not e.key.startswith("phase: ")),
                       key=lambda e: e.self_cpu_time_total, reverse=True)
    print(f"\n  profile of {name}: {wall_us / rounds / 1000:.1f} ms per step under the profiler")
    for event in phases:
        print(f"    {event.cpu_time_total / wall_us:6.1%}  {event.key}")
    for event in operators[:12]:
        print(f"    {event.self_cpu_time_total / wall_us:6.1%}  {event.key}")
    outside = 1 - sum(e.self_cpu_time_total for e in operators) / wall_us
    print(f"    {max(0.0, outside):6.1%}  (outside torch operators)")


def run_workload(args, title, workload, unit, items_per_step, contenders):
    print(f"\n=== {title} " + "=" * max(0, 100 - len(title)))
    rows = report(workload, unit, items_per_step, interleaved_timings(contenders, args.warmup, args.steps))
    if args.profile:
        for name, step in contenders.items():
            print_profile(name, step)
    return rows


def arithmetic(precision):
    """The context every contender's forward pass runs in: the training scripts' own autocast on the CPU,
    bf16 or nothing (fp32)."""
    return autocast(torch.device("cpu"), precision)


def training_step(model, loss_of_step, optimizer, precision="fp32"):
    """A callable that does one optimizer step the way pretrain.py and finetune.py do: loss, backward,
    gradient clipping at 1.0, optimizer step."""
    model.train()

    def step(index):
        # The labels name the phases in --profile's output; they cost nothing when no profiler runs.
        with record_function("phase: forward + loss"), arithmetic(precision):
            loss = loss_of_step(index)
        with record_function("phase: backward"):
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        with record_function("phase: clip + AdamW"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    return step


# --- The same model in transformers ---------------------------------------------------------------------------

def hugging_face_config(config):
    """transformers' BertConfig with our sizes and settings: vocabulary, layers, widths, heads, positions, two
    segments, dropout, LayerNorm eps, exact (erf) GELU, initialisation; attention by PyTorch's sdpa."""
    import transformers
    return transformers.BertConfig(
        vocab_size=config.vocab_size, hidden_size=config.d_model, num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads, intermediate_size=config.d_ff,
        max_position_embeddings=config.max_len, type_vocab_size=config.n_segments,
        hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.dropout,
        layer_norm_eps=config.layer_norm_eps, hidden_act="gelu", initializer_range=config.init_std,
        pad_token_id=PAD_ID, attn_implementation="sdpa")


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


# --- 1. Pre-training --------------------------------------------------------------------------------------------

def pretraining_batch(batch_size, length, vocab_size, generator):
    """A random batch shaped like corpus.py's: `[CLS] A [SEP] B [SEP]`, nine rows in ten full length and the
    rest shorter (BERT's short_seq_prob), 15% of the words masked, at most round(0.15·T) + 1 per row. The masked
    positions come both ways: (B, P) positions and labels for agree, (B, T) labels for transformers."""
    max_predictions = round(0.15 * length) + 1
    input_ids = torch.full((batch_size, length), PAD_ID)
    segment_ids = torch.zeros(batch_size, length, dtype=torch.long)
    masked_positions = torch.zeros(batch_size, max_predictions, dtype=torch.long)
    masked_labels = torch.full((batch_size, max_predictions), IGNORE_INDEX)
    labels_everywhere = torch.full((batch_size, length), IGNORE_INDEX)
    for row in range(batch_size):
        short = torch.rand((), generator=generator) < 0.1
        size = int(torch.randint(8, length, (), generator=generator)) if short else length
        ids = torch.randint(len(SPECIAL_TOKENS), vocab_size, (size,), generator=generator)
        middle = int(torch.randint(2, size - 2, (), generator=generator))  # the [SEP] after sentence A
        ids[0], ids[middle], ids[-1] = CLS_ID, SEP_ID, SEP_ID
        words = torch.tensor([p for p in range(1, size - 1) if p != middle])
        count = min(max(round(0.15 * len(words)), 1), max_predictions)
        positions = words[torch.randperm(len(words), generator=generator)[:count]].sort().values
        masked_positions[row, :count] = positions
        masked_labels[row, :count] = ids[positions]
        labels_everywhere[row, positions] = ids[positions]
        ids[positions] = MASK_ID  # BERT's 10% random and 10% unchanged replacements cost the same
        input_ids[row, :size] = ids
        segment_ids[row, middle + 1:size] = 1
    nsp_labels = torch.randint(0, 2, (batch_size,), generator=generator)
    return {"input_ids": input_ids, "segment_ids": segment_ids, "attention_mask": input_ids != PAD_ID,
            "masked_positions": masked_positions, "masked_labels": masked_labels,
            "labels_everywhere": labels_everywhere, "nsp_labels": nsp_labels}


def pretraining_contenders(config, batch, precision):
    import transformers

    def agree(attention):
        model = BertForPreTraining(replace(config, attention=attention))

        def loss(index):
            mlm_logits, nsp_logits = model(batch["input_ids"], batch["segment_ids"], batch["masked_positions"])
            return pretraining_loss(mlm_logits, batch["masked_labels"], nsp_logits, batch["nsp_labels"])[0]
        return model, training_step(model, loss, make_optimizer(model, 1e-4, weight_decay=0.01), precision)

    hf_model = transformers.BertForPreTraining(hugging_face_config(config))

    def hf_loss(index):
        return hf_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        token_type_ids=batch["segment_ids"], labels=batch["labels_everywhere"],
                        next_sentence_label=batch["nsp_labels"]).loss

    (written, written_step), (_, fused_step) = agree("written"), agree("fused")
    if parameter_count(written) != parameter_count(hf_model):
        raise SystemExit(f"the two models differ: {parameter_count(written):,} parameters here, "
                         f"{parameter_count(hf_model):,} in transformers")
    print(f"{parameter_count(written):,} parameters on both sides (output weights tied to the token embedding)")
    hf_step = training_step(hf_model, hf_loss, make_optimizer(hf_model, 1e-4, weight_decay=0.01), precision)
    return {"transformers BertForPreTraining (sdpa, fused AdamW)": hf_step,
            'agree BertForPreTraining, attention="written"': written_step,
            'agree BertForPreTraining, attention="fused"': fused_step}


def pretraining_benchmark(args):
    config = BertConfig.preset(args.preset, vocab_size=VOCAB_SIZE)
    rows, length = PRETRAINING_BATCH[args.preset]
    batch = pretraining_batch(rows, length, config.vocab_size, torch.Generator().manual_seed(0))
    tokens = int(batch["attention_mask"].sum())
    masked = int((batch["masked_labels"] != IGNORE_INDEX).sum())
    print(f"\npreset {args.preset}, batch {rows} x {length}: {tokens:,} real tokens, {masked} of them masked; "
          f"transformers scores all {rows * length:,} positions against the vocabulary, agree the "
          f"{batch['masked_positions'].numel():,} masked-position slots")
    return run_workload(args, "Pre-training step: forward + loss + backward + clip + AdamW",
                        f"pre-training, {args.preset}, {rows}x{length}", "tokens", tokens,
                        pretraining_contenders(config, batch, args.precision))


# --- 2 and 3. Sentence-BERT: fine-tuning and encoding ---------------------------------------------------------

def snli_pairs(args):
    pairs = load_pairs("snli:dev", args.data_dir, log=lambda *_: None)
    return pairs.subset(range(min(args.pairs, len(pairs))))


def padded_vocabulary(pairs, size):
    """The words of these pairs, then placeholder words up to `size`: a fine-tuned model keeps its 30,000-word
    pre-training vocabulary, and the embedding table's AdamW update is part of every step's cost."""
    counts = Counter(word for sentence in pairs.first + pairs.second for word in tokenize(sentence))
    words = Vocab.from_counts(counts, size).tokens
    return Vocab(words + [f"[unused{i}]" for i in range(size - len(words))])


def sentence_transformer(config, vocab, directory):
    """A SentenceTransformer over a freshly initialised transformers BertModel of our size, with mean pooling
    and a WordPiece tokenizer over our vocabulary (lowercased; it holds no word pieces, so a word is itself or
    [UNK], as with ours). Built and saved locally, then loaded the way sentence-transformers loads any model:
    nothing comes from the hub."""
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    vocab.save(directory / "vocab.txt")
    transformers.BertTokenizerFast(str(directory / "vocab.txt"), do_lower_case=True,
                                   model_max_length=config.max_len).save_pretrained(directory)
    transformers.BertModel(hugging_face_config(config)).save_pretrained(directory)
    transformer = Transformer(str(directory), max_seq_length=config.max_len,
                              model_kwargs={"attn_implementation": "sdpa"})
    return SentenceTransformer(modules=[transformer, Pooling(config.d_model, "mean")], device="cpu")


def agree_sentence_bert(config, vocab, attention):
    return SentenceBERT(SentenceBertConfig(replace(config, attention=attention), "mean", "u,v,|u-v|"), vocab)


def random_batches(count, batch_size, generator):
    order = generator.permutation(count)
    return [order[i:i + batch_size] for i in range(0, count - batch_size + 1, batch_size)]


def finetuning_contenders(config, vocab, pairs, st_model, precision):
    from sentence_transformers.sentence_transformer.losses import SoftmaxLoss
    encoded = encode_pairs(pairs, vocab, config.max_len)  # what nli.py caches on disk before training
    shuffled = random_batches(len(pairs), FINETUNE_BATCH, np.random.default_rng(0))
    # finetune.py's own order: rows sorted by length within chunks of 100 batches, so that a batch pads little.
    grouped = epoch_batch_indices(encoded, FINETUNE_BATCH, seed=0, epoch=0)
    grouped = [indices for indices in grouped if len(indices) == FINETUNE_BATCH]  # the last may be short

    def agree(attention, batches):
        model = agree_sentence_bert(config, vocab, attention)

        def loss(index):
            batch = collate(encoded, batches[index % len(batches)])
            logits, _, _ = model(batch["first_ids"], batch["second_ids"])
            return F.cross_entropy(logits, batch["labels"])
        return training_step(model, loss, make_optimizer(model, 2e-5, weight_decay=0.01), precision)

    st_loss = SoftmaxLoss(st_model, config.d_model, num_labels=3)

    def tokenized(indices):
        """What sentence-transformers' data collator does for every batch: tokenize each column."""
        return [st_model.preprocess([pairs.first[i] for i in indices]),
                st_model.preprocess([pairs.second[i] for i in indices])]

    def st_step(features_of_batch, optimizer):
        def loss(index):
            indices = shuffled[index % len(shuffled)]
            return st_loss(features_of_batch(index % len(shuffled)), torch.as_tensor(pairs.labels[indices]))
        return training_step(st_loss, loss, optimizer, precision)

    features = [tokenized(indices) for indices in shuffled]
    optimizer = make_optimizer(st_loss, 2e-5, weight_decay=0.01)
    return {"sentence-transformers as its trainer runs (tokenizing, fused AdamW)": st_step(
                lambda i: tokenized(shuffled[i]), optimizer),
            "sentence-transformers, batches tokenized beforehand": st_step(lambda i: features[i], optimizer),
            'agree SentenceBERT, attention="written"': agree("written", shuffled),
            'agree SentenceBERT, attention="fused"': agree("fused", shuffled),
            'agree, "written", finetune.py\'s length-grouped batches': agree("written", grouped)}


def finetuning_benchmark(args, config, vocab, pairs, st_model):
    rows = run_workload(args, f"Fine-tuning step: SoftmaxLoss on (u, v, |u-v|), batch {FINETUNE_BATCH}",
                        f"fine-tuning, {args.preset}, batch {FINETUNE_BATCH}", "pairs", FINETUNE_BATCH,
                        finetuning_contenders(config, vocab, pairs, st_model, args.precision))
    print("  (all contenders but the last run the same shuffled batches; the last, in finetune.py's order, "
          "pads less)")
    return rows


def encoding_benchmark(args, config, vocab, pairs, st_model):
    sentences = list(dict.fromkeys(pairs.first + pairs.second))
    size = SENTENCES_PER_ENCODE_STEP
    chunks = [sentences[i:i + size] for i in range(0, len(sentences) - size + 1, size)]
    if not chunks:
        raise SystemExit(f"--pairs {args.pairs} gives {len(sentences)} distinct sentences; one timed encoding "
                         f"step needs {size}: use more pairs, or --only pretrain finetune")
    written, fused = agree_sentence_bert(config, vocab, "written"), agree_sentence_bert(config, vocab, "fused")

    def encoding(encode, **options):
        def step(index):
            with arithmetic(args.precision):
                return encode(chunks[index % len(chunks)], batch_size=ENCODE_BATCH, **options)
        return step

    contenders = {"SentenceTransformer.encode": encoding(st_model.encode, show_progress_bar=False),
                  'agree SentenceBERT.encode, attention="written"': encoding(written.encode),
                  'agree SentenceBERT.encode, attention="fused"': encoding(fused.encode)}
    rows = run_workload(args, f"Encoding: raw sentences in, embeddings out, batch {ENCODE_BATCH}",
                        f"encoding, {args.preset}, batch {ENCODE_BATCH}", "sentences", size, contenders)
    # The part of encoding that is not the model: NLTK in Python against a Rust WordPiece tokenizer.
    tokenizers = {"sentence-transformers tokenizing (its preprocess)": lambda i: st_model.preprocess(
                      chunks[i % len(chunks)]),
                  "agree tokenizing (NLTK, SentenceBERT.tokenize)": lambda i: written.tokenize(
                      chunks[i % len(chunks)])}
    return rows + run_workload(args, "Tokenizing alone, the first part of encoding", "tokenizing",
                               "sentences", size, tokenizers)


def mean_tokens(vocab, config, pairs, st_model):
    """Mean tokens per sentence under each tokenizer, [CLS] and [SEP] included: the two sides should see
    about the same amount of text."""
    sentences = pairs.first + pairs.second
    agree = sum(len(ids) for ids in agree_sentence_bert(config, vocab, "written").tokenize(sentences))
    theirs = int(st_model.preprocess(sentences)["attention_mask"].sum())
    return agree / len(sentences), theirs / len(sentences)


def sentence_bert_benchmarks(args):
    config = BertConfig.preset(args.preset, vocab_size=VOCAB_SIZE)
    pairs = snli_pairs(args)
    vocab = padded_vocabulary(pairs, VOCAB_SIZE)
    with tempfile.TemporaryDirectory() as directory:
        st_model = sentence_transformer(config, vocab, Path(directory))
    agree, theirs = mean_tokens(vocab, config, pairs, st_model)
    print(f"\n{len(pairs):,} SNLI dev pairs; tokens per sentence: agree (NLTK) {agree:.1f}, "
          f"sentence-transformers (WordPiece over the same vocabulary) {theirs:.1f}")
    rows = []
    if "finetune" in args.only:
        rows += finetuning_benchmark(args, config, vocab, pairs, st_model)
    if "encode" in args.only:
        rows += encoding_benchmark(args, config, vocab, pairs, st_model)
    return rows


# --- The machine and the summary ------------------------------------------------------------------------------

def machine():
    """CPU model, cores and vector extensions: they decide which matrix-multiply kernels run."""
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []

    def field(name):
        return next((line.split(":", 1)[1].strip() for line in info if line.startswith(name)), "")
    flags = field("flags").split()
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    amx = ", AMX" if "amx_tile" in flags else ""
    return f"{field('model name') or 'unknown CPU'}, {os.cpu_count()} cores, {vector}{amx}"


def versions():
    import sentence_transformers
    import transformers
    return (f"torch {torch.__version__}, transformers {transformers.__version__}, "
            f"sentence-transformers {sentence_transformers.__version__}")


def load_average():
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def print_summary(rows, args, argv, load_before):
    command = " ".join([".venv-bench/bin/python benchmarks/throughput.py", *argv])
    print(f"\n### Performance\n\n{machine()}; {versions()}; {args.threads} threads; {args.precision}; "
          f"{load_before} before, {load_average()} after (this run itself adds up to {args.threads}).\n")
    print("| workload | implementation | throughput (median step) | vs reference | fastest steps |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nThe first row of each workload is the reference. {args.steps} timed steps per contender, the "
          f"contenders taking turns, after {args.warmup} warm-up steps. Command:\n\n    {command}")


def main(argv=None):
    args = parse_args(argv)
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # the Rust tokenizer's thread pool, read on first use
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = load_average()
    print(f"{machine()}\n{versions()}, {torch.get_num_threads()} threads, {args.precision}, {load_before}")
    rows = []
    if "pretrain" in args.only:
        rows += pretraining_benchmark(args)
    if "finetune" in args.only or "encode" in args.only:
        rows += sentence_bert_benchmarks(args)
    print_summary(rows, args, sys.argv[1:] if argv is None else argv, load_before)


if __name__ == "__main__":
    main()
