"""Fine-tune a pre-trained BERT into a Sentence-BERT on natural-language inference.

The SBERT paper's classification objective: each sentence is encoded on its own by the shared BERT, mean
pooled into u and v, and softmax(Wᵀ(u, v, |u - v|)) is trained with cross-entropy on the three labels.
Defaults follow the paper: batch 16, AdamW at 2e-5, 10% linear warm-up then linear decay, 1 epoch. The
recipe (Makefile) adds one term to that loss: with --contrastive-weight W a step minimises SoftmaxLoss plus
W times an in-batch ranking of each entailment pair's hypothesis (agree/contrastive.py).

    python finetune.py --bert runs/bert --train snli:dev,mnli:dev_matched,sick:train --val sick:trial \\
        --data-dir ../shared/data --out runs/sbert

--out receives the best model on the validation data (config.json, vocab.txt, model.pt), metrics.jsonl,
args.json, and last/ — the latest state, from which --resume continues exactly.
"""
import argparse
import math
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from agree import distributed, errors
from agree.atomic import atomic_write_json, read_json, recover_directory, remove_interrupted_saves, replace_directory
from agree.contrastive import in_batch_contrastive_loss
from agree.datasets import load_pairs, split_pairs
from agree.encoded_pairs import batches_per_epoch, evaluation_batches, load_encoded_pairs, training_batches
from agree.training import Budget, MetricsLog, StopRequest, TrainingLog, add_common_arguments, agreed_progress, \
                           autocast, check_resume, evaluation_mode, for_training, make_optimizer, pick_device, \
                           restore_training_state, seed_step, set_learning_rate, training_state, \
                           warmup_then_linear_decay, without_removed_options
from agree.weights import record_digest, save_tensors
from bert import BertConfig
from data import Vocab, tokenize, use_nltk_data
from sbert import FEATURES, POOLINGS, SentenceBERT, SentenceBertConfig

