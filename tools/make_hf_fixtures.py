"""Regenerate tests/fixtures/huggingface with Hugging Face's own code, so that the tests of huggingface.py and
wordpiece.py compare agree with `transformers`, not with agree's idea of it. The test suite never imports
`transformers`; only this script does, in the benchmark environment:

    python3 -m venv .venv-bench && .venv-bench/bin/pip install torch==2.13.0 numpy nltk -r benchmarks/requirements.txt
    .venv-bench/bin/python tools/make_hf_fixtures.py

It writes, under tests/fixtures/huggingface/:
- wordpiece/vocab_uncased.txt, vocab_cased.txt: two small vocabularies written here by hand, laid out as
  BERT's are ([PAD] first, [unused] slots, then [UNK] [CLS] [SEP] [MASK]);
- wordpiece/expected.json: `BertTokenizer`'s ids for tricky strings with both (accents, CJK, punctuation,
  spaces and control characters, unknown pieces, words of 100 and 101 characters, empty text);
- tiny-bert/: a random `BertForPreTraining` (2 layers, width 24, 3 heads) saved by `save_pretrained`
  (config.json, model.safetensors) with vocab.txt and the tokenizer's config;
- tiny-bert-bin/: the same weights as `pytorch_model.bin` (the state dict, tied decoder included, as older
  checkpoints ship it);
- expected_outputs.json: that model's outputs on fixed inputs: every layer's hidden states, the pooled
  output, masked-LM and next-sentence scores;
- tiny-preln/: agree's export of pre-LayerNorm models, as transformers reads it (agree/hf/prelayernorm.py).
  agree/ holds two random pre-LN models of agree's, a Sentence-BERT and a pre-trained BERT of NLTK words
  (config as JSON, weights as safetensors, vocab.txt); each is exported with agree's code, loaded by
  transformers' AutoModel (and the Sentence-BERT by SentenceTransformer), and saved again by
  `save_pretrained` into sbert-transformers/ and bert-transformers/; expected_outputs.json holds what
  transformers computes on fixed inputs (every layer's hidden states, the last one, the pooled output,
  masked-LM and next-sentence scores) and sentence-transformers' ids and embeddings of a few sentences.

It also prints where the pure-Python tokenizer of transformers 4 (kept as BertTokenizerLegacy) disagrees.
"""
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # agree's modules, for the pre-LN models it exports

from sentence_transformers import SentenceTransformer  # noqa: E402
from transformers import AutoModel, AutoModelForMaskedLM, BertConfig, BertForPreTraining, BertTokenizer  # noqa: E402
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy  # noqa: E402

import bert as agree_bert  # noqa: E402
from agree.hf import export  # noqa: E402
from agree.hf.checkpoints import write_safetensors  # noqa: E402
from agree.weights import DIGESTS, save_tensors  # noqa: E402
from data import SPECIAL_TOKENS, Vocab, pad, tokenize  # noqa: E402
from sbert import SentenceBERT, SentenceBertConfig  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "huggingface"
SPECIALS = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCTUATION = list(".,!?'\"-()$;:/&%[]")
SHARED_WORDS = ["the", "a", "man", "woman", "is", "play", "##ing", "##s", "##ed", "guitar", "on", "stage", "dog",
                "un", "##aff", "##able", "don", "t", "yes", "ok", "5", "00", "hello", "world", "x", "##x",
                "中", "国", "人", "good", "morning", "##ly", "s", "##t", "##an", "##bul", "fine", "ist"]
