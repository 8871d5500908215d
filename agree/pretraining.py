"""The losses of a pre-training step (pretrain.py), and the held-out evaluation (pretrain.py, evaluate.py).

- `forward`: the masked-LM (and next-sentence) loss of a batch of masking.py examples, with the counts behind
  the accuracies. With --length-passes it runs the batch in groups of examples of similar length
  (`length_groups`): the same loss over the same predictions, less arithmetic spent on padding.
- `neighbour_term`: the recipe's sentence-level term (--neighbour-contrastive-weight), which no BERT paper
  has: each sentence's mean-pooled embedding ranked against the batch for the sentence after it in its
  document, as the fine-tuning's in-batch contrastive term ranks hypotheses, but without labels.
- `evaluate_heldout`, `load_pretrained_bert`: a run's (or a checkpoint's) held-out scores, and its model.
"""
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from agree.atomic import recover_directory
from agree.contrastive import ranking_loss
from agree.errors import in_file
from agree.training import autocast, evaluation_mode
from agree.weights import checkpoint_config, load_state, load_tensors
from bert import IGNORE_INDEX, BertConfig, BertForPreTraining, pretraining_loss
from data import PAD_ID, by_length, length_sorted_batches
from sbert import pool

NEIGHBOUR_CHUNK = 16  # sentences per encoder pass of the neighbour term


@dataclass(frozen=True)
class StepConfig:
    """How a run's steps compute their losses."""
    batch_size: int          # examples (and neighbour pairs) per rank and step
    device: torch.device
    precision: str = "auto"  # the forward pass's arithmetic (agree.training.autocast)
    length_passes: int = 1   # groups of similar length that a batch runs in (--length-passes)


class MaskedLM(NamedTuple):
    loss: torch.Tensor      # () masked-LM loss plus next-sentence loss: what BERT's pre-training minimises
    mlm_loss: torch.Tensor  # () its parts
    nsp_loss: torch.Tensor  # () 0 without next-sentence prediction
    counts: dict            # the parts of the accuracies: mlm_correct, mlm_predictions, nsp_correct, pairs;
    #                         and the real (not padding) tokens


def forward(model, batch, step):
    """The masked-LM (and next-sentence) loss of one batch, run through the model in step.length_passes
    groups of examples of similar length (length_groups): the same loss over the same predictions either
    way. `model` is a BertForPreTraining, maybe wrapped for data-parallel training or compiled."""
    batch = {name: tensor.to(step.device) for name, tensor in batch.items()}
    mlm_logits, masked_labels, nsp_logits, nsp_labels = [], [], [], []
    for group in length_groups(batch, step.length_passes):
        with autocast(step.device, step.precision):
            mlm, nsp = model(group["input_ids"], group["segment_ids"], group["masked_positions"])
        mlm_logits.append(mlm.flatten(0, 1))
        masked_labels.append(group["masked_labels"].flatten())
        nsp_logits.append(nsp)
        nsp_labels.append(group["nsp_labels"])
    join = lambda parts: parts[0] if len(parts) == 1 else torch.cat(parts)  # one pass: no copy of the scores
    mlm_logits, masked_labels = join(mlm_logits), join(masked_labels)  # (predictions, V), (predictions,)
    nsp_logits, nsp_labels = join(nsp_logits), join(nsp_labels)
    loss, mlm_loss, nsp_loss = pretraining_loss(mlm_logits[None], masked_labels[None], nsp_logits, nsp_labels)
    predicted = masked_labels != IGNORE_INDEX
    counts = {"mlm_correct": ((mlm_logits.argmax(-1) == masked_labels) & predicted).sum().item(),
              "mlm_predictions": predicted.sum().item(),
              "nsp_correct": (nsp_logits.argmax(-1) == nsp_labels).sum().item(),
              "pairs": (nsp_labels != IGNORE_INDEX).sum().item(),  # 0 without next-sentence prediction
              "tokens": (batch["input_ids"] != PAD_ID).sum().item()}
    return MaskedLM(loss, mlm_loss, nsp_loss, counts)


