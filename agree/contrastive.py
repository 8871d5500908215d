"""In-batch ranking losses: each anchor's embedding should be nearer (by cosine) to its own partner than to
every other candidate of the batch. Not the SBERT paper's objective; the recipe adds one to each loop:
`in_batch_contrastive_loss` beside SoftmaxLoss in finetune.py (--contrastive-weight), and the neighbour
term beside the masked words in pretrain.py (--neighbour-contrastive-weight, agree/pretraining.py)."""
import torch.nn.functional as F

from data import LABELS

# Cosines lie in [-1, 1]; multiplied by this, the softmax over the batch can put nearly all of its weight on
# one candidate. sentence-transformers' MultipleNegativesRankingLoss uses the same scale.
SCALE = 20.0


def in_batch_contrastive_loss(u, v, labels):
    """The recipe's second objective beside SoftmaxLoss (finetune.py --contrastive-weight): supervised SimCSE,
    or sentence-transformers' MultipleNegativesRankingLoss. Each premise of an entailment pair should be
    nearer to its own hypothesis than to every other hypothesis in the batch; the batch's contradictions are
    among those negatives. u, v: (B, d); labels: (B,). A batch without an entailment pair gives 0 (kept in
    the graph)."""
    anchors = (labels == LABELS.index("entailment")).nonzero()[:, 0]  # (E,) rows whose v is u's positive
    if len(anchors) == 0:
        return 0 * u.sum()
    return ranking_loss(u[anchors], v, anchors)


def ranking_loss(anchors, candidates, targets):
    """Cross-entropy of each anchor's cosines (x SCALE) to every candidate, the candidate at `targets` the
    right answer: anchors (E, d), candidates (B, d), targets (E,)."""
    similarities = SCALE * F.normalize(anchors.float(), dim=-1) @ F.normalize(candidates.float(), dim=-1).T
    return F.cross_entropy(similarities, targets)
