"""agree/hf (checkpoints, export): a checkpoint made by transformers (tests/fixtures/huggingface, written once by
tools/make_hf_fixtures.py) loads through our code and gives transformers' outputs; our checkpoints export and
load back; what does not map is refused by name. This suite never imports transformers."""
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from agree.hf import checkpoints as huggingface
from agree.hf.checkpoints import load_encoder, load_pretraining_model, read_safetensors, write_safetensors
from agree.hf.wordpiece import WordPiece
from bert import BertConfig, BertForPreTraining
from data import SPECIAL_TOKENS, Vocab
from sbert import SentenceBERT, SentenceBertConfig

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "huggingface"
EXPECTED = {name: torch.tensor(values) for name, values in
            json.loads((FIXTURES / "expected_outputs.json").read_text()).items()}
TOLERANCE = dict(rtol=0, atol=1e-5)


@torch.no_grad()
def our_outputs(model):
    """Hidden states after the embeddings and after each layer, pooled output, masked-LM scores at every
    position, next-sentence scores: what transformers' BertForPreTraining returned for the same inputs."""
    ids, segments = EXPECTED["input_ids"], EXPECTED["token_type_ids"]
    key_mask = EXPECTED["attention_mask"].bool()[:, None, None, :]
    states = [model.bert.embeddings(ids, segments)]
    for layer in model.bert.layers:
        states.append(layer(states[-1], key_mask))
    pooled = model.pooler(states[-1])
    return torch.stack(states), pooled, model.masked_lm(states[-1]), model.next_sentence(pooled)


@pytest.mark.parametrize("directory", ["tiny-bert", "tiny-bert-bin"])  # model.safetensors, pytorch_model.bin
def test_transformers_checkpoint_gives_transformers_outputs(directory):
    model, tokenizer = load_pretraining_model(FIXTURES / directory)
    hidden_states, pooled, mlm_logits, nsp_logits = our_outputs(model)
    torch.testing.assert_close(hidden_states, EXPECTED["hidden_states"], **TOLERANCE)
    torch.testing.assert_close(pooled, EXPECTED["pooled"], **TOLERANCE)
    torch.testing.assert_close(mlm_logits, EXPECTED["mlm_logits"], **TOLERANCE)
    torch.testing.assert_close(nsp_logits, EXPECTED["nsp_logits"], **TOLERANCE)
    assert isinstance(tokenizer, WordPiece) and tokenizer.lowercase and tokenizer.cls_id == 4


def test_our_forward_pass_gives_transformers_last_hidden_state():
    """BERT.forward itself (its default attention mask: every token that is not [PAD]), both attentions."""
    model, _ = load_pretraining_model(FIXTURES / "tiny-bert")
    for attention in ("written", "fused"):
        model.bert.config.attention = attention
        for layer in model.bert.layers:
            layer.attention.use_fused_kernel = attention == "fused"
        with torch.no_grad():
            hidden = model.bert(EXPECTED["input_ids"], EXPECTED["token_type_ids"])
        torch.testing.assert_close(hidden, EXPECTED["hidden_states"][-1], **TOLERANCE)


def test_fine_tuning_starts_from_a_huggingface_directory():
    model = SentenceBERT.from_pretrained_bert(FIXTURES / "tiny-bert", dropout=0.0).eval()
    assert model.vocab.split("The man is playing guitar.") == ["the", "man", "is", "play", "##ing", "guitar", "."]
    second_row = EXPECTED["input_ids"][1:, :6]  # the padded row, one sentence in segment A
    embedding = model.encode(second_row.tolist())
    torch.testing.assert_close(embedding, EXPECTED["hidden_states"][-1][1, :6].mean(0, keepdim=True), **TOLERANCE)


