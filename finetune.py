"""Fine-tune a pre-trained BERT into a Sentence-BERT on natural-language inference.

The SBERT paper's classification objective: each sentence is encoded on its own by the shared BERT, mean
pooled into u and v, and softmax(Wᵀ(u, v, |u - v|)) is trained with cross-entropy on the three labels.
Defaults follow the paper: batch 16, AdamW at 2e-5, 10% linear warm-up then linear decay, 1 epoch.

    python finetune.py --bert runs/bert --train snli:dev,mnli:dev_matched,sick:train --val sick:trial \\
        --data-dir ../shared/data --out runs/sbert

--out receives the best model on the validation data (config.json, vocab.txt, model.pt), metrics.jsonl,
args.json, and last/ — the latest state, from which --resume continues exactly.
"""
import argparse
import math
from collections import Counter

import torch
import torch.nn.functional as F
from tqdm import tqdm

from atomic import atomic_write_json, replace_directory
from bert import BertConfig
from data import Vocab, tokenize, use_nltk_data
from nli import batches_per_epoch, evaluation_batches, load_encoded_pairs, load_pairs, split_pairs, \
    training_batches
from sbert import FEATURES, POOLINGS, SentenceBERT, SentenceBertConfig
from training import Budget, MetricsLog, StopRequest, add_common_arguments, autocast, check_resume, \
    make_optimizer, pick_device, restore_training_state, set_learning_rate, training_state, \
    warmup_then_linear_decay


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--bert", required=True, help="a pretrain.py checkpoint directory, or 'none' to "
                        "start from random weights (the ablation that shows what pre-training buys)")
    parser.add_argument("--train", required=True, help="dataset specs, comma separated: snli:train, "
                        "mnli:train, sick:train, a local .jsonl/.tsv/.csv file, ...")
    validation = parser.add_mutually_exclusive_group()
    validation.add_argument("--val", help="validation dataset spec(s); the best model on it is kept")
    validation.add_argument("--val-fraction", type=float, help="hold out this share of --train instead")
    parser.add_argument("--epochs", type=int, default=1, help="(default: %(default)s, as the SBERT paper)")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="also validate every N steps (default: at the end of each epoch only)")
    parser.add_argument("--pooling", choices=POOLINGS, default="mean", help="(default: %(default)s)")
    parser.add_argument("--features", choices=FEATURES, default="u,v,|u-v|",
                        help="what the classifier sees (default: %(default)s)")
    parser.add_argument("--dropout", type=float, default=0.1,
                        help="dropout in the encoder while fine-tuning (default: %(default)s, as BERT)")
    parser.add_argument("--preset", choices=["tiny", "small", "base"], default="small",
                        help="model size with --bert none (default: %(default)s)")
    parser.add_argument("--vocab", help="with --bert none: a vocab.txt to use (e.g. a pre-trained "
                        "checkpoint's, for a like-for-like comparison); default: built from --train")
    parser.add_argument("--vocab-size", type=int, default=30000, help="with --bert none and no --vocab")
    add_common_arguments(parser, batch_size=16, lr=2e-5, warmup_fraction=0.1)
    return parser.parse_args(argv)


# --- Model and data -----------------------------------------------------------------------------------------

def build_model(args):
    if args.bert != "none":
        return SentenceBERT.from_pretrained_bert(args.bert, args.pooling, args.features, args.dropout)
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
    train = encode(args.train)
    if args.val:
        return train, encode(args.val)
    if args.val_fraction:
        return split_pairs(train, args.val_fraction, args.seed)
    return train, None


@torch.inference_mode()
def validate(model, pairs, batch_size, device):
    model.eval()
    loss_sum, correct = 0.0, 0
    for batch in evaluation_batches(pairs, batch_size):
        with autocast(device):
            logits, _, _ = model(batch["first_ids"].to(device), batch["second_ids"].to(device))
        labels = batch["labels"].to(device)
        loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").item()
        correct += (logits.argmax(-1) == labels).sum().item()
    model.train()
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


def save_last(args, model, optimizer, run, budget):
    with replace_directory(f"{args.out}/last") as directory:
        model.save(directory)
        torch.save(training_state(optimizer, run.step, budget.elapsed(), **run.to_dict()),
                   directory / "trainer.pt")


