"""Export an agree checkpoint as a Hugging Face directory, for transformers and sentence-transformers.

    python -m agree.hf.export --model runs/sbert --out exported/sbert

A pre-trained BERT (pretrain.py) becomes a `BertForPreTraining`: encoder, pooler, masked-LM and next-sentence
heads. A fine-tuned Sentence-BERT (finetune.py) becomes a `BertModel` (its encoder) inside the
sentence-transformers layout (modules.json, sentence_bert_config.json, 1_Pooling/config.json), so that
`SentenceTransformer(out)` encodes as agree does; its classifier (the SBERT paper's SoftmaxLoss) goes to a
file of its own, softmax_loss.safetensors with softmax_loss.json. Every directory gets a README.md that says
how to load it and, for a model of NLTK words, how transformers' tokenizer splits differently.

A pre-LayerNorm model (pretrain.py --pre-layer-norm, as the recipes train) is the same function as
transformers' RobertaPreLayerNorm instead (prelayernorm.py): the encoder becomes a `RobertaPreLayerNormModel`,
a pre-trained BERT a `RobertaPreLayerNormForMaskedLM` with its next-sentence classifier in a file of its own,
next_sentence.safetensors; the rest is the same.

All are written by hand (checkpoints.py, prelayernorm.py): neither transformers nor sentence-transformers is
needed here.
tools/check_huggingface.py loads the result in both and compares the outputs with agree's.
"""
import argparse
from pathlib import Path

from agree.atomic import atomic_write_json, atomic_write_text, read_json, recover_directory
from agree.hf.checkpoints import write_bert_directory, write_safetensors
from agree.hf.prelayernorm import write_prelayernorm_directory
from agree.hf.wordpiece import WordPiece, load_tokenizer
from agree.pretraining import load_pretrained_bert
from data import LABELS
from sbert import SentenceBERT

# sentence-transformers' SoftmaxLoss concatenates (u, v), |u - v| and u * v in that order, each optional: the
# order of agree's FEATURES, so the classifier's weight matrix carries over unchanged.
SOFTMAX_LOSS_FLAGS = {"concatenation_sent_rep": "u,v", "concatenation_sent_difference": "|u-v|",
                      "concatenation_sent_multiplication": "u*v"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--model", required=True, help="a checkpoint directory from pretrain.py or finetune.py")
    parser.add_argument("--out", required=True, help="the Hugging Face directory to write")
    return parser.parse_args(argv)


def write_directory(out, state, config, tokenizer, heads):
    """The architecture of transformers that computes our function: BERT's for a post-LN model (as the paper's),
    RobertaPreLayerNorm's for a pre-LN one."""
    writer = write_prelayernorm_directory if config.pre_layer_norm else write_bert_directory
    writer(out, state, config, tokenizer, heads=heads)


def export_pretrained_bert(model_dir, out):
    model, config = load_pretrained_bert(model_dir)
    tokenizer = load_tokenizer(model_dir, config)
    write_directory(out, model.state_dict(), model.config, tokenizer, heads=True)
    loading = LOAD_PRETRAINED_PRELN if model.config.pre_layer_norm else LOAD_PRETRAINED
    write_readme(out, "a BERT pre-trained by agree's pretrain.py", tokenizer, loading)


def export_sentence_bert(model_dir, out):
    model = SentenceBERT.load(model_dir)
    bert = model.config.bert
    encoder = {name: tensor for name, tensor in model.state_dict().items() if name.startswith("bert.")}
    write_directory(out, encoder, bert, model.vocab, heads=False)
    atomic_write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])
    atomic_write_json(out / "sentence_bert_config.json", {"max_seq_length": bert.max_len, "do_lower_case": False})
    atomic_write_json(out / "1_Pooling" / "config.json", {"word_embedding_dimension": bert.d_model,
                                                          "pooling_mode": model.config.pooling})
    write_safetensors(out / "softmax_loss.safetensors", dict(model.head.classifier.state_dict()))
    features = model.config.features.split(",")
    flags = {flag: all(part in features for part in parts.split(","))
             for flag, parts in SOFTMAX_LOSS_FLAGS.items()}
    atomic_write_json(out / "softmax_loss.json", {"features": model.config.features, "labels": list(LABELS),
                                                  "embedding_dimension": bert.d_model, **flags})
    loading = LOAD_SENTENCE_BERT.replace("FLAGS", ", ".join(f"{k}={v}" for k, v in flags.items()))
    if bert.pre_layer_norm:
        loading += PRELN_POSITIONS
    write_readme(out, "a Sentence-BERT fine-tuned on NLI by agree's finetune.py", model.vocab,
                 loading.replace("FEATURES", model.config.features))


