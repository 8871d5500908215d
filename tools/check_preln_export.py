"""Check agree's export of a pre-LayerNorm model (agree/hf/prelayernorm.py: transformers' RobertaPreLayerNorm)
against transformers and sentence-transformers themselves, on a real model of the recipe's shape. Not a unit
test: it needs the benchmark environment and the SNLI files.

    .venv-bench/bin/python tools/check_preln_export.py --model runs/recipe/sbert --data-dir ../shared/data \
        [--bert runs/recipe/bert] [--out exported/sbert]

1. The Sentence-BERT (--model, from finetune.py) is exported with `python -m agree.hf.export`; transformers'
   AutoModel loads the directory, and its hidden states on agree's token ids, pooled as the model pools, are
   compared with agree's embeddings of distinct sentences of snli_1.0_test.jsonl; so are those of
   SentenceTransformer(dir): its modules on agree's ids, and its encode() on the text, which its tokenizer
   splits as NLTK does for most sentences but not all (docs/huggingface.md); the NLI head through
   sentence-transformers' SoftmaxLoss.
2. The pre-trained BERT (--bert, from pretrain.py), when given, is exported too: masked-LM scores of
   AutoModelForMaskedLM, pooled output of AutoModel and next-sentence scores from next_sentence.safetensors.
Every comparison prints the largest absolute difference; "same" means below 1e-5.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the product's modules, as its scripts see them

import sentence_transformers  # noqa: E402
import transformers  # noqa: E402
from check_huggingface import difference, report_ids  # noqa: E402  (tools/, beside this script)
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.sentence_transformer.losses import SoftmaxLoss  # noqa: E402
from transformers import AutoModel, AutoModelForMaskedLM  # noqa: E402

from agree.hf import export  # noqa: E402
from agree.hf.checkpoints import read_safetensors  # noqa: E402
from agree.hf.wordpiece import load_tokenizer  # noqa: E402
from agree.pretraining import load_pretrained_bert  # noqa: E402
from data import pad, use_nltk_data  # noqa: E402
from sbert import SentenceBERT, pool  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a pre-LN Sentence-BERT from finetune.py")
    parser.add_argument("--bert", help="a pre-LN BERT from pretrain.py (its masked-LM and NSP heads)")
    parser.add_argument("--data-dir", default="../shared/data", help="holds snli_1.0/snli_1.0_test.jsonl")
    parser.add_argument("--out", help="where to export the Sentence-BERT (default: a temporary directory)")
    parser.add_argument("--sentences", type=int, default=500, help="distinct SNLI test sentences (default: 500)")
    return parser.parse_args()


def snli_test_sentences(data_dir, count):
    path = Path(data_dir) / "snli_1.0" / "snli_1.0_test.jsonl"
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    return list(dict.fromkeys(s for row in rows for s in (row["sentence1"], row["sentence2"])))[:count]


def machine():
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def batches(ids, size=64):
    for start in range(0, len(ids), size):
        batch = pad(ids[start:start + size])
        yield batch, (batch != 0).long()


@torch.no_grad()
def check_sentence_bert(model_dir, out, sentences):
    model = SentenceBERT.load(model_dir)
    bert = model.config.bert
    print(f"\n## 1. Sentence-BERT {model_dir}: {bert.n_layers} layers x {bert.d_model}, pre_layer_norm="
          f"{bert.pre_layer_norm}, bias={bert.bias}, max_len {bert.max_len}, {bert.vocab_size:,} words "
          f"({type(model.vocab).__name__}), {model.config.pooling} pooling")
    export.main(["--model", str(model_dir), "--out", str(out)])
    ours, our_ids = model.encode(sentences), model.tokenize(sentences)

    encoder = AutoModel.from_pretrained(out).eval()
    pooled = torch.cat([pool(encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask.bool(),
                             model.config.pooling) for ids, mask in batches(our_ids)])
    print(f"  transformers AutoModel ({type(encoder).__name__}) on agree's ids, {model.config.pooling}-pooled, "
          f"vs agree, {len(sentences)} sentences: {difference(ours, pooled)}")

    st = SentenceTransformer(str(out), device="cpu")
    modules = torch.cat([st({"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)})
                         ["sentence_embedding"] for ids, mask in batches(our_ids)])
    print(f"  SentenceTransformer(dir)'s modules on agree's ids vs agree, {len(sentences)} sentences: "
          f"{difference(ours, modules)}")
    tokenized = st.preprocess(sentences)  # what encode() feeds its modules: cut to max_seq_length
    their_ids = [ids[mask.bool()].tolist() for ids, mask in zip(tokenized["input_ids"], tokenized["attention_mask"])]
    differing = set(report_ids("SentenceTransformer(dir)'s tokenizer on text vs agree's", our_ids, their_ids,
                               sentences))
    theirs = st.encode(sentences, convert_to_tensor=True)
    same = [i for i in range(len(sentences)) if i not in differing]
    print(f"  SentenceTransformer(dir).encode(text) vs agree, the {len(same)} sentences with the same ids: "
          f"{difference(ours[same], theirs[same])}")
    if differing:
        other = sorted(differing)
        largest = (ours[other] - theirs[other]).abs().max().item()
        print(f"  the same, the {len(other)} sentences with other ids: max |diff| {largest:.2e} (other input, so "
              "other embeddings)")
    print(f"  cosine of the two embeddings of each sentence, lowest: "
          f"{F.cosine_similarity(ours, theirs, dim=-1).min().item():.6f}")
    check_head(model, Path(out), st, modules, ours)


def check_head(model, out, st, theirs, ours):
    """The NLI classifier as sentence-transformers' SoftmaxLoss, on pairs of consecutive sentences' embeddings
    (sentence-transformers' from agree's ids, so that only the head is compared)."""
    settings = json.loads((out / "softmax_loss.json").read_text())
    flags = {k: v for k, v in settings.items() if k.startswith("concatenation_")}
    loss = SoftmaxLoss(st, settings["embedding_dimension"], num_labels=len(settings["labels"]), **flags)
    loss.classifier.load_state_dict(read_safetensors(out / "softmax_loss.safetensors"))
    half = len(ours) // 2
    u, v = theirs[0:2 * half:2], theirs[1:2 * half:2]
    parts = {"concatenation_sent_rep": [u, v], "concatenation_sent_difference": [(u - v).abs()],
             "concatenation_sent_multiplication": [u * v]}  # in SoftmaxLoss's order
    logits = loss.classifier(torch.cat([t for flag, part in parts.items() if flags[flag] for t in part], -1))
    print(f"  NLI logits of {half} pairs, SoftmaxLoss's classifier vs agree's head: "
          f"{difference(model.head(ours[0:2 * half:2], ours[1:2 * half:2]), logits)}")


@torch.no_grad()
def check_pretrained_bert(bert_dir, out, sentences):
    ours, config = load_pretrained_bert(bert_dir)
    ours.eval()
    print(f"\n## 2. Pre-trained BERT {bert_dir}: {ours.config.n_layers} layers x {ours.config.d_model}, "
          f"pre_layer_norm={ours.config.pre_layer_norm}")
    export.main(["--model", str(bert_dir), "--out", str(out)])
    tokenizer = load_tokenizer(bert_dir, config)
    ids = [[tokenizer.cls_id, *tokenizer.encode_text(s)[:ours.config.max_len - 2], tokenizer.sep_id]
           for s in sentences[:100]]
    masked_lm = AutoModelForMaskedLM.from_pretrained(out).eval()
    encoder = AutoModel.from_pretrained(out).eval()
    nsp = read_safetensors(Path(out) / "next_sentence.safetensors")
    mlm_diff, pooled_diff, nsp_diff = [], [], []
    for batch, mask in batches(ids, 20):
        hidden = ours.bert(batch)
        real = mask.bool()
        mlm_diff.append((ours.masked_lm(hidden)[real] - masked_lm(input_ids=batch, attention_mask=mask).logits[real])
                        .abs().max())
        pooled = encoder(input_ids=batch, attention_mask=mask).pooler_output
        pooled_diff.append((ours.pooler(hidden) - pooled).abs().max())
        nsp_diff.append((ours.next_sentence(ours.pooler(hidden)) - F.linear(pooled, nsp["weight"], nsp["bias"]))
                        .abs().max())
    for name, values in (("masked-LM scores at every real token", mlm_diff), ("pooled output", pooled_diff),
                         ("next-sentence scores", nsp_diff)):
        largest = max(values).item()
        print(f"  {name}, {len(ids)} sentences on agree's ids: max |diff| {largest:.2e} "
              f"({'same' if largest < 1e-5 else 'DIFFERENT'})")


def main():
    args = parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    transformers.utils.logging.disable_progress_bar()
    use_nltk_data(args.data_dir)
    sentences = snli_test_sentences(args.data_dir, args.sentences)
    print(f"{datetime.date.today().isoformat()}; {machine()}; torch {torch.__version__}; transformers "
          f"{transformers.__version__}; sentence-transformers {sentence_transformers.__version__}; "
          f"{len(sentences)} distinct sentences from snli_1.0_test.jsonl")
    with tempfile.TemporaryDirectory() as temporary:
        out = Path(args.out) if args.out else Path(temporary) / "sbert-exported"
        check_sentence_bert(Path(args.model), out, sentences)
        if args.bert:
            check_pretrained_bert(Path(args.bert), Path(temporary) / "bert-exported", sentences)


if __name__ == "__main__":
    main()