def length_groups(batch, passes):
    """The batch's examples in `passes` groups of similar length, shortest first, each cut to its own
    longest example and most predictions (--length-passes). A batch pads every example to its longest, and
    when short sentences (NLI's) share it with long passages (Wikipedia's), most of its positions can be
    padding. One pass is the batch as it is."""
    if passes == 1:
        return [batch]
    lengths = (batch["input_ids"] != PAD_ID).sum(1)
    predictions = (batch["masked_labels"] != IGNORE_INDEX).sum(1)
    groups = []
    for rows in by_length(lengths.cpu(), -(-len(lengths) // passes)):  # `passes` groups, as even as they come
        rows = torch.from_numpy(rows).to(lengths.device)
        width, count = int(lengths[rows].max()), int(predictions[rows].max())
        groups.append({"input_ids": batch["input_ids"][rows, :width],
                       "segment_ids": batch["segment_ids"][rows, :width],
                       "masked_positions": batch["masked_positions"][rows, :count],
                       "masked_labels": batch["masked_labels"][rows, :count],
                       "nsp_labels": batch["nsp_labels"][rows]})
    return groups


def neighbour_term(model, data, rng, step):
    """The neighbour term of one step for a BertForPreTraining's encoder, on step.batch_size pairs drawn from
    the step's generator `rng` after its batch, so that the masked-LM batches are the same with the term or
    without it."""
    return neighbour_loss(model.bert, data.make_neighbour_pairs(rng, step.batch_size), step)


def neighbour_loss(encoder, pairs, step):
    """The sentence-level term of `pairs`, two lists of id lists (PretrainingData.make_neighbour_pairs): the
    mean-pooled embedding of each first sentence should be nearer to its own next sentence than to the other
    rows' (a fine-tuning-like objective that reads no label, only which sentences stand together in a
    document). The sentences are encoded in passes of NEIGHBOUR_CHUNK, shortest first, each padded to its
    own longest: one long Wikipedia sentence would otherwise pad all the short NLI ones to its length."""
    sentences = pairs[0] + pairs[1]  # id lists, [CLS] ... [SEP]
    embeddings = torch.empty(len(sentences), encoder.config.d_model, device=step.device)
    for chosen, ids in length_sorted_batches(sentences, NEIGHBOUR_CHUNK):
        ids = ids.to(step.device)
        with autocast(step.device, step.precision):
            hidden = encoder(ids).float()  # (chunk, T, d)
            embeddings[torch.from_numpy(chosen)] = pool(hidden, ids != PAD_ID, "mean")  # kept in the graph
    u, v = embeddings.split(len(pairs[0]))  # (pairs, d) each
    return ranking_loss(u, v, torch.arange(len(u), device=step.device))


# --- Held-out evaluation and checkpoints (pretrain.py, evaluate.py) ------------------------------------------

EVAL_SEED_OFFSET = 10**9  # held-out batches use seeds far from any training step's


def heldout_batch(data, seed, index, batch_size):
    """The index-th held-out batch: the same every time, so evaluations along a run compare."""
    return data.make_batch(np.random.default_rng([seed, EVAL_SEED_OFFSET + index]), batch_size, "heldout")


@torch.inference_mode()
def evaluate_heldout(model, data, seed, batches, batch_size, device, precision="auto"):
    """MLM accuracy and perplexity, NSP accuracy on the same held-out batches every time."""
    mlm_loss_sum, totals = 0.0, {}
    step = StepConfig(batch_size, device, precision)
    with evaluation_mode(model):
        for i in range(batches):
            _, mlm_loss, _, counts = forward(model, heldout_batch(data, seed, i, batch_size), step)
            mlm_loss_sum += mlm_loss.item() * counts["mlm_predictions"]
            totals = {k: totals.get(k, 0) + v for k, v in counts.items()}
    mlm_loss = mlm_loss_sum / totals["mlm_predictions"]
    return {"heldout_mlm_accuracy": totals["mlm_correct"] / totals["mlm_predictions"],
            "heldout_mlm_loss": mlm_loss, "heldout_mlm_perplexity": math.exp(mlm_loss),
            "heldout_nsp_accuracy": ratio_or_none(totals["nsp_correct"], totals["pairs"])}


def ratio_or_none(part, whole):
    return part / whole if whole else None  # None: nothing to score (no next-sentence prediction)


def load_pretrained_bert(directory, device="cpu"):
    """A pretrain.py checkpoint as a BertForPreTraining (for evaluation or to continue training), its weights
    checked (agree/weights.py): a problem with a file is a UserError (or SystemExit) naming it."""
    directory = recover_directory(directory)
    config = checkpoint_config(directory, "bert", "a pre-trained BERT from pretrain.py")
    try:
        model = BertForPreTraining(BertConfig.from_dict(config["model"]))
    except (KeyError, TypeError, ValueError) as error:
        raise in_file(directory / "config.json", error) from error
    load_state(model, load_tensors(directory / "model.pt", config), directory / "model.pt")
    return model.to(device), config