def test_a_wordpiece_sentence_bert_saves_and_loads_its_tokenizer(tmp_path):
    model = SentenceBERT.from_pretrained_bert(FIXTURES / "tiny-bert").eval()
    model.save(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["tokenizer"] == {"name": "wordpiece",
                                                                                "lowercase": True}
    loaded = SentenceBERT.load(tmp_path)
    assert isinstance(loaded.vocab, WordPiece)
    sentences = ["Playing guitar on stage.", "UNAFFABLE dogs"]
    assert loaded.tokenize(sentences) == model.tokenize(sentences)
    torch.testing.assert_close(loaded.encode(sentences), model.encode(sentences))


# --- safetensors --------------------------------------------------------------------------------------------

def test_safetensors_round_trip_keeps_names_dtypes_shapes_and_values(tmp_path):
    tensors = {"a.weight": torch.randn(3, 5), "b": torch.arange(7, dtype=torch.int64),
               "c": torch.tensor([True, False]), "half": torch.randn(2, 2).to(torch.bfloat16),
               "empty": torch.zeros(0, 4)}
    write_safetensors(tmp_path / "x.safetensors", tensors, {"format": "pt"})
    read = read_safetensors(tmp_path / "x.safetensors")
    assert read.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert read[name].dtype == tensor.dtype and torch.equal(read[name], tensor), name
    header_length = int.from_bytes((tmp_path / "x.safetensors").read_bytes()[:8], "little")
    assert header_length % 8 == 0


def test_safetensors_reads_the_file_transformers_wrote():
    weights = read_safetensors(FIXTURES / "tiny-bert" / "model.safetensors")
    from_bin = torch.load(FIXTURES / "tiny-bert-bin" / "pytorch_model.bin", weights_only=True)
    assert set(weights) <= set(from_bin)
    for name, tensor in weights.items():
        assert torch.equal(tensor, from_bin[name]), name


def test_broken_safetensors_are_refused_with_the_file_name(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes((10).to_bytes(8, "little") + b"not json!!")
    with pytest.raises(ValueError, match="bad.safetensors: not a safetensors file"):
        read_safetensors(tmp_path / "bad.safetensors")
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    (tmp_path / "short.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    with pytest.raises(ValueError, match=r"short.safetensors: w \(F32 \[4\]\) does not fit"):
        read_safetensors(tmp_path / "short.safetensors")


# --- Refusals -------------------------------------------------------------------------------------------------

def copy_fixture(tmp_path, name="tiny-bert"):
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def edit_config(directory, **changes):
    values = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**values, **changes}))


@pytest.mark.parametrize("changes, message", [
    ({"hidden_act": "relu"}, "hidden_act is 'relu' (agree implements 'gelu' only)"),
    ({"hidden_act": "gelu_new"}, "hidden_act is 'gelu_new'"),
    ({"position_embedding_type": "relative_key"}, "position_embedding_type is 'relative_key'"),
    ({"model_type": "roberta"}, "model_type is 'roberta'"),
    ({"is_decoder": True}, "is_decoder is True"),
])
def test_unsupported_configs_are_refused(tmp_path, changes, message):
    directory = copy_fixture(tmp_path)
    edit_config(directory, **changes)
    with pytest.raises(ValueError, match=re.escape("a model agree cannot load: " + message)):
        load_encoder(directory)


def test_an_incomplete_checkpoint_is_refused_with_the_missing_names(tmp_path):
    directory = copy_fixture(tmp_path)
    weights = read_safetensors(directory / "model.safetensors")
    key_bias = weights.pop("bert.encoder.layer.1.attention.self.key.bias")
    del weights["cls.predictions.bias"]
    write_safetensors(directory / "model.safetensors", weights)
    with pytest.raises(ValueError, match=r"missing: encoder\.layer\.1\.attention\.self\.key\.bias, "
                                         r"cls\.predictions\.bias$"):
        load_pretraining_model(directory)
    with pytest.raises(ValueError, match=r"missing: encoder\.layer\.1\.attention\.self\.key\.bias$"):
        load_encoder(directory)
    weights["bert.encoder.layer.1.attention.self.key.bias"] = key_bias
    write_safetensors(directory / "model.safetensors", weights)
    load_encoder(directory)  # fine-tuning needs no masked-LM head


def test_a_checkpoint_with_more_than_bert_is_refused_with_the_unexpected_names(tmp_path):
    directory = copy_fixture(tmp_path)
    weights = read_safetensors(directory / "model.safetensors")
    weights["bert.encoder.layer.2.output.dense.weight"] = torch.zeros(24, 37)  # a layer config.json lacks
    weights["classifier.weight"] = torch.zeros(2, 24)
    write_safetensors(directory / "model.safetensors", weights)
    with pytest.raises(ValueError, match=r"unexpected: encoder\.layer\.2\.output\.dense\.weight, "
                                         r"classifier\.weight$"):
        load_encoder(directory)