# Options measured and not adopted, with the defaults at which they changed nothing (agree.training.REMOVED_AT
# has them): an older run's args.json may name them.
REMOVED_OPTIONS = {"train_fraction": 1.0, "encoder_lr_scale": 1.0, "freeze_word_embeddings": False,
                   "head_first_steps": 0, "contrastive_scale": 20.0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    model, data = parser.add_argument_group("model"), parser.add_argument_group("data")
    training = parser.add_argument_group("training")
    recipe = parser.add_argument_group("the recipe's addition to SBERT's objective (Makefile; off by default)")
    evaluation = parser.add_argument_group("validation")
    hardware = parser.add_argument_group("hardware and logging")
    model.add_argument("--bert", required=True, help="a pretrain.py checkpoint directory, a Hugging Face BERT "
                       "directory (config.json, vocab.txt, model.safetensors or pytorch_model.bin; its WordPiece "
                       "tokenizer comes along), or 'none' to start from random weights (the ablation that shows "
                       "what pre-training buys)")
    model.add_argument("--random-init", action="store_true", help="with a --bert checkpoint: keep its "
                       "architecture and vocabulary but start from random weights (the like-for-like baseline)")
    model.add_argument("--pooling", choices=POOLINGS, default="mean", help="(default: %(default)s)")
    model.add_argument("--features", choices=FEATURES, default="u,v,|u-v|",
                       help="what the classifier sees (default: %(default)s)")
    model.add_argument("--dropout", type=float, default=0.1,
                       help="dropout in the encoder while fine-tuning (default: %(default)s, as BERT)")
    model.add_argument("--preset", choices=["tiny", "small", "base"], default="small",
                       help="model size with --bert none (default: %(default)s)")
    model.add_argument("--vocab", help="with --bert none: a vocab.txt to use (e.g. a pre-trained "
                       "checkpoint's, for a like-for-like comparison); default: built from --train")
    model.add_argument("--vocab-size", type=int, default=30000, help="with --bert none and no --vocab "
                       "(default: %(default)s)")

    data.add_argument("--train", required=True, help="dataset specs, comma separated: snli:train, "
                      "mnli:train, sick:train, a local .jsonl/.tsv/.csv file, ...")
    validation = data.add_mutually_exclusive_group()
    validation.add_argument("--val", help="validation dataset spec(s); the best model on it is kept")
    validation.add_argument("--val-fraction", type=float, help="hold out this share of --train instead")
    training.add_argument("--epochs", type=int, default=1, help="(default: %(default)s, as the SBERT paper)")
    add_common_arguments(data, training, hardware, batch_size=16, lr=2e-5, warmup_fraction=0.1)

    recipe.add_argument("--contrastive-weight", type=float, default=0.0, metavar="W", help="add W times an "
                        "in-batch contrastive loss on the entailment pairs (supervised SimCSE) to SoftmaxLoss; "
                        "0 trains SBERT's objective alone (default: %(default)s)")
    evaluation.add_argument("--eval-every", type=int, default=0,
                            help="also validate every N steps (default: at the end of each epoch only)")
    errors.add_debug_option(hardware)
    return parser.parse_args(argv)


# --- Model and data -----------------------------------------------------------------------------------------

def build_model(args):
    if args.bert != "none":
        return SentenceBERT.from_pretrained_bert(args.bert, args.pooling, args.features, args.dropout,
                                                 weights=not args.random_init)
    if args.vocab:
        vocab = Vocab.load(args.vocab)
    else:
        pairs = load_pairs(args.train, args.data_dir)
        vocab = Vocab.from_counts(Counter(w for s in pairs.first + pairs.second for w in tokenize(s)),
                                  args.vocab_size)
    config = SentenceBertConfig(BertConfig.preset(args.preset, vocab_size=len(vocab), dropout=args.dropout),
                                args.pooling, args.features)
    return SentenceBERT(config, vocab)


def load_data(args, model):
    """Token ids of the training and validation pairs (validation None when neither option is given)."""
    encode = lambda specs: load_encoded_pairs(specs, model.vocab, model.config.bert.max_len, args.data_dir,
                                              cache_dir=args.cache_dir)
    train, val = encode(args.train), None
    if args.val:
        val = encode(args.val)
    elif args.val_fraction:
        train, val = split_pairs(train, args.val_fraction, args.seed)
    return train, val


def prepare(args, cluster):
    """The model (the same random start on every rank, or the saved one with --resume) and the pairs. Rank 0
    goes first: it repairs the state a crash left half-replaced (and removes what a killed save left), tokenizes
    and caches; the other ranks read the cache."""
    with distributed.main_first(cluster):
        recover_directory(f"{args.out}/last")
        if cluster.is_main:
            remove_interrupted_saves(args.out)
            remove_interrupted_saves(f"{args.out}/last")
        check_resume(args.out, args.resume, "last/trainer.pt")
        saved = Path(args.out, "args.json")
        if args.resume and saved.exists():  # a run of an older version may have used an option since removed
            without_removed_options(read_json(saved), REMOVED_OPTIONS, saved)
        torch.manual_seed(args.seed)
        model = SentenceBERT.load(f"{args.out}/last") if args.resume else build_model(args)
        train_pairs, val = load_data(args, model)
    return model, train_pairs, val


@torch.inference_mode()
def validate(model, pairs, batch_size, device, precision="auto"):
    loss_sum, correct = 0.0, 0
    with evaluation_mode(model):
        for batch in evaluation_batches(pairs, batch_size):
            with autocast(device, precision):
                logits, _, _ = model(batch["first_ids"].to(device), batch["second_ids"].to(device))
            labels = batch["labels"].to(device)
            loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").item()
            correct += (logits.argmax(-1) == labels).sum().item()
    return {"val_loss": loss_sum / len(pairs), "val_accuracy": correct / len(pairs)}


# --- Training -----------------------------------------------------------------------------------------------

class Run:
    """The loop's position, saved with each checkpoint: resuming restores it and continues exactly."""

    def __init__(self, state=None):
        state = state or {}
        self.step = state.get("step", 0)
        self.epoch = state.get("epoch", 0)
        self.batch_in_epoch = state.get("batch_in_epoch", 0)
        self.best_val_accuracy = state.get("best_val_accuracy", -math.inf)

    def to_dict(self):
        return {"epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "best_val_accuracy": self.best_val_accuracy}

    def end_epoch_if_done(self, per_epoch):
        """After the epoch's last batch: count the epoch and return True."""
        if self.batch_in_epoch < per_epoch:
            return False
        self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        return True


def position(args, optimizer):
    """Where the run starts, and the seconds it trained before: the start, or where --resume's state left it."""
    if not args.resume:
        return Run(), 0.0
    state = restore_training_state(f"{args.out}/last/trainer.pt", optimizer)
    return Run(state), state["elapsed"]


def remaining_batches(pairs, args, run, cluster):
    """This rank's share of every global batch still to train, from the run's position on."""
    for epoch in range(run.epoch, args.epochs):
        skip = run.batch_in_epoch if epoch == run.epoch else 0
        yield from training_batches(pairs, args.batch_size, args.seed, epoch, skip, cluster.rank,
                                    cluster.world_size)


def train(args):
    cluster, device = distributed.join(pick_device(args.device))
    use_nltk_data(args.data_dir)
    model, train_pairs, val = prepare(args, cluster)
    model.to(device).train()
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    run, elapsed = position(args, optimizer)
    per_epoch = batches_per_epoch(train_pairs, args.batch_size, min_batch=cluster.world_size)
    total_steps = min(args.epochs * per_epoch, args.max_steps or math.inf)
    metrics = MetricsLog(f"{args.out}/metrics.jsonl")
    checkpoints = Checkpoints(args, model, optimizer, val, metrics, device, run.step) if cluster.is_main else None
    if cluster.is_main:
        checkpoints.start(run, train_pairs)
        print(f"{len(train_pairs):,} training pairs, {per_epoch:,} batches of {args.batch_size} per epoch, "
              f"{total_steps:,} steps; {cluster.world_size} process(es) on {device}")
    budget = Budget(total_steps, args.max_minutes, elapsed_before=elapsed)
    trained = for_training(model, cluster, device, args.compile)
    log = TrainingLog(metrics, cluster, summarise, show, total=total_steps, initial=run.step)
    with StopRequest() as stop, log:
        for batch in remaining_batches(train_pairs, args, run, cluster):
            if (progress := agreed_progress(cluster, budget, run.step, stop)) >= 1:
                break
            lr = set_learning_rate(optimizer, args.lr * warmup_then_linear_decay(progress, args.warmup_fraction))
            seed_step(args.seed, run.step, cluster.rank)  # dropout masks
            labels = batch["labels"].to(device)
            with autocast(device, args.precision):
                logits, u, v = trained(batch["first_ids"].to(device), batch["second_ids"].to(device))
            softmax_loss = F.cross_entropy(logits.float(), labels)  # SBERT's classification objective
            loss = softmax_loss + args.contrastive_weight * in_batch_contrastive_loss(u, v, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_norm)
            optimizer.step()
            run.step, run.batch_in_epoch = run.step + 1, run.batch_in_epoch + 1
            log.add(loss=loss.item() * len(labels), correct=(logits.argmax(-1) == labels).sum().item(),
                    pairs=len(labels))
            if run.step % args.log_every == 0:
                log.write({"step": run.step, "epoch": run.epoch, "lr": lr}, batch["indices"].tolist())
            epoch_ended = run.end_epoch_if_done(per_epoch)  # after the line, which counts the step in its epoch
            if cluster.is_main and (epoch_ended or (args.eval_every and run.step % args.eval_every == 0)):
                checkpoints.validate_and_save(run, budget)
        if log.steps:  # the steps since the last line
            log.write({"step": run.step, "epoch": run.epoch, "lr": lr}, batch["indices"].tolist())
    if cluster.is_main:
        checkpoints.finish(run, budget, stop.requested)
    distributed.leave(cluster)


def summarise(sums, steps, seconds):
    """A metrics.jsonl line from the sums of the steps since the last one (over all ranks)."""
    return {"loss": sums["loss"] / sums["pairs"], "train_accuracy": sums["correct"] / sums["pairs"]}


def show(record):
    """What the progress bar shows of a line."""
    return {"loss": f"{record['loss']:.3f}", "acc": f"{record['train_accuracy']:.3f}"}


# --- Validation and checkpoints (rank 0) --------------------------------------------------------------------

class Checkpoints:
    """Rank 0's side of the run: args.json, the validations in metrics.jsonl, --out (the model that
    validated best, or the last one without validation data) and --out/last (the state for --resume)."""

    def __init__(self, args, model, optimizer, val, metrics, device, validated_at):
        self.args, self.model, self.optimizer, self.val, self.metrics, self.device = \
            args, model, optimizer, val, metrics, device
        self.validated_at = validated_at  # the step of the last validation

    def start(self, run, train_pairs):
        """Record the run's settings, or forget what was logged after the checkpoint we continue from."""
        if self.args.resume:
            self.metrics.keep_until(run.step)
        else:
            atomic_write_json(f"{self.args.out}/args.json", {
                **vars(self.args), "train_pairs": len(train_pairs), "val_pairs": len(self.val) if self.val else 0,
                "parameters": sum(p.numel() for p in self.model.parameters())})

    def validate_and_save(self, run, budget):
        """Validate; when the accuracy is the best so far, the model becomes --out's model. Then save the
        state for --resume."""
        self.validated_at = run.step
        if self.val is not None:
            result = validate(self.model, self.val, max(64, self.args.batch_size), self.device, self.args.precision)
            self.metrics.append({"step": run.step, "epoch": run.epoch, **result})
            if result["val_accuracy"] > run.best_val_accuracy:
                run.best_val_accuracy = result["val_accuracy"]
                self.model.save(self.args.out)
            tqdm.write(f"step {run.step}: validation accuracy {result['val_accuracy']:.4f} "
                       f"(best {run.best_val_accuracy:.4f})")
        self.save_last(run, budget)

    def save_last(self, run, budget):
        with replace_directory(f"{self.args.out}/last") as directory:
            self.model.save(directory)
            state = training_state(self.optimizer, run.step, budget.elapsed(), **run.to_dict())
            record_digest(directory, "trainer.pt", save_tensors(state, directory / "trainer.pt"))

    def finish(self, run, budget, stopped):
        """A run that ended (not one interrupted) validates once more if its last steps were not validated
        yet; without validation data its final model is the model. Then save the state for --resume."""
        if self.val is None:
            self.model.save(self.args.out)
        if not stopped and self.validated_at != run.step:
            self.validate_and_save(run, budget)
        else:
            self.save_last(run, budget)
        print(("stopped; continue with --resume. " if stopped else "done. ") +
              f"{run.step:,} steps in {budget.elapsed() / 60:.1f} min; model in {self.args.out}")


def main(argv=None):
    train(parse_args(argv))


if __name__ == "__main__":
    errors.run(main)
