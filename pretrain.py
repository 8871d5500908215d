"""Pre-train BERT from scratch with masked-LM and next-sentence prediction.

    python pretrain.py --corpus ../shared/data/wikipedia/enwiki_00.txt.gz --data-dir ../shared/data \\
        --preset small --max-minutes 60 --out runs/bert

Each step draws a fresh batch (new sentence pairs, new masks) from a random generator seeded with
(seed, step), so a resumed run sees exactly the batches an uninterrupted one would. --out is the checkpoint:
config.json, vocab.txt, model.pt (weights), trainer.pt (optimizer, step, random state), metrics.jsonl and
args.json, replaced as one unit at every save.
"""
import argparse
import hashlib
import shutil
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from agree import distributed
from agree.atomic import atomic_write_json, read_json, recover_directory, replace_directory
from agree.corpus import CorpusConfig, load_corpus
from agree.pretraining import evaluate_heldout, load_pretrained_bert, ratio_or_none, training_loss
from agree.training import Budget, MetricsLog, StopRequest, add_common_arguments, check_resume, make_optimizer, \
                           pick_device, restore_training_state, seed_step, set_learning_rate, training_state, \
                           warmup_then_linear_decay, without_removed_options
from agree.transfer import TransferConfig, TransferSignals
from bert import BertConfig, BertForPreTraining
from masking import ExampleConfig, PretrainingData

