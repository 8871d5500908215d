"""Pre-train BERT from scratch with masked-LM and next-sentence prediction.

    python pretrain.py --corpus ../shared/data/wikipedia/enwiki_00.txt.gz --data-dir ../shared/data \\
        --preset small --max-minutes 60 --out runs/bert

Each step draws a fresh batch (new sentence pairs, new masks) from a random generator seeded with
(seed, step), so a resumed run sees exactly the batches an uninterrupted one would. The recipe (Makefile)
changes a few of BERT's choices, each an option below, and adds one term to the loss: with
--neighbour-contrastive-weight W a step minimises the masked-LM loss plus W times a ranking of each
sentence's next sentence among the batch's (agree/pretraining.py).

--out is the checkpoint: config.json, vocab.txt, model.pt (weights), trainer.pt (optimizer, step, time
trained), metrics.jsonl and args.json, replaced as one unit at every save.
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

from agree import distributed, errors
from agree.atomic import atomic_write_json, read_json, recover_directory, remove_interrupted_saves, replace_directory
from agree.corpus import CorpusConfig, load_corpus
from agree.pretraining import StepConfig, evaluate_heldout, forward, load_pretrained_bert, neighbour_term, ratio_or_none
from agree.training import Budget, MetricsLog, StopRequest, TrainingLog, add_common_arguments, agreed_progress, \
                           check_resume, for_training, make_optimizer, pick_device, restore_training_state, seed_step, \
                           set_learning_rate, training_state, warmup_then_linear_decay, without_removed_options
from agree.transfer import TransferConfig, TransferSignals
from agree.weights import DIGESTS, save_tensors
from bert import BertConfig, BertForPreTraining
from masking import ExampleConfig, PretrainingData

# Options measured and not adopted, with the defaults at which they changed nothing (agree.training.REMOVED_AT
# has them): an older run's args.json may name them.
REMOVED_OPTIONS = {"neighbour_contrastive_from": 0.0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    data, model = parser.add_argument_group("data"), parser.add_argument_group("model")
    training = parser.add_argument_group("training")
    recipe = parser.add_argument_group("the recipe's changes to BERT's pre-training (Makefile; off by default)")
    evaluation = parser.add_argument_group("evaluation along the run")
    hardware = parser.add_argument_group("hardware and logging")
    data.add_argument("--corpus", nargs="+", help="wikitext-103, wikitext-2, or text files (.txt/.gz; "
                      "WikiText raw layout, or one paragraph per line and a blank line between documents), "
                      "and/or NLI training specs (snli:dev, sick:train, ...) whose sentences become text: "
                      "each premise with its hypotheses is a document; not needed with --resume, which "
                      "reads it from <out>/args.json")
    add_common_arguments(data, training, hardware, batch_size=32, lr=1e-4, warmup_fraction=0.01)
    data.add_argument("--max-samples", type=int, default=100_000,
                      help="paragraphs of the corpus to use; 0 for all (default: %(default)s)")
    data.add_argument("--vocab-size", type=int, default=30_000, help="(default: %(default)s)")
    data.add_argument("--exclude-sentences-of", default="", metavar="SPECS",
                      help="comma-separated test splits (e.g. snli:test,stsb:dev) whose sentences the NLI "
                      "sources of --corpus leave out, so pre-training never reads a test sentence")

    model.add_argument("--preset", choices=["tiny", "small", "base"], default="small",
                       help="model size (default: %(default)s)")
    model.add_argument("--max-len", type=int, help="sequence length (default: the preset's)")
    model.add_argument("--layers", type=int, help="encoder layers (default: the preset's)")
    model.add_argument("--d-model", type=int, help="hidden width (default: the preset's)")
    model.add_argument("--heads", type=int, help="attention heads (default: the preset's)")
    model.add_argument("--d-ff", type=int, help="feed-forward width (default: the preset's)")
    model.add_argument("--dropout", type=float, default=0.1, help="(default: %(default)s, as BERT; Cramming "
                       "pre-trains with 0, which is faster and loses little when the data is seen once)")
    model.add_argument("--no-bias", action="store_true", help="drop linear and LayerNorm biases "
                       "(a change from BERT, off by default)")

    training.add_argument("--mask-prob", type=float, default=0.15, help="share of the words to predict "
                          "(default: %(default)s, as BERT; Wettig et al. 2023 find 0.3-0.4 better for small "
                          "budgets)")
    training.add_argument("--save-every-minutes", type=float, default=10.0, help="(default: %(default)s)")
    training.add_argument("--keep-at-steps", type=int, nargs="*", default=[], metavar="S",
                          help="also keep the checkpoint as it is after S steps, in <out>-step<S> (for comparing "
                          "fine-tuning after different amounts of pre-training)")
    training.add_argument("--keep-at-minutes", type=float, nargs="*", default=[], metavar="M",
                          help="the same after M minutes of training, in <out>-<M>min")

    recipe.add_argument("--nli-share", type=float, help="share of the examples drawn from the NLI "
                        "sentences of --corpus (default: in proportion to their size)")
    recipe.add_argument("--no-nsp", action="store_true", help="no next-sentence prediction: each example "
                        "is one segment of running text and the loss is masked-LM only (RoBERTa, Cramming)")
    recipe.add_argument("--pre-layer-norm", action="store_true", help="LayerNorm before each block")
    recipe.add_argument("--neighbour-contrastive-weight", type=float, default=0.0, metavar="W",
                        help="add W times a sentence-level term to the loss: each sentence's mean-pooled "
                        "embedding should be nearer to the sentence after it in its document than to the "
                        "batch's other ones (in-batch negatives; a batch of such pairs beside every masked-LM "
                        "batch; not BERT's) (default: %(default)s)")
    recipe.add_argument("--length-passes", type=int, default=1, metavar="K",
                        help="run each batch through the model in K groups of examples of similar length, each "
                        "padded only to its own longest: the same loss and gradients with less arithmetic on "
                        "padding, so more steps in a time budget (default: %(default)s, the batch as one)")

    evaluation.add_argument("--eval-every", type=int, default=500,
                            help="steps between held-out evaluations (default: %(default)s; also at the end)")
    evaluation.add_argument("--eval-batches", type=int, default=20, help="held-out batches per evaluation "
                            "(default: %(default)s)")
    evaluation.add_argument("--transfer-sts", default="stsb:train", metavar="SPEC",
                            help="STS pairs for the zero-shot similarity signal at each evaluation; never a "
                            "reported split (default: %(default)s)")
    evaluation.add_argument("--transfer-nli", default="snli:dev", metavar="SPEC",
                            help="NLI training pairs for the frozen-encoder probe at each evaluation; never a "
                            "test split (default: %(default)s)")
    evaluation.add_argument("--no-transfer", action="store_true", help="skip the two transfer signals")

    hardware.add_argument("--attention", choices=["written", "fused"], default="written",
                          help="attention written out, or torch's fused kernel (same result; default: "
                          "%(default)s)")
    errors.add_debug_option(hardware)
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


def prepare(args, cluster):
    """The run's settings (the saved ones with --resume) and its data. Rank 0 goes first: it repairs a
    checkpoint that a crash left half-replaced (and removes what a killed save left beside it) and builds the
    corpus cache, which the other ranks then read."""
    with distributed.main_first(cluster):
        recover_directory(args.out)
        if cluster.is_main:
            remove_interrupted_saves(args.out)
        check_resume(args.out, args.resume, "trainer.pt")
        args = resumed_args(args) if args.resume else args
        data = load_data(args, args.max_len or BertConfig.preset(args.preset).max_len)
    if cluster.distributed and (args.neighbour_contrastive_weight or args.length_passes > 1):
        raise SystemExit("--neighbour-contrastive-weight and --length-passes run in one process only: the "
                         "data-parallel wrapper expects one forward pass per step")
    return args, data


def build(args, data, device):
    """The model (the same random start on every rank, or the saved one), AdamW, and how far the run is."""
    torch.manual_seed(args.seed)
    model = load_pretrained_bert(args.out, device)[0] if args.resume else \
        BertForPreTraining(model_config(args, len(data.corpus.vocab))).to(device)
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    if not args.resume:
        return model, optimizer, 0, 0.0
    state = restore_training_state(Path(args.out) / "trainer.pt", optimizer)
    return model, optimizer, state["step"], state["elapsed"]


# --- Training -----------------------------------------------------------------------------------------------

def train(args):
    cluster, device = distributed.join(pick_device(args.device))
    args, data = prepare(args, cluster)
    model, optimizer, step, elapsed = build(args, data, device)
    metrics = MetricsLog(Path(args.out) / "metrics.jsonl")
    checkpoints = Checkpoints(args, model, optimizer, data, metrics, device) if cluster.is_main else None
    if cluster.is_main:
        checkpoints.start(step, elapsed, cluster)
    # The budget's clock starts now: neither the set-up nor the evaluation of the random start is training.
    budget = Budget(args.max_steps, args.max_minutes, elapsed_before=elapsed)
    setup = StepConfig(distributed.per_rank_batch_size(args.batch_size, cluster), device, args.precision,
                       args.length_passes)  # how every step computes
    trained = for_training(model, cluster, device, args.compile)
    log = TrainingLog(metrics, cluster, partial(summarise, args=args, budget=budget), show, total=args.max_steps,
                      initial=step)
    with StopRequest() as stop, log:
        while (progress := agreed_progress(cluster, budget, step, stop)) < 1:
            lr = set_learning_rate(optimizer, args.lr * warmup_then_linear_decay(progress, args.warmup_fraction))
            rng = seed_step(args.seed, step, cluster.rank)  # the step's batch, masks and dropout
            batch = data.make_batch(rng, setup.batch_size)
            masked = forward(trained, batch, setup)  # masked words (and next sentence)
            neighbour = neighbour_term(model, data, rng, setup) if args.neighbour_contrastive_weight else torch.zeros(())
            loss = masked.loss + args.neighbour_contrastive_weight * neighbour
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            gradient_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_norm)  # before clipping
            optimizer.step()
            step += 1
            log.add(loss=loss.item(), mlm_loss=masked.mlm_loss.item(), nsp_loss=masked.nsp_loss.item(),
                    neighbour_loss=neighbour.item(), gradient_norm=gradient_norm.item(), **masked.counts)
            if step % args.log_every == 0:
                log.write({"step": step, "lr": lr}, fingerprint(batch))
            if cluster.is_main:
                checkpoints.after(step, budget)
        if log.steps:  # the steps since the last line
            log.write({"step": step, "lr": lr}, fingerprint(batch))
    if cluster.is_main:
        checkpoints.finish(step, budget, stop.requested)
    distributed.leave(cluster)


# --- The log ------------------------------------------------------------------------------------------------

def summarise(sums, steps, seconds, args, budget):
    """A metrics.jsonl line from the sums of the steps since the last one (over all ranks). The gradient
    norm is the one before clipping: when it is above --clip-norm, every part of the loss gets a smaller
    step."""
    record = {"loss": sums["loss"] / steps, "mlm_loss": sums["mlm_loss"] / steps,
              "nsp_loss": sums["nsp_loss"] / steps,
              "mlm_accuracy": sums["mlm_correct"] / max(1, sums["mlm_predictions"]),
              "nsp_accuracy": ratio_or_none(sums["nsp_correct"], sums["pairs"]),
              "gradient_norm": sums["gradient_norm"] / steps,
              "tokens_per_second": sums["tokens"] / max(seconds, 1e-9), "elapsed": budget.elapsed()}
    if args.neighbour_contrastive_weight:
        record["neighbour_loss"] = sums["neighbour_loss"] / steps
    return record


def show(record):
    """What the progress bar shows of a line."""
    shown = {"loss": f"{record['loss']:.3f}", "mlm": f"{record['mlm_accuracy']:.3f}"}
    if record["nsp_accuracy"] is not None:
        shown["nsp"] = f"{record['nsp_accuracy']:.3f}"
    if "neighbour_loss" in record:
        shown["neighbour"] = f"{record['neighbour_loss']:.3f}"
    return {**shown, "tok_s": f"{record['tokens_per_second']:,.0f}"}


def fingerprint(batch):
    """A checksum of a batch's tokens: with several ranks the log shows that each trains on its own data."""
    return hashlib.sha256(batch["input_ids"].cpu().numpy().tobytes()).hexdigest()[:12]


