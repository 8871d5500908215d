"""Why did the model answer that? Leave out one word at a time and watch the probability of its answer move.

Say the model calls a pair a contradiction with probability 0.81. Each word of the premise is left out in
turn (its token removed, every other token kept) and the pair is scored again: if the probability falls to
0.35 without "asleep", that word carried much of the verdict; if it rises, the word spoke against it. The
same for the hypothesis. This is occlusion, the plainest way to ask a model about its input. All the
variants of one sentence are one word shorter than it, so they need no padding and go through the encoder
as one batch: one extra forward pass per sentence.

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
def explain(model, premise, hypothesis):
    """The model's prediction for the pair, and what leaving out each word of each sentence does to the
    probability of the predicted label."""
    premise_ids, hypothesis_ids = model.tokenize([premise, hypothesis])
    u, v = encode_ids(model, [premise_ids, hypothesis_ids])  # as /predict encodes the pair: the same answer
    prediction = predictions(model.head, u[None], v[None])[0]
    label = list(prediction.probabilities).index(prediction.label)
    with_every_word = prediction.probabilities[prediction.label]
    u, v = u[None].to(model.device), v[None].to(model.device)  # (1, d) each
    premise_without = probability_without_each_word(
        model, premise_ids, lambda u_without: model.head(u_without, v.expand(len(u_without), -1)), label)
    hypothesis_without = probability_without_each_word(
        model, hypothesis_ids, lambda v_without: model.head(u.expand(len(v_without), -1), v_without), label)
    return Explanation(prediction, word_effects(model, premise, premise_ids, premise_without, with_every_word),
                       word_effects(model, hypothesis, hypothesis_ids, hypothesis_without, with_every_word))


def probability_without_each_word(model, ids, score, label):
    """For each word of `ids` ([CLS] words [SEP]), the probability of `label` when that word is left out.
    `score` maps the embeddings of the shortened sentences (W, d) to the pair's logits (W, 3)."""
    shortened = [ids[:i] + ids[i + 1:] for i in range(1, len(ids) - 1)]  # W rows, all of the same length
    if not shortened:
        return []
    embeddings = model.encode(shortened, batch_size=len(shortened)).to(model.device)  # (W, d): one batch
    return score(embeddings).softmax(-1)[:, label].tolist()


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