def check_and_keep_best(args, model, val, run, metrics, device):
    """Validate; when the accuracy is the best so far, the model becomes --out's model."""
    if val is None:
        return
    result = validate(model, val, max(64, args.batch_size), device)
    metrics.append({"step": run.step, "epoch": run.epoch, **result})
    if result["val_accuracy"] > run.best_val_accuracy:
        run.best_val_accuracy = result["val_accuracy"]
        model.save(args.out)
    tqdm.write(f"step {run.step}: validation accuracy {result['val_accuracy']:.4f} "
               f"(best {run.best_val_accuracy:.4f})")


def train(args):
    check_resume(args.out, args.resume, "last/trainer.pt")
    use_nltk_data(args.data_dir)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    model = SentenceBERT.load(f"{args.out}/last") if args.resume else build_model(args)
    train_pairs, val = load_data(args, model)
    model.to(device).train()
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    metrics = MetricsLog(f"{args.out}/metrics.jsonl")
    per_epoch = batches_per_epoch(train_pairs, args.batch_size)
    total_steps = min(args.epochs * per_epoch, args.max_steps or math.inf)
    if args.resume:
        state = restore_training_state(f"{args.out}/last/trainer.pt", optimizer)
        run, elapsed = Run(state), state["elapsed"]
        metrics.keep_until(run.step)
    else:
        run, elapsed = Run(), 0.0
        atomic_write_json(f"{args.out}/args.json", {**vars(args), "train_pairs": len(train_pairs),
                                                    "val_pairs": len(val) if val else 0,
                                                    "parameters": sum(p.numel() for p in model.parameters())})
    budget = Budget(total_steps, args.max_minutes, elapsed_before=elapsed)
    print(f"{len(train_pairs):,} training pairs, {per_epoch:,} batches of {args.batch_size} per epoch, "
          f"{total_steps:,} steps on {device}")
    with StopRequest() as stop, tqdm(total=total_steps, initial=run.step, unit="step") as progress:
        window = Counter()
        while run.epoch < args.epochs and not budget.finished(run.step) and not stop.requested:
            for batch in training_batches(train_pairs, args.batch_size, args.seed, run.epoch,
                                          skip=run.batch_in_epoch):
                lr = args.lr * warmup_then_linear_decay(budget.progress(run.step), args.warmup_fraction)
                set_learning_rate(optimizer, lr)
                labels = batch["labels"].to(device)
                with autocast(device):
                    logits, _, _ = model(batch["first_ids"].to(device), batch["second_ids"].to(device))
                loss = F.cross_entropy(logits.float(), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_norm)
                optimizer.step()
                run.step += 1
                run.batch_in_epoch += 1
                window.update(loss=loss.item() * len(labels), correct=(logits.argmax(-1) == labels).sum().item(),
                              pairs=len(labels), steps=1)
                progress.update()
                if run.step % args.log_every == 0 or run.step == total_steps:
                    record = {"step": run.step, "epoch": run.epoch, "lr": lr,
                              "loss": window["loss"] / window["pairs"],
                              "train_accuracy": window["correct"] / window["pairs"]}
                    metrics.append(record)
                    progress.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['train_accuracy']:.3f}")
                    window.clear()
                if args.eval_every and run.step % args.eval_every == 0:
                    check_and_keep_best(args, model, val, run, metrics, device)
                    save_last(args, model, optimizer, run, budget)
                if budget.finished(run.step) or stop.requested:
                    break
            else:  # the epoch ran to its end
                run.epoch, run.batch_in_epoch = run.epoch + 1, 0
                if not (args.eval_every and run.step % args.eval_every == 0):
                    check_and_keep_best(args, model, val, run, metrics, device)
    finish(args, model, optimizer, run, budget, val, metrics, device, stopped=stop.requested)


def finish(args, model, optimizer, run, budget, val, metrics, device, stopped):
    """Save the state for --resume. A run that ended (not one interrupted) validates once more if its
    last steps were not validated yet, and without validation data its final model is the model."""
    validated_now = args.eval_every and run.step % args.eval_every == 0
    if not stopped and run.batch_in_epoch and not validated_now:  # ended mid-epoch by a step/time limit
        check_and_keep_best(args, model, val, run, metrics, device)
    if val is None:
        model.save(args.out)
    save_last(args, model, optimizer, run, budget)
    print(("stopped; continue with --resume. " if stopped else "done. ") +
          f"{run.step:,} steps in {budget.elapsed() / 60:.1f} min; model in {args.out}")


def main(argv=None):
    train(parse_args(argv))


if __name__ == "__main__":
    main()