VOCABULARIES = {
    "uncased": ["cafe", "naive", "resume", "super", "##cal", "i", "strasse", "##ß", "straße", "ß", "##ist",
                "İ"],
    "cased": ["The", "A", "Man", "Café", "café", "Cafe", "naïve", "résumé", "UN", "##AFF", "##ABLE", "Hello",
              "İstanbul", "I", "##e", "e", "Straße", "##\u0301"],
}
TEXTS = [
    "", "   \t\n ", "The man is playing guitar.", "UNAFFABLE unaffable Unaffable",
    "Café naïve résumé", "Cafe\u0301 cafe\u0301",  # precomposed accents; an accent as a combining mark
    "中国人 hello中国 good中", "안녕 world",  # CJK ideographs are words; Hangul is not split
    "don't! (yes) $5.00 -- ok? the,the.the/a&b 50%", "«hello» — world… ¿ok?",  # ASCII, Unicode punctuation
    "hello\u00a0world\tthe\nman\r\u3000a\u2028dog\u2009stage",  # kinds of space
    "a\u200bb c\x00d e\ufffdf g\x07h",  # zero-width space, NUL, replacement character, a control character
    "do\ufffdg the\x00 wo\u200bman",  # the same, dropped from known words
    "x" * 100, "x" * 101, "x" * 99 + "!" + "x" * 3,  # the 100-character limit, counted per word
    "supercalifragilistic playingx dogs played", "🙂 the ﬁne", "İstanbul ISTANBUL Straße STRASSE ß",
    "Hello World THE MAN", "the" + " the" * 40,
]
TRUNCATE_AT = 8  # one encoding cut to this many positions, [CLS] and [SEP] included


def write_vocabularies():
    directory = FIXTURES / "wordpiece"
    directory.mkdir(parents=True, exist_ok=True)
    for casing, words in VOCABULARIES.items():
        tokens = SPECIALS + PUNCTUATION + SHARED_WORDS + words
        assert len(tokens) == len(set(tokens)), casing
        (directory / f"vocab_{casing}.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")


def tokenizer_expectations():
    expected, disagreements = {}, []
    for casing in VOCABULARIES:
        vocab = str(FIXTURES / "wordpiece" / f"vocab_{casing}.txt")
        tokenizer = BertTokenizer(vocab, do_lower_case=casing == "uncased")
        legacy = BertTokenizerLegacy(vocab, do_lower_case=casing == "uncased")
        cases = []
        for text in TEXTS:
            ids = tokenizer(text)["input_ids"]
            cases.append({"text": text, "ids": ids, "tokens": tokenizer.convert_ids_to_tokens(ids)})
            if legacy(text)["input_ids"] != ids:
                disagreements.append((casing, text, tokenizer.convert_ids_to_tokens(ids),
                                      legacy.convert_ids_to_tokens(legacy(text)["input_ids"])))
        truncated = tokenizer(TEXTS[2], truncation=True, max_length=TRUNCATE_AT)["input_ids"]
        expected[casing] = {"vocab": Path(vocab).name, "lowercase": casing == "uncased", "cases": cases,
                            "truncated": {"text": TEXTS[2], "max_len": TRUNCATE_AT, "ids": truncated}}
    (FIXTURES / "wordpiece" / "expected.json").write_text(
        json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return disagreements


def tiny_model():
    """A random BertForPreTraining whose every weight is far from its initial value: LayerNorm scales and
    biases that stay 1 and 0 could be swapped by a wrong name mapping and nothing would show it."""
    vocab_size = len((FIXTURES / "wordpiece" / "vocab_uncased.txt").read_text(encoding="utf-8").split())
    config = BertConfig(vocab_size=vocab_size, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
                        intermediate_size=37, max_position_embeddings=16, type_vocab_size=2, hidden_act="gelu",
                        layer_norm_eps=1e-12, attn_implementation="eager")
    torch.manual_seed(0)
    model = BertForPreTraining(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # the tied decoder is the embedding tensor itself: it stays tied
            parameter.add_(0.2 * torch.randn_like(parameter))
    return model


def model_inputs():
    """Two rows, the second padded after 6 tokens; sentence A and B segments."""
    input_ids = torch.tensor([[4, 27, 28, 29, 5, 30, 31, 32, 33, 5], [4, 40, 41, 42, 43, 5, 0, 0, 0, 0]])
    token_type_ids = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1, 1, 1], [0] * 10])
    attention_mask = (input_ids != 0).long()
    return input_ids, token_type_ids, attention_mask