# Options measured and not adopted, with the defaults at which they changed nothing (agree.training.REMOVED_AT
# has them): an older run's args.json may name them.
REMOVED_OPTIONS = {"neighbour_contrastive_from": 0.0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--corpus", nargs="+", help="wikitext-103, wikitext-2, or text files (.txt/.gz; "
                        "WikiText raw layout, or one paragraph per line and a blank line between documents), "
                        "and/or NLI training specs (snli:dev, sick:train, ...) whose sentences become text: "
                        "each premise with its hypotheses is a document; not needed with --resume, which "
                        "reads it from <out>/args.json")
    parser.add_argument("--nli-share", type=float, help="share of the examples drawn from the NLI "
                        "sentences of --corpus (default: in proportion to their size)")
    parser.add_argument("--exclude-sentences-of", default="", metavar="SPECS",
                        help="comma-separated test splits (e.g. snli:test,stsb:dev) whose sentences the NLI "
                        "sources of --corpus leave out, so pre-training never reads a test sentence")
    parser.add_argument("--preset", choices=["tiny", "small", "base"], default="small",
                        help="model size (default: %(default)s)")
    parser.add_argument("--layers", type=int, help="encoder layers (default: the preset's)")
    parser.add_argument("--d-model", type=int, help="hidden width (default: the preset's)")
    parser.add_argument("--heads", type=int, help="attention heads (default: the preset's)")
    parser.add_argument("--d-ff", type=int, help="feed-forward width (default: the preset's)")
    parser.add_argument("--max-samples", type=int, default=100_000,
                        help="paragraphs of the corpus to use; 0 for all (default: %(default)s)")
    parser.add_argument("--vocab-size", type=int, default=30_000, help="(default: %(default)s)")
    parser.add_argument("--max-len", type=int, help="sequence length (default: the preset's)")
    parser.add_argument("--mask-prob", type=float, default=0.15, help="(default: %(default)s, as BERT; "
                        "Wettig et al. 2023 find 0.3-0.4 better for small budgets)")
    parser.add_argument("--no-nsp", action="store_true", help="no next-sentence prediction: each example "
                        "is one segment of running text and the loss is masked-LM only (RoBERTa, Cramming; "
                        "a change from BERT, off by default)")
    parser.add_argument("--neighbour-contrastive-weight", type=float, default=0.0, metavar="W",
                        help="add W times a sentence-level term: each sentence's mean-pooled embedding should "
                        "be nearer to the sentence after it in its document than to the batch's other ones "
                        "(in-batch negatives; a batch of such pairs beside every masked-LM batch; not BERT's, "
                        "off by default)")
    parser.add_argument("--length-passes", type=int, default=1, metavar="K",
                        help="run each batch through the model in K groups of examples of similar length, each "
                        "padded only to its own longest: the same loss and gradients with less arithmetic on "
                        "padding, so more steps in a time budget (default: %(default)s, the batch as one)")
    parser.add_argument("--attention", choices=["written", "fused"], default="written",
                        help="attention written out, or torch's fused kernel (same result; default: "
                        "%(default)s)")
    parser.add_argument("--pre-layer-norm", action="store_true", help="LayerNorm before each block "
                        "(a change from BERT, off by default)")
    parser.add_argument("--dropout", type=float, default=0.1, help="(default: %(default)s, as BERT; Cramming "
                        "pre-trains with 0, which is faster and loses little when the data is seen once)")
    parser.add_argument("--no-bias", action="store_true", help="drop linear and LayerNorm biases "
                        "(a change from BERT, off by default)")
    parser.add_argument("--eval-every", type=int, default=500,
                        help="steps between held-out evaluations (default: %(default)s; also at the end)")
    parser.add_argument("--eval-batches", type=int, default=20, help="held-out batches per evaluation")
    parser.add_argument("--transfer-sts", default="stsb:train", metavar="SPEC",
                        help="STS pairs for the zero-shot similarity signal at each evaluation; never a "
                        "reported split (default: %(default)s)")
    parser.add_argument("--transfer-nli", default="snli:dev", metavar="SPEC",
                        help="NLI training pairs for the frozen-encoder probe at each evaluation; never a test "
                        "split (default: %(default)s)")
    parser.add_argument("--no-transfer", action="store_true", help="skip the two transfer signals")
    parser.add_argument("--save-every-minutes", type=float, default=10.0, help="(default: %(default)s)")
    parser.add_argument("--keep-at-minutes", type=float, nargs="*", default=[], metavar="M",
                        help="also keep the checkpoint as it is after M minutes of training, in <out>-<M>min "
                        "(for comparing fine-tuning after different amounts of pre-training)")
    add_common_arguments(parser, batch_size=32, lr=1e-4, warmup_fraction=0.01)
    args = parser.parse_args(argv)
    if not args.corpus and not args.resume:
        parser.error("the following arguments are required: --corpus")
    return args


# --- Setup --------------------------------------------------------------------------------------------------

def resumed_args(args):
    """--resume continues with the saved settings; only the limits and the hardware (device, precision) may be
    given anew. An option the saved run predates takes its value from this command line; one it used that has
    left since stops it (agree.training.without_removed_options)."""
    path = Path(args.out) / "args.json"
    saved = argparse.Namespace(**{**vars(args), **without_removed_options(read_json(path), REMOVED_OPTIONS, path)})
    saved.resume = True
    for name in ("max_steps", "max_minutes", "device", "precision"):
        if getattr(args, name) not in (None, "auto"):
            setattr(saved, name, getattr(args, name))
    return saved


def model_config(args, vocab_size):
    overrides = dict(vocab_size=vocab_size, attention=args.attention, pre_layer_norm=args.pre_layer_norm,
                     bias=not args.no_bias, dropout=args.dropout)
    # A shape option given replaces the preset's value: the model's shape for the budget is a lever.
    shape = dict(max_len=args.max_len, n_layers=args.layers, d_model=args.d_model, n_heads=args.heads,
                 d_ff=args.d_ff)
    overrides.update({name: value for name, value in shape.items() if value})
    return BertConfig.preset(args.preset, **overrides)


def corpus_config(args):
    return CorpusConfig(max_samples=args.max_samples, vocab_size=args.vocab_size,
                        exclude=tuple(spec for spec in args.exclude_sentences_of.split(",") if spec))


def load_data(args, max_len):
    corpus = load_corpus(args.corpus, args.data_dir, args.cache_dir, corpus_config(args))
    return PretrainingData(corpus, ExampleConfig(max_len=max_len, mask_prob=args.mask_prob,
                                                 next_sentence=not args.no_nsp, nli_share=args.nli_share))


def transfer_signals(args, data, max_len):
    """The two transfer signals (transfer.py) on the run's vocabulary, or None with --no-transfer."""
    if args.no_transfer:
        return None
    config = TransferConfig(sts=args.transfer_sts, nli=args.transfer_nli)
    return TransferSignals(data.corpus.vocab, max_len, args.data_dir, args.cache_dir, config)


# --- Evaluation ---------------------------------------------------------------------------------------------

def evaluate(model, data, transfer, args, device):
    """Held-out masked-LM (and NSP) figures, plus the transfer signals of the encoder when asked for."""
    result = evaluate_heldout(model, data, args.seed, args.eval_batches, args.batch_size, device, args.precision)
    if transfer is not None:
        result.update(transfer(model.bert, device, args.precision))
    return result


def report(metrics, step, result):
    """Append an evaluation to metrics.jsonl and show it above the progress bar."""
    metrics.append({"step": step, **result})
    shown = {"heldout_mlm_accuracy": "held-out MLM", "heldout_nsp_accuracy": "NSP",
             "sts_spearman": "STS Spearman", "probe_accuracy": "NLI probe"}
    tqdm.write(f"step {step}: " + ", ".join(f"{label} {result[key]:.4g}" for key, label in shown.items()
                                            if result.get(key) is not None))


# --- Checkpoints --------------------------------------------------------------------------------------------

def save_checkpoint(args, model, optimizer, data, step, budget, out=None):
    """Write the whole checkpoint beside `out` (--out), then swap it in: a crash leaves the old one or the
    new."""
    out = Path(out or args.out)
    config = {"kind": "bert", "model": model.config.to_dict(), "examples": asdict(data.config),
              "corpus": {"sources": args.corpus, "max_samples": args.max_samples, "vocab_size": args.vocab_size,
                         "exclude": list(corpus_config(args).exclude)},
              "tokenizer": data.corpus.vocab.settings(), "step": step}
    with replace_directory(out) as directory:
        for name in ("metrics.jsonl", "args.json"):  # written into --out as the run goes; carried over
            if (Path(args.out) / name).exists():
                shutil.copy2(Path(args.out) / name, directory / name)
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, directory / "model.pt")
        torch.save(training_state(optimizer, step, budget.elapsed()), directory / "trainer.pt")
        data.corpus.vocab.save(directory / "vocab.txt")
        atomic_write_json(directory / "config.json", config)