LOAD_PRETRAINED = """```python
from transformers import BertForPreTraining, BertTokenizer
model = BertForPreTraining.from_pretrained("DIR")  # prediction_logits: masked LM; seq_relationship_logits: NSP
tokenizer = BertTokenizer.from_pretrained("DIR")
```"""

PRELN_POSITIONS = """

## Pre-LayerNorm, as RobertaPreLayerNorm

agree trained this model with LayerNorm before each block (pre-LN, a final LayerNorm after the last), which
transformers computes as RobertaPreLayerNorm. Its position ids are counted from the input ids: the first
token that is not [PAD] (id 0) gets position 1, so leave position_ids out and the positions are agree's (the
position table has one row more than the model's longest input; row 0 is read only at [PAD])."""

LOAD_PRETRAINED_PRELN = """```python
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForMaskedLM, BertTokenizer
model = AutoModelForMaskedLM.from_pretrained("DIR")  # a RobertaPreLayerNormForMaskedLM: masked-LM scores
encoder = AutoModel.from_pretrained("DIR")  # a RobertaPreLayerNormModel, pooler included
nsp = load_file("DIR/next_sentence.safetensors")  # RoBERTa has no next-sentence head: agree's is here
# next-sentence scores: torch.nn.functional.linear(encoder(**inputs).pooler_output, nsp["weight"], nsp["bias"])
tokenizer = BertTokenizer.from_pretrained("DIR")
```

transformers says the masked-LM model leaves the pooler's weights unused: AutoModel reads them.""" + PRELN_POSITIONS

LOAD_SENTENCE_BERT = """```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("DIR")
u, v = model.encode(["A man plays a guitar.", "Someone makes music."], convert_to_tensor=True)
```

transformers warns that the model's pooler is newly initialised: agree's Sentence-BERT has none (it mean-,
max- or CLS-pools the last hidden states, as 1_Pooling/config.json says); the embeddings do not use it.

The three-way NLI classifier (entailment, neutral, contradiction, in the order of softmax_loss.json) is
sentence-transformers' SoftmaxLoss, with the weights in softmax_loss.safetensors:

```python
from safetensors.torch import load_file
from sentence_transformers.losses import SoftmaxLoss
loss = SoftmaxLoss(model, model.get_sentence_embedding_dimension(), num_labels=3, FLAGS)
loss.classifier.load_state_dict(load_file("DIR/softmax_loss.safetensors"))
```

Its input is FEATURES (u, v: the two sentence embeddings), concatenated in that order.
For the default u,v,|u-v|: `loss.classifier(torch.cat([u, v, (u - v).abs()])).softmax(-1)`."""

NLTK_WORDS_NOTE = """
## Tokenizer: NLTK words, not WordPiece

This model was trained on NLTK's word tokenizer, lower-cased, with one id per whole word (agree's data.py):
"don't" is `do` `n't`, a double quote is ` `` ` or `''`, "can't" is `ca` `n't`, words keep their accents,
and there are no `##` pieces. No transformers tokenizer does that. tokenizer_config.json gives the nearest
BertTokenizer (lower-case, accents kept, every vocabulary entry a whole word), which agrees with agree on
plain words and punctuation but splits contractions and quotes into other pieces, many of them [UNK]; text
tokenized that way gives other embeddings. For agree's embeddings, give the model agree's ids: in Python with
agree on the path, `data.encode_sentence(data.Vocab.load("DIR/vocab.txt"), sentence, max_len)`. On the same
ids, transformers' model computes what agree computes.
"""


def write_readme(out, what, tokenizer, loading):
    lines = [f"# {Path(out).name}", "", f"Exported by agree (python -m agree.hf.export): {what}.", "", "## Loading", "",
             loading.replace("DIR", str(out)), ""]
    if not isinstance(tokenizer, WordPiece):
        lines.append(NLTK_WORDS_NOTE.replace("DIR", str(out)))
    atomic_write_text(out / "README.md", "\n".join(lines))


def main(argv=None):
    args = parse_args(argv)
    model_dir, out = recover_directory(args.model), Path(args.out)
    if out.resolve() == Path(model_dir).resolve():
        raise SystemExit("--out must be another directory than --model: the two config.json files differ")
    kind = read_json(Path(model_dir) / "config.json").get("kind")
    exporters = {"bert": export_pretrained_bert, "sbert": export_sentence_bert}
    if kind not in exporters:
        raise SystemExit(f"{model_dir}: a {kind!r} checkpoint; the export takes those of pretrain.py and "
                         "finetune.py")
    out.mkdir(parents=True, exist_ok=True)
    try:
        exporters[kind](model_dir, out)
    except ValueError as error:  # a model that no architecture of transformers expresses
        raise SystemExit(f"{model_dir} cannot be exported: {error}") from None
    print(f"wrote {out}: " + ", ".join(sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())))


if __name__ == "__main__":
    main()