def write_model(model):
    directory, bin_directory = FIXTURES / "tiny-bert", FIXTURES / "tiny-bert-bin"
    for path in (directory, bin_directory):
        shutil.rmtree(path, ignore_errors=True)
    model.save_pretrained(directory)  # config.json and model.safetensors
    vocab = FIXTURES / "wordpiece" / "vocab_uncased.txt"
    BertTokenizer(str(vocab), do_lower_case=True).save_pretrained(directory)
    for name in ("tokenizer.json", "special_tokens_map.json"):  # the fast tokenizer's file: agree reads vocab.txt
        (directory / name).unlink(missing_ok=True)
    shutil.copy(vocab, directory / "vocab.txt")
    bin_directory.mkdir()
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        shutil.copy(directory / name, bin_directory / name)
    torch.save(model.state_dict(), bin_directory / "pytorch_model.bin")


@torch.no_grad()
def write_outputs(model):
    input_ids, token_type_ids, attention_mask = model_inputs()
    out = model(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                output_hidden_states=True)
    pooled = model.bert(input_ids=input_ids, token_type_ids=token_type_ids,
                        attention_mask=attention_mask).pooler_output
    values = {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask,
              "hidden_states": torch.stack(out.hidden_states), "pooled": pooled,
              "mlm_logits": out.prediction_logits, "nsp_logits": out.seq_relationship_logits}
    (FIXTURES / "expected_outputs.json").write_text(
        json.dumps({name: tensor.tolist() for name, tensor in values.items()}) + "\n", encoding="utf-8")


# --- Pre-LayerNorm models, exported by agree as RobertaPreLayerNorm ----------------------------------------------

PRELN = FIXTURES / "tiny-preln"
PRELN_TEXTS = ["The man is playing guitar on stage.", "A dog runs.", "A woman is playing a guitar.",
               # longer than max_len: both sides cut it to 16 ids, so the last position row is read
               "The man and the woman and the dog are on the stage and the man is playing a guitar there today."]


def agree_preln_models():
    """A Sentence-BERT and a BertForPreTraining of agree's, pre-LN, with NLTK words, every weight moved far
    from its initial value (a LayerNorm left at 1 and 0, or a zero bias, would hide a wrong mapping)."""
    vocab = Vocab(SPECIAL_TOKENS + tuple(sorted({w for text in PRELN_TEXTS for w in tokenize(text)})))
    config = agree_bert.BertConfig(vocab_size=len(vocab), max_len=16, n_layers=2, d_model=24, n_heads=3, d_ff=37,
                                   n_segments=2, dropout=0.0, pre_layer_norm=True)
    torch.manual_seed(1)
    sbert = SentenceBERT(SentenceBertConfig(config), vocab).eval()
    bert = agree_bert.BertForPreTraining(config).eval()
    with torch.no_grad():
        for parameter in [*sbert.parameters(), *bert.parameters()]:  # the tied decoder stays tied
            parameter.add_(0.2 * torch.randn_like(parameter))
    return vocab, sbert, bert


def preln_inputs(vocab):
    """Two rows, the second padded after 6 tokens; sentence A and B segments in the first."""
    ids = [vocab.cls_id, *vocab.encode(tokenize(PRELN_TEXTS[0])), vocab.sep_id]
    input_ids = pad([ids, ids[:5] + [vocab.sep_id]])
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[0, 5:] = 1
    return input_ids, token_type_ids, (input_ids != 0).long()


def save_pretrained_checkpoint(directory, model, vocab):
    """What pretrain.py leaves for agree's export to read: config.json, vocab.txt, model.pt."""
    directory.mkdir(parents=True)
    vocab.save(directory / "vocab.txt")
    digest = save_tensors(model.state_dict(), directory / "model.pt")
    (directory / "config.json").write_text(json.dumps({"kind": "bert", "model": model.config.to_dict(),
                                                       "tokenizer": vocab.settings(), DIGESTS: {"model.pt": digest}}))