# --- Training -----------------------------------------------------------------------------------------------

def train(args):
    cluster, device = distributed.join(pick_device(args.device))
    with distributed.main_first(cluster):
        recover_directory(args.out)
        check_resume(args.out, args.resume, "trainer.pt")
        args = resumed_args(args) if args.resume else args
        data = load_data(args, args.max_len or BertConfig.preset(args.preset).max_len)
    batch_size = distributed.per_rank_batch_size(args.batch_size, cluster)
    if cluster.distributed and (args.neighbour_contrastive_weight or args.length_passes > 1):
        raise SystemExit("--neighbour-contrastive-weight and --length-passes run in one process only: the "
                         "data-parallel wrapper expects one forward pass per step")
    torch.manual_seed(args.seed)  # every rank starts from the same weights
    model = load_pretrained_bert(args.out, device)[0] if args.resume else \
        BertForPreTraining(model_config(args, len(data.corpus.vocab))).to(device)
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    step, elapsed = 0, 0.0
    if args.resume:
        state = restore_training_state(Path(args.out) / "trainer.pt", optimizer)
        step, elapsed = state["step"], state["elapsed"]
    metrics = MetricsLog(Path(args.out) / "metrics.jsonl")
    if cluster.is_main:
        start_log(args, model, metrics, step)
        print(f"{sum(p.numel() for p in model.parameters()):,} parameters, {len(data.corpus.vocab):,} words, "
              f"{data.corpus.num_documents:,} documents; {cluster.world_size} process(es) on {device}")
        transfer = transfer_signals(args, data, model.config.max_len)
        evaluate_now = partial(evaluate, model, data, transfer, args, device)
        if step == 0:  # the random start, measured like every checkpoint after it
            report(metrics, 0, evaluate_now())
    budget = Budget(args.max_steps, args.max_minutes, elapsed_before=elapsed)
    trained = distributed.wrap(model.train(), cluster, device)
    trained = torch.compile(trained) if args.compile else trained
    window, last_save = Window(), time.monotonic()
    keep_at = sorted(m for m in args.keep_at_minutes if m * 60 > budget.elapsed())
    with StopRequest() as stop, tqdm(total=args.max_steps, initial=step, unit="step",
                                     disable=not cluster.is_main) as progress:
        while True:
            run_progress, stopping = distributed.agree_max(cluster, [budget.progress(step), stop.requested])
            if run_progress >= 1 or stopping:
                break
            lr = args.lr * warmup_then_linear_decay(run_progress, args.warmup_fraction)
            set_learning_rate(optimizer, lr)
            loss, batch, counts, parts = training_loss(
                trained, model.bert, data, seed_step(args.seed, step, cluster.rank), batch_size, device,
                args.precision, args.length_passes, args.neighbour_contrastive_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # The norm before clipping, logged: when it is above --clip-norm every part of the loss gets a
            # smaller step, and the parts share what is left (RESULTS.md §4, the fifth lever).
            gradient_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_norm)
            optimizer.step()
            step += 1
            progress.update()
            window.add(batch, counts, loss=loss.item(), gradient_norm=gradient_norm.item(), **parts)
            if step % args.log_every == 0:
                log(metrics, window.close(step, lr, budget, cluster), progress, cluster)
            if step % args.eval_every == 0 and cluster.is_main:
                report(metrics, step, evaluate_now())
            if cluster.is_main and time.monotonic() - last_save > args.save_every_minutes * 60:
                save_checkpoint(args, model, optimizer, data, step, budget)
                last_save = time.monotonic()
            if cluster.is_main and keep_at and budget.elapsed() >= keep_at[0] * 60:
                minutes = keep_at.pop(0)
                report(metrics, step, evaluate_now())
                save_checkpoint(args, model, optimizer, data, step, budget, out=f"{args.out}-{minutes:g}min")
        if window.steps:
            log(metrics, window.close(step, lr, budget, cluster), progress, cluster)
    if cluster.is_main:
        if not stop.requested and step % args.eval_every:
            report(metrics, step, evaluate_now())
        save_checkpoint(args, model, optimizer, data, step, budget)
        print(("stopped; continue with --resume. " if stop.requested else "done. ") +
              f"{step:,} steps in {budget.elapsed() / 60:.1f} min; checkpoint in {args.out}")
    distributed.leave(cluster)