def test_an_untied_decoder_is_refused(tmp_path):
    directory = copy_fixture(tmp_path, "tiny-bert-bin")
    weights = torch.load(directory / "pytorch_model.bin", weights_only=True)
    weights["cls.predictions.decoder.weight"] = weights["cls.predictions.decoder.weight"] + 1
    torch.save(weights, directory / "pytorch_model.bin")
    with pytest.raises(ValueError, match="cls.predictions.decoder.weight differs from "
                                         "embeddings.word_embeddings.weight"):
        load_pretraining_model(directory)


def test_tensorflow_names_for_layer_norm_are_read(tmp_path):
    directory = copy_fixture(tmp_path)
    weights = read_safetensors(directory / "model.safetensors")
    renamed = {name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): t
               for name, t in weights.items()}
    write_safetensors(directory / "model.safetensors", renamed)
    model, _ = load_pretraining_model(directory)
    torch.testing.assert_close(our_outputs(model)[0], EXPECTED["hidden_states"], **TOLERANCE)


def test_missing_files_and_mismatched_vocabularies_are_refused(tmp_path):
    directory = copy_fixture(tmp_path)
    (directory / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="holds no model.safetensors or pytorch_model.bin"):
        load_encoder(directory)
    (directory / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n")
    with pytest.raises(ValueError, match="vocab.txt lists 4 tokens but config.json says vocab_size 74"):
        load_encoder(directory)
    (directory / "vocab.txt").unlink()
    with pytest.raises(ValueError, match="has no vocab.txt"):
        load_encoder(directory)


def test_damaged_or_non_finite_weights_in_a_huggingface_directory_are_refused_naming_the_file(tmp_path):
    directory = copy_fixture(tmp_path, "tiny-bert-bin")
    weights = directory / "pytorch_model.bin"
    weights.write_bytes(weights.read_bytes()[:4000])  # cut short
    with pytest.raises(ValueError, match=f"^{weights} cannot be read as PyTorch weights"):
        load_encoder(directory)
    directory = copy_fixture(tmp_path)
    tensors = read_safetensors(directory / "model.safetensors")
    tensors["bert.encoder.layer.1.output.dense.weight"][0, 0] = float("nan")
    write_safetensors(directory / "model.safetensors", tensors)
    with pytest.raises(ValueError, match=f"^{directory / 'model.safetensors'}: the tensor "
                                         "bert.encoder.layer.1.output.dense.weight holds 1 NaN"):
        load_encoder(directory)


def test_tokenizer_settings_agree_does_not_implement_are_refused(tmp_path):
    directory = copy_fixture(tmp_path)
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "strip_accents": False}))
    with pytest.raises(ValueError, match="tokenizer_config.json: a tokenizer setting agree does not implement: "
                                         "strip_accents is False"):
        load_encoder(directory)
    (directory / "tokenizer_config.json").unlink()  # BertTokenizer's defaults: lower-cased
    assert load_encoder(directory)[1].lowercase


def test_fine_tuning_refuses_an_unsupported_checkpoint_with_a_message(tmp_path):
    directory = copy_fixture(tmp_path)
    edit_config(directory, hidden_act="silu")
    with pytest.raises(SystemExit, match="hidden_act is 'silu'"):
        SentenceBERT.from_pretrained_bert(directory)


# --- Export -> import -----------------------------------------------------------------------------------------

def test_pretraining_model_export_import_round_trip(tmp_path):
    model, tokenizer = load_pretraining_model(FIXTURES / "tiny-bert")
    huggingface.write_bert_directory(tmp_path, model.state_dict(), model.config, tokenizer, heads=True)
    names = set(read_safetensors(tmp_path / "model.safetensors"))
    assert names == set(read_safetensors(FIXTURES / "tiny-bert" / "model.safetensors"))  # transformers' names
    again, tokenizer_again = load_pretraining_model(tmp_path)
    for ours, theirs in zip(our_outputs(model), our_outputs(again)):
        assert torch.equal(ours, theirs)
    assert tokenizer_again.tokens == tokenizer.tokens and tokenizer_again.lowercase


def test_a_model_of_nltk_words_exports_and_imports_as_nltk_words(tmp_path):
    vocab = Vocab(SPECIAL_TOKENS + tuple("a man is playing guitar , don n't".split()))
    torch.manual_seed(0)
    config = SentenceBertConfig(BertConfig.preset("tiny", vocab_size=len(vocab)))
    model = SentenceBERT(config, vocab).eval()
    huggingface.write_bert_directory(tmp_path, model.state_dict(), config.bert, vocab, heads=False)
    tokenizer_config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert tokenizer_config["agree_tokenizer"] == "nltk-words" and tokenizer_config["strip_accents"] is False
    again = SentenceBERT.from_pretrained_bert(tmp_path).eval()
    assert isinstance(again.vocab, Vocab) and again.tokenize(["a man don't"]) == model.tokenize(["a man don't"])
    ids = model.tokenize(["a man is playing guitar", "don't"])
    torch.testing.assert_close(again.encode(ids), model.encode(ids), rtol=0, atol=0)


