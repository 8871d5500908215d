"""Why did the model answer that? Leave out one word at a time and watch the probability of its answer move.

Say the model calls a pair a contradiction with probability 0.81. Each word of the premise is left out in
turn (its token removed, every other token kept) and the pair is scored again: if the probability falls to
0.35 without "asleep", that word carried much of the verdict; if it rises, the word spoke against it. The
same for the hypothesis. This is occlusion, the plainest way to ask a model about its input. All the
variants of one sentence are one word shorter than it, so they need no padding and go through the encoder
as one batch: one extra forward pass per sentence, or a few for a long one (`steps`).

What it measures: how this model's probability for its own answer depends on each word, one word at a time.
What it does not: words that matter only together (a negation and what it negates) can each look
unimportant, and a sentence with a word missing may be one unlike anything the model was trained on. It
describes this model on this pair; it is not a proof of how the model reasons, nor of what the words mean.
"""
from dataclasses import dataclass

import torch

from agree.web.packing import encode_ids
from data import UNK_ID, tokenize
from sbert import predictions

# The most tokens one step of an explanation encodes. An explanation of a long pair is hundreds of shortened
# sentences; in steps of this size it takes turns on the encoder with other requests, which then wait for one
# step rather than for the whole explanation.
STEP_TOKENS = 1024


@dataclass
class WordEffect:
    word: str
    probability_without: float  # the probability of the predicted label with this word left out
    change: float  # probability_without minus the probability with every word: negative if it spoke for it

    def to_dict(self):
        return {"word": self.word, "probability_without": self.probability_without, "change": self.change}


@dataclass
class Explanation:
    prediction: object  # sbert.Prediction for the whole pair
    premise: list  # a WordEffect for each word the model reads, in order
    hypothesis: list

    def to_dict(self):
        """The prediction's JSON with the words of each sentence added under "explanation"."""
        return {**self.prediction.to_dict(), "explanation": {
            "premise": [effect.to_dict() for effect in self.premise],
            "hypothesis": [effect.to_dict() for effect in self.hypothesis]}}


@torch.inference_mode()
def score_pair(model, premise_ids, hypothesis_ids):
    """The first step: the pair's prediction and both embeddings, as lists (they may travel between processes)."""
    u, v = encode_ids(model, [premise_ids, hypothesis_ids])  # as /predict encodes the pair: the same answer
    return predictions(model.head, u[None], v[None])[0], u.tolist(), v.tolist()


@torch.inference_mode()
def probabilities_without(model, ids, side, other, label, positions):
    """For each position of `positions` (a range within ids[1:-1]: words, not [CLS] or [SEP]), the probability
    of `label` with that word of `ids` left out, the other sentence's embedding `other` (d values) kept."""
    shortened = [ids[:i] + ids[i + 1:] for i in positions]  # W rows, all of the same length
    embeddings = model.encode(shortened, batch_size=len(shortened)).to(model.device)  # (W, d): one batch
    other = torch.tensor(other, device=model.device)[None].expand(len(shortened), -1)  # (W, d)
    logits = model.head(embeddings, other) if side == "premise" else model.head(other, embeddings)  # (W, 3)
    return logits.softmax(-1)[:, label].tolist()


STEPS = {"score_pair": score_pair, "probabilities_without": probabilities_without}


def explain(model, premise, hypothesis, compute=None):
    """The model's prediction for the pair, and what leaving out each word of each sentence does to the
    probability of the predicted label. `compute(name, *arguments)` runs one of STEPS and returns its answer:
    here on `model` unless given (the server sends the steps to its encoder, one at a time)."""
    compute = compute or (lambda name, *arguments: STEPS[name](model, *arguments))
    premise_ids, hypothesis_ids = model.tokenize([premise, hypothesis])
    prediction, u, v = compute("score_pair", premise_ids, hypothesis_ids)
    label = list(prediction.probabilities).index(prediction.label)
    with_every_word = prediction.probabilities[prediction.label]
    premise_without = [p for positions in steps(premise_ids)
                       for p in compute("probabilities_without", premise_ids, "premise", v, label, positions)]
    hypothesis_without = [p for positions in steps(hypothesis_ids)
                          for p in compute("probabilities_without", hypothesis_ids, "hypothesis", u, label, positions)]
    return Explanation(prediction, word_effects(model, premise, premise_ids, premise_without, with_every_word),
                       word_effects(model, hypothesis, hypothesis_ids, hypothesis_without, with_every_word))


def steps(ids):
    """The words of ids ([CLS] words [SEP]) in runs whose shortened variants hold at most STEP_TOKENS tokens
    together (one run at least a word): each run is one forward pass."""
    per_step = max(1, STEP_TOKENS // max(1, len(ids) - 1))
    return [range(start, min(start + per_step, len(ids) - 1)) for start in range(1, len(ids) - 1, per_step)]


def word_effects(model, sentence, ids, probabilities_without, with_every_word):
    return [WordEffect(word, without, without - with_every_word)
            for word, without in zip(words_read(model, sentence, ids), probabilities_without)]


def words_read(model, sentence, ids):
    """The words behind ids[1:-1], as the tokenizer wrote them (lower-cased; a word the vocabulary lacks
    keeps its spelling, though the model read [UNK]). When the model's tokenizer is not this word split
    (word pieces), the tokens themselves."""
    words = tokenize(sentence)[:len(ids) - 2]  # the model reads only as many as fit in its length
    if [model.vocab.ids.get(word, UNK_ID) for word in words] == ids[1:-1]:
        return words
    return [model.vocab.tokens[i] for i in ids[1:-1]]