# --- Evaluations and checkpoints (rank 0) -------------------------------------------------------------------

class Checkpoints:
    """Rank 0's side of the run: args.json, the held-out evaluations (and transfer signals) appended to
    metrics.jsonl, and the checkpoint in --out, saved every --save-every-minutes and at the end, with the
    copies that --keep-at-steps and --keep-at-minutes ask for."""

    def __init__(self, args, model, optimizer, data, metrics, device):
        self.args, self.model, self.optimizer, self.data, self.metrics, self.device = \
            args, model, optimizer, data, metrics, device

    def start(self, step, elapsed, cluster):
        """Record the run's settings (or forget what was logged after the checkpoint we continue from), and
        measure the random start like every checkpoint after it."""
        args = self.args
        if args.resume:
            self.metrics.keep_until(step)
        else:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            atomic_write_json(Path(args.out) / "args.json", {**vars(args), "parameters": parameters(self.model)})
        print(f"{parameters(self.model):,} parameters, {len(self.data.corpus.vocab):,} words, "
              f"{self.data.corpus.num_documents:,} documents; {cluster.world_size} process(es) on {self.device}")
        self.transfer = transfer_signals(args, self.data, self.model.config.max_len)
        if step == 0:
            self.evaluate(0)
        self.last_save = time.monotonic()
        self.keep_steps = sorted(steps for steps in args.keep_at_steps if steps > step)
        self.keep_minutes = sorted(minutes for minutes in args.keep_at_minutes if minutes * 60 > elapsed)

    def after(self, step, budget):
        if step % self.args.eval_every == 0:
            self.evaluate(step)
        if time.monotonic() - self.last_save > self.args.save_every_minutes * 60:
            self.save(step, budget)
            self.last_save = time.monotonic()
        if self.keep_steps and step >= self.keep_steps[0]:
            self.keep_copy(step, budget, f"step{self.keep_steps.pop(0)}")
        if self.keep_minutes and budget.elapsed() >= self.keep_minutes[0] * 60:
            self.keep_copy(step, budget, f"{self.keep_minutes.pop(0):g}min")

    def keep_copy(self, step, budget, suffix):
        """The checkpoint as it is now, evaluated, in <out>-<suffix>."""
        self.evaluate(step)
        self.save(step, budget, out=f"{self.args.out}-{suffix}")

    def finish(self, step, budget, stopped):
        if not stopped and step % self.args.eval_every:
            self.evaluate(step)
        self.save(step, budget)
        print(("stopped; continue with --resume. " if stopped else "done. ") +
              f"{step:,} steps in {budget.elapsed() / 60:.1f} min; checkpoint in {self.args.out}")

    def evaluate(self, step):
        """Held-out masked-LM (and NSP) figures, plus the transfer signals of the encoder unless
        --no-transfer; appended to metrics.jsonl and shown above the progress bar."""
        args = self.args
        result = evaluate_heldout(self.model, self.data, args.seed, args.eval_batches, args.batch_size,
                                  self.device, args.precision)
        if self.transfer is not None:
            result.update(self.transfer(self.model.bert, self.device, args.precision))
        self.metrics.append({"step": step, **result})
        shown = {"heldout_mlm_accuracy": "held-out MLM", "heldout_nsp_accuracy": "NSP",
                 "sts_spearman": "STS Spearman", "probe_accuracy": "NLI probe"}
        tqdm.write(f"step {step}: " + ", ".join(f"{label} {result[key]:.4g}" for key, label in shown.items()
                                                if result.get(key) is not None))

    def save(self, step, budget, out=None):
        """Write the whole checkpoint beside `out` (--out), then swap it in: a crash leaves the old one or the
        new."""
        args, out = self.args, Path(out or self.args.out)
        config = {"kind": "bert", "model": self.model.config.to_dict(), "examples": asdict(self.data.config),
                  "corpus": {"sources": args.corpus, "max_samples": args.max_samples, "vocab_size": args.vocab_size,
                             "exclude": list(corpus_config(args).exclude)},
                  "tokenizer": self.data.corpus.vocab.settings(), "step": step}
        with replace_directory(out) as directory:
            for name in ("metrics.jsonl", "args.json"):  # written into --out as the run goes; carried over
                if (Path(args.out) / name).exists():
                    shutil.copy2(Path(args.out) / name, directory / name)
            # The digests of the two tensor files go into config.json, written last (agree/weights.py).
            config[DIGESTS] = {
                "model.pt": save_tensors({k: v.cpu() for k, v in self.model.state_dict().items()},
                                         directory / "model.pt"),
                "trainer.pt": save_tensors(training_state(self.optimizer, step, budget.elapsed()),
                                           directory / "trainer.pt")}
            self.data.corpus.vocab.save(directory / "vocab.txt")
            atomic_write_json(directory / "config.json", config)


def transfer_signals(args, data, max_len):
    """The two transfer signals (agree/transfer.py) on the run's vocabulary, or None with --no-transfer."""
    if args.no_transfer:
        return None
    config = TransferConfig(sts=args.transfer_sts, nli=args.transfer_nli)
    return TransferSignals(data.corpus.vocab, max_len, args.data_dir, args.cache_dir, config)


def parameters(model):
    return sum(p.numel() for p in model.parameters())


def main(argv=None):
    train(parse_args(argv))


if __name__ == "__main__":
    errors.run(main)