def test_a_model_without_biases_exports_zero_biases(tmp_path):
    vocab = Vocab(SPECIAL_TOKENS + ("word",))
    model = BertForPreTraining(BertConfig.preset("tiny", vocab_size=len(vocab), bias=False)).eval()
    huggingface.write_bert_directory(tmp_path, model.state_dict(), model.config, vocab, heads=True)
    again, _ = load_pretraining_model(tmp_path)
    assert not again.state_dict()["bert.layers.0.attention.qkv.bias"].any()
    ids = torch.tensor([[1, 5, 2, 0]])
    with torch.no_grad():
        torch.testing.assert_close(again.bert(ids), model.bert(ids), **TOLERANCE)


def test_a_pre_layer_norm_model_is_not_exported(tmp_path):
    config = BertConfig.preset("tiny", vocab_size=6, pre_layer_norm=True)
    with pytest.raises(ValueError, match="pre-LayerNorm model .* is not a BERT to transformers"):
        huggingface.write_bert_directory(tmp_path, BertForPreTraining(config).state_dict(), config,
                                         Vocab(SPECIAL_TOKENS + ("w",)), heads=True)


# --- The commands ---------------------------------------------------------------------------------------------

NLI_ROWS = [("The man is playing guitar on stage.", "A man plays guitar.", "entailment"),
            ("The man is playing guitar on stage.", "The woman is playing guitar.", "contradiction"),
            ("A dog is on stage.", "The dog is playing.", "neutral"),
            ("A woman is playing.", "The woman is on stage.", "neutral")] * 4
STS_ROWS = [("The man is playing guitar.", "A man plays guitar.", 4.8), ("A dog is on stage.", "The woman.", 0.4),
            ("The woman is playing.", "A woman plays.", 4.0), ("A man.", "The dog is playing guitar.", 1.0)]


def write_pairs(root):
    (root / "nli.jsonl").write_text("".join(json.dumps({"premise": p, "hypothesis": h, "label": label}) + "\n"
                                            for p, h, label in NLI_ROWS))
    (root / "sts.tsv").write_text("sentence1\tsentence2\tscore\n"
                                  + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in STS_ROWS))
    return root / "nli.jsonl", root / "sts.tsv"


def test_finetune_evaluate_and_export_a_huggingface_bert(tmp_path, capsys):
    """finetune.py --bert <Hugging Face directory> trains with its WordPiece tokenizer and records it; evaluate.py
    and SentenceBERT.load (what serve.py uses) tokenize with the recorded one; the export writes it back."""
    import evaluate
    import finetune
    from agree.hf import export
    nli, sts = write_pairs(tmp_path)
    common = ["--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "cache")]
    finetune.main(["--bert", str(FIXTURES / "tiny-bert"), "--train", str(nli), "--val", str(nli),
                   "--max-steps", "3", "--batch-size", "4", "--device", "cpu", "--out", str(tmp_path / "sbert"),
                   *common])
    config = json.loads((tmp_path / "sbert" / "config.json").read_text())
    assert config["tokenizer"] == {"name": "wordpiece", "lowercase": True}
    model = SentenceBERT.load(tmp_path / "sbert")
    assert model.tokenize(["Playing guitar!"]) == [[4, 29, 30, 33, 9, 5]]  # [CLS] play ##ing guitar ! [SEP]

    evaluate.main(["--model", str(FIXTURES / "tiny-bert"), "--sts", str(sts), "--out", str(tmp_path / "report"),
                   "--device", "cpu", *common])
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["kind"] == "huggingface" and report["sts"][0]["spearman"] is not None
    assert "mean-pooled Hugging Face BERT" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="has no NLI classifier"):
        evaluate.main(["--model", str(FIXTURES / "tiny-bert"), "--test", str(nli), *common])

    export.main(["--model", str(tmp_path / "sbert"), "--out", str(tmp_path / "exported")])
    exported = tmp_path / "exported"
    assert json.loads((exported / "1_Pooling" / "config.json").read_text()) == {"word_embedding_dimension": 24,
                                                                                 "pooling_mode": "mean"}
    assert json.loads((exported / "softmax_loss.json").read_text())["concatenation_sent_difference"] is True
    head = read_safetensors(exported / "softmax_loss.safetensors")
    assert torch.equal(head["weight"], model.head.classifier.weight)
    again = SentenceBERT.from_pretrained_bert(exported)
    assert again.vocab.tokens == model.vocab.tokens and again.vocab.lowercase
    sentences = ["Playing guitar on stage!", "A dog."]
    torch.testing.assert_close(again.encode(sentences), model.encode(sentences), rtol=0, atol=0)


