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
  output, masked-LM and next-sentence scores.

It also prints where the pure-Python tokenizer of transformers 4 (kept as BertTokenizerLegacy) disagrees.
"""
import json
import shutil
from pathlib import Path

import torch
from transformers import BertConfig, BertForPreTraining, BertTokenizer
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "huggingface"
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


def main():
    write_vocabularies()
    disagreements = tokenizer_expectations()
    model = tiny_model()
    write_model(model)
    write_outputs(model)
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file():
            print(f"{path.stat().st_size:>8,} bytes  {path.relative_to(FIXTURES)}")
    print(f"\nBertTokenizer (tokenizers library) and BertTokenizerLegacy (pure Python) disagree on "
          f"{len(disagreements)} of {2 * len(TEXTS)} encodings:")
    for casing, text, tokens, legacy_tokens in disagreements:
        print(f"  {casing} {text!r}:\n    BertTokenizer {tokens}\n    legacy        {legacy_tokens}")


if __name__ == "__main__":
    main()
