"""Pre-training fixtures: a text of simple stories in which each subject always does the same thing (so a
masked word is predictable from its neighbours), and the words of a masked batch put back."""
import random

import torch

SUBJECTS = ["the cat", "a dog", "the old man", "my sister", "the teacher", "a bird"]


VERBS = ["sees", "likes", "finds", "follows", "paints", "hears"]


OBJECTS = ["the river", "a red ball", "the small house", "an apple", "the garden", "a green tree"]


def stories():
    """Documents of simple sentences in which each subject always does the same thing: a masked word is
    predictable from its neighbours. One paragraph per document, a blank line between documents."""
    rng = random.Random(0)
    documents = []
    for _ in range(60):
        chosen = [rng.randrange(len(SUBJECTS)) for _ in range(rng.randint(4, 9))]
        documents.append(" ".join(f"{SUBJECTS[k].capitalize()} {VERBS[k]} {OBJECTS[k]}." for k in chosen))
    return "\n\n".join(documents) + "\n"


def original_ids(batch):
    """input_ids with the masked words put back."""
    ids = batch["input_ids"].clone()
    used = batch["masked_labels"] != -100
    rows = torch.arange(len(ids)).unsqueeze(1).expand_as(used)
    ids[rows[used], batch["masked_positions"][used]] = batch["masked_labels"][used]
    return ids
