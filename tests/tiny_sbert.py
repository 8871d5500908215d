"""A tiny untrained Sentence-BERT, for the tests of the web page, search and explanations: its answers mean
nothing, but they are exactly what the code under test must reproduce."""
import torch

from bert import BertConfig
from data import SPECIAL_TOKENS, Vocab
from sbert import SentenceBERT, SentenceBertConfig

WORDS = "a man woman dog is playing guitar sleeping on stage the music performing runs .".split()


def untrained_model(seed=0):
    vocab = Vocab(SPECIAL_TOKENS + tuple(WORDS))
    torch.manual_seed(seed)
    return SentenceBERT(SentenceBertConfig(BertConfig.preset("tiny", vocab_size=len(vocab))), vocab).eval()