def start_log(args, model, metrics, step):
    if args.resume:
        metrics.keep_until(step)  # forget what was logged after the checkpoint we continue from
    else:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        atomic_write_json(Path(args.out) / "args.json",
                          {**vars(args), "parameters": sum(p.numel() for p in model.parameters())})


class Window:
    """Sums over the steps since the last log line."""

    def __init__(self):
        self.sums, self.steps, self.started, self.last_batch = {}, 0, time.monotonic(), None

    def add(self, batch, counts, **losses):
        for name, value in {**counts, **losses}.items():
            self.sums[name] = self.sums.get(name, 0) + value
        self.steps += 1
        self.last_batch = batch

    def close(self, step, lr, budget, cluster):
        """A metrics record for the window (summed over all ranks), and a fresh window."""
        sums = distributed.sum_over_ranks(cluster, self.sums)
        ranks = cluster.world_size
        record = {"step": step, "lr": lr, "loss": sums["loss"] / (self.steps * ranks),
                  "mlm_loss": sums["mlm_loss"] / (self.steps * ranks),
                  "nsp_loss": sums["nsp_loss"] / (self.steps * ranks),
                  "mlm_accuracy": sums["mlm_correct"] / max(1, sums["mlm_predictions"]),
                  "nsp_accuracy": ratio_or_none(sums["nsp_correct"], sums["pairs"]),
                  "gradient_norm": sums["gradient_norm"] / (self.steps * ranks),
                  "tokens_per_second": sums["tokens"] / max(time.monotonic() - self.started, 1e-9),
                  "elapsed": budget.elapsed()}
        if "neighbour_loss" in sums:
            record["neighbour_loss"] = sums["neighbour_loss"] / (self.steps * ranks)
        if cluster.distributed:  # proof that the ranks train on different data
            record["rank_batches"] = distributed.gather(cluster, fingerprint(self.last_batch["input_ids"]))
        self.__init__()
        return record


def fingerprint(tensor):
    return hashlib.sha256(tensor.cpu().numpy().tobytes()).hexdigest()[:12]


def log(metrics, record, progress, cluster):
    if cluster.is_main:
        metrics.append(record)
        nsp = {} if record["nsp_accuracy"] is None else {"nsp": f"{record['nsp_accuracy']:.3f}"}
        if "neighbour_loss" in record:
            nsp["neighbour"] = f"{record['neighbour_loss']:.3f}"
        progress.set_postfix(loss=f"{record['loss']:.3f}", mlm=f"{record['mlm_accuracy']:.3f}", **nsp,
                             tok_s=f"{record['tokens_per_second']:,.0f}")


def main(argv=None):
    train(parse_args(argv))


if __name__ == "__main__":
    main()