def write_preln_fixtures():
    vocab, sbert, bert = agree_preln_models()
    shutil.rmtree(PRELN, ignore_errors=True)
    (PRELN / "agree").mkdir(parents=True)
    vocab.save(PRELN / "agree" / "vocab.txt")
    (PRELN / "agree" / "sbert.json").write_text(json.dumps(sbert.config.to_dict(), indent=1) + "\n")
    (PRELN / "agree" / "bert.json").write_text(json.dumps(bert.config.to_dict(), indent=1) + "\n")
    write_safetensors(PRELN / "agree" / "sbert.safetensors", sbert.state_dict())
    bert_state = {k: v for k, v in bert.state_dict().items() if k != "masked_lm.token_embedding.weight"}  # tied
    write_safetensors(PRELN / "agree" / "bert.safetensors", bert_state)
    input_ids, token_type_ids, attention_mask = preln_inputs(vocab)
    inputs = dict(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)
    values = dict(inputs)
    with tempfile.TemporaryDirectory() as temporary, torch.no_grad():
        work = Path(temporary)
        sbert.save(work / "sbert")
        export.main(["--model", str(work / "sbert"), "--out", str(work / "sbert-exported")])
        encoder = AutoModel.from_pretrained(work / "sbert-exported").eval()
        encoder.save_pretrained(PRELN / "sbert-transformers")
        out = encoder(**inputs, output_hidden_states=True)
        values.update(sbert_hidden_states=torch.stack(out.hidden_states), sbert_last=out.last_hidden_state)
        st = SentenceTransformer(str(work / "sbert-exported"), device="cpu")
        tokenized = st.tokenize(PRELN_TEXTS)  # as encode does it: cut to max_seq_length, padded
        values.update(st_ids=[ids[mask.bool()].tolist() for ids, mask in zip(tokenized["input_ids"],
                                                                            tokenized["attention_mask"])],
                      st_embeddings=st.encode(PRELN_TEXTS, convert_to_tensor=True))

        save_pretrained_checkpoint(work / "bert", bert, vocab)
        export.main(["--model", str(work / "bert"), "--out", str(work / "bert-exported")])
        masked_lm = AutoModelForMaskedLM.from_pretrained(work / "bert-exported").eval()
        masked_lm.save_pretrained(PRELN / "bert-transformers")
        out = masked_lm(**inputs, output_hidden_states=True)
        pooled = AutoModel.from_pretrained(work / "bert-exported").eval()(**inputs).pooler_output
        shutil.copy(work / "bert-exported" / "next_sentence.safetensors", PRELN / "bert-transformers")
        nsp = torch.nn.functional.linear(pooled, bert.next_sentence.weight, bert.next_sentence.bias)
        values.update(bert_hidden_states=torch.stack(out.hidden_states), mlm_logits=out.logits, pooled=pooled,
                      nsp_logits=nsp)
    values = {name: value.tolist() if isinstance(value, torch.Tensor) else value for name, value in values.items()}
    (PRELN / "expected_outputs.json").write_text(json.dumps({"texts": PRELN_TEXTS, **values}) + "\n")


def main():
    write_vocabularies()
    disagreements = tokenizer_expectations()
    model = tiny_model()
    write_model(model)
    write_outputs(model)
    write_preln_fixtures()
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file():
            print(f"{path.stat().st_size:>8,} bytes  {path.relative_to(FIXTURES)}")
    print(f"\nBertTokenizer (tokenizers library) and BertTokenizerLegacy (pure Python) disagree on "
          f"{len(disagreements)} of {2 * len(TEXTS)} encodings:")
    for casing, text, tokens, legacy_tokens in disagreements:
        print(f"  {casing} {text!r}:\n    BertTokenizer {tokens}\n    legacy        {legacy_tokens}")


if __name__ == "__main__":
    main()