def test_export_a_pretrained_bert(tmp_path):
    import pretrain
    from agree.hf import export
    from agree.pretraining import load_pretrained_bert
    corpus = tmp_path / "stories.txt"
    sentences = ["The man is playing guitar.", "A dog is on stage.", "The woman is playing.", "A man sings."]
    corpus.write_text("\n\n".join(" ".join(sentences[i % 4:] + sentences[:i % 4]) for i in range(8)) + "\n")
    pretrain.main(["--corpus", str(corpus), "--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "cache"),
                   "--out", str(tmp_path / "bert"), "--preset", "tiny", "--max-len", "32", "--batch-size", "4",
                   "--max-steps", "1", "--eval-batches", "1", "--no-transfer", "--device", "cpu"])
    export.main(["--model", str(tmp_path / "bert"), "--out", str(tmp_path / "exported")])
    ours, _ = load_pretrained_bert(tmp_path / "bert")
    ours.eval()  # no dropout
    theirs, tokenizer = load_pretraining_model(tmp_path / "exported")
    assert isinstance(tokenizer, Vocab)  # NLTK words come back as NLTK words
    assert "NLTK words, not WordPiece" in (tmp_path / "exported" / "README.md").read_text()
    ids = torch.tensor([[1, 5, 6, 7, 2, 0]])
    with torch.no_grad():
        for a, b in zip(ours(ids, torch.zeros_like(ids), torch.tensor([[1, 2]])),
                        theirs(ids, torch.zeros_like(ids), torch.tensor([[1, 2]]))):
            assert torch.equal(a, b)


def test_export_writes_a_pre_layer_norm_model_as_roberta_prelayernorm_in_another_directory(tmp_path):
    """BertModel cannot express a pre-LN model; RobertaPreLayerNorm can (tests/test_export_preln.py)."""
    from agree.hf import export
    vocab = Vocab(SPECIAL_TOKENS + ("word",))
    config = SentenceBertConfig(BertConfig.preset("tiny", vocab_size=len(vocab), pre_layer_norm=True))
    SentenceBERT(config, vocab).save(tmp_path / "sbert")
    export.main(["--model", str(tmp_path / "sbert"), "--out", str(tmp_path / "exported")])
    assert json.loads((tmp_path / "exported" / "config.json").read_text())["model_type"] == "roberta-prelayernorm"
    with pytest.raises(SystemExit, match="--out must be another directory"):
        export.main(["--model", str(tmp_path / "sbert"), "--out", str(tmp_path / "sbert")])


def test_make_recipe_gpu_hf_fine_tunes_a_huggingface_bert_as_the_sbert_paper(tmp_path):
    """`make -n` prints the target's commands; each parses, and fine-tuning uses the paper's settings."""
    import evaluate
    import finetune
    make = ["make", "-n", "recipe-gpu-hf", f"DATA_DIR={tmp_path}", f"HF_BERT={FIXTURES / 'tiny-bert'}"]
    printed = subprocess.run(make, cwd=FIXTURES.parents[2], check=True, capture_output=True, text=True).stdout
    commands = {words[1]: words[2:] for words in map(shlex.split, printed.replace("\\\n", " ").splitlines())
                if len(words) > 1 and words[1] in ("finetune.py", "evaluate.py")}
    args = finetune.parse_args(commands["finetune.py"])
    assert (args.batch_size, args.lr, args.epochs, args.warmup_fraction) == (16, 2e-5, 1, 0.1)
    assert (args.train, args.pooling, args.features) == ("snli:train,mnli:train", "mean", "u,v,|u-v|")
    assert isinstance(finetune.build_model(args).vocab, WordPiece)
    assert evaluate.parse_args(commands["evaluate.py"]).sts == "stsb:test"
