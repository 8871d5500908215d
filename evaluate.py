"""Evaluate a checkpoint and write its report: NLI accuracy and STS correlations for a fine-tuned
Sentence-BERT, held-out masked-LM and next-sentence scores for a pre-trained BERT.

    python evaluate.py --model runs/sbert --test snli:test --sts stsb:dev,sick:trial --data-dir ../shared/data
    python evaluate.py --model runs/bert --data-dir ../shared/data

The kind of checkpoint is read from its config.json:
- "sbert" (finetune.py): every pair of --test is classified by the trained head, the label with the highest
  logit; accuracy, precision/recall/F1 per class and the confusion matrix follow. Each --sts spec is scored
  by the Spearman and Pearson correlation, x100 as in the SBERT paper, between the cosine similarity of the
  two sentence embeddings and the gold similarity scores.
- "bert" (pretrain.py): masked-LM accuracy, loss and perplexity and next-sentence accuracy on the held-out
  documents, with the run's own corpus, seed, batch size and number of batches, so the numbers are those
  of the run's last evaluation. --sts scores its mean-pooled embeddings (the paper's "avg. BERT" baseline).
- a Hugging Face BERT directory (agree/hf/checkpoints.py; its config.json names no kind): --sts alone, the same way.

The report is printed and written, each file atomically, into the model directory (or --out):
report.json (everything), report.md (for people), and SVG charts: confusion_matrix.svg, f1.svg, and
loss.svg / accuracy.svg from the checkpoint's metrics.jsonl.

--int8 evaluates a fine-tuned Sentence-BERT with its encoder's linear layers in int8 on the CPU
(agree/quantize.py). The report says so in its title and in report.json ("int8": true), so that its
figures are never read as the fp32 model's.
"""
import argparse
import math
import shlex
import sys
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from agree import errors
from agree.atomic import atomic_write_json, atomic_write_text, read_json, recover_directory
from agree.charts import bar_chart, confusion_matrix_chart, training_charts, write_svg
from agree.corpus import CorpusConfig, load_corpus
from agree.encoded_pairs import evaluation_batches, load_encoded_pairs
from agree.hf.checkpoints import is_huggingface_bert
from agree.pretraining import evaluate_heldout, load_pretrained_bert
from agree.quantize import check_cpu
from agree.training import MetricsLog, autocast, evaluation_mode, pick_device
from data import LABELS, Vocab
from masking import ExampleConfig, PretrainingData
from metrics import UndefinedCorrelation, classification_report, confusion_matrix, format_classification_report, \
                    pearson, spearman
from sbert import SentenceBERT

DEFAULT_TEST = "snli:test"
KINDS = {"sbert": "fine-tuned Sentence-BERT (finetune.py)", "bert": "pre-trained BERT (pretrain.py)",
         "huggingface": "Hugging Face BERT directory"}
STS_EMBEDDINGS = {"sbert": "fine-tuned sentence", "bert": "mean-pooled pre-trained BERT (not fine-tuned)",
                  "huggingface": "mean-pooled Hugging Face BERT (not fine-tuned here)"}
CHART_CAPTIONS = {"confusion_matrix.svg": "confusion matrix", "f1.svg": "F1 per class",
                  "loss.svg": "training loss", "accuracy.svg": "accuracy during training",
                  "spearman.svg": "zero-shot STS Spearman during pre-training"}
INT8_NOTE = (", with its encoder's linear layers in int8 (`--int8`: dynamic quantization); these are not the "
             "fp32 model's figures")
# UndefinedCorrelation says which input is constant as "x", "y" or "x and y"; here x and y have names.
CONSTANT_INPUTS = {"x": "the cosine similarities are", "y": "the gold scores are",
                   "x and y": "the cosine similarities and the gold scores are"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    what = parser.add_argument_group("what to evaluate")
    what.add_argument("--model", required=True, help="a checkpoint directory from finetune.py or pretrain.py")
    what.add_argument("--test", help=f"NLI dataset spec(s), comma separated, scored as one set "
                      f"(fine-tuned models only; default: {DEFAULT_TEST})")
    what.add_argument("--sts", help="STS dataset specs, comma separated, each reported on its own: "
                      "stsb:dev, sick:trial, a local file with a score column, ...")
    what.add_argument("--out", help="write the report here instead of into the model directory")
    plumbing = parser.add_argument_group("data and hardware")
    plumbing.add_argument("--data-dir", default="data", help="datasets live (or are downloaded) here "
                          "(default: %(default)s)")
    plumbing.add_argument("--cache-dir", default=".cache", help="tokenized data is cached here "
                          "(default: %(default)s)")
    plumbing.add_argument("--batch-size", type=int, default=128, help="sentence pairs per batch "
                          "(default: %(default)s); held-out pre-training scores use the run's own batches")
    plumbing.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto",
                          help="(default: %(default)s; the CPU with --int8)")
    plumbing.add_argument("--int8", action="store_true", help="a fine-tuned model with its encoder's linear "
                          "layers in int8, on the CPU (agree/quantize.py)")
    errors.add_debug_option(plumbing)
    return parser.parse_args(argv)


# --- Sentence pairs through the model -----------------------------------------------------------------------

@torch.inference_mode()
def model_outputs(model, pairs, batch_size, device):
    """The head's logits (N, 3) and the embeddings u, v (N, d) of every pair, on the CPU, in file order."""
    logits = torch.empty(len(pairs), len(LABELS))
    u = torch.empty(len(pairs), model.config.bert.d_model)
    v = torch.empty_like(u)
    batches = tqdm(evaluation_batches(pairs, batch_size), total=math.ceil(len(pairs) / batch_size),
                   desc=pairs.name, unit="batch")
    with evaluation_mode(model):
        for batch in batches:
            with autocast(device):
                batch_logits, batch_u, batch_v = model(batch["first_ids"].to(device), batch["second_ids"].to(device))
            # Batches hold pairs of similar length, not consecutive rows: their indices put them back in place.
            rows = batch["indices"]
            logits[rows], u[rows], v[rows] = batch_logits.float().cpu(), batch_u.float().cpu(), batch_v.float().cpu()
    return logits, u, v


def evaluate_nli(model, pairs, batch_size, device):
    """Accuracy, classification report and confusion matrix of the trained head's predictions.

    A prediction is the label with the highest logit: what the model was trained to output. (Thresholds on
    the cosine similarity, as some course solutions use, are not NLI predictions.)"""
    logits, _, _ = model_outputs(model, pairs, batch_size, device)
    predicted = logits.argmax(dim=-1)
    label_ids = list(range(len(LABELS)))
    report = classification_report(pairs.labels, predicted, label_ids, target_names=LABELS)
    return {"spec": pairs.name, "pairs": len(pairs), "accuracy": report["accuracy"], "labels": list(LABELS),
            "report": report, "confusion_matrix": confusion_matrix(pairs.labels, predicted, label_ids)}


def evaluate_sts(model, pairs, batch_size, device):
    """Spearman and Pearson correlation x100 of the embeddings' cosine similarity with the gold scores.
    With a constant input they have no value: both are None and `undefined` says why."""
    _, u, v = model_outputs(model, pairs, batch_size, device)
    cosines = F.cosine_similarity(u, v, dim=-1)
    result = {"spec": pairs.name, "pairs": len(pairs)}
    try:
        return {**result, "spearman": 100 * spearman(cosines, pairs.scores),
                "pearson": 100 * pearson(cosines, pairs.scores), "undefined": None}
    except UndefinedCorrelation as error:
        message = f"correlation is undefined: {CONSTANT_INPUTS[error.constant]} constant"
        return {**result, "spearman": None, "pearson": None, "undefined": message}


# --- Pre-training held-out scores ---------------------------------------------------------------------------

def heldout_data(model_dir, config, data_dir, cache_dir):
    """The run's corpus with its settings; the tokenized cache makes this quick after pre-training."""
    corpus = load_corpus(config["corpus"]["sources"], data_dir, cache_dir,
                         CorpusConfig(max_samples=config["corpus"]["max_samples"],
                                      vocab_size=config["corpus"]["vocab_size"],
                                      exclude=tuple(config["corpus"].get("exclude", ()))))
    # A corpus file edited since pre-training would give other ids to the same words.
    if corpus.vocab.tokens != Vocab.load(Path(model_dir) / "vocab.txt").tokens:
        raise SystemExit(f"the corpus {config['corpus']['sources']} no longer gives the vocabulary of "
                         f"{model_dir}; was a corpus file changed after pre-training?")
    return PretrainingData(corpus, ExampleConfig(**config["examples"]))


def evaluate_pretraining(model_dir, data_dir, cache_dir, device):
    """Held-out MLM accuracy, loss and perplexity and NSP accuracy of a pretrain.py checkpoint, on the
    batches its run evaluated on (same seed, batch size and number of batches)."""
    model, config = load_pretrained_bert(model_dir, device)
    run = read_json(Path(model_dir) / "args.json")
    data = heldout_data(model_dir, config, data_dir, cache_dir)
    scores = evaluate_heldout(model, data, run["seed"], run["eval_batches"], run["batch_size"], device)
    return {"corpus": config["corpus"]["sources"], "step": config["step"], "batches": run["eval_batches"],
            "batch_size": run["batch_size"], **scores}


# --- Running the evaluations a checkpoint calls for ---------------------------------------------------------

def checkpoint_kind(model_dir):
    if not model_dir.is_dir():
        raise SystemExit(f"{model_dir}: no such model directory")
    if is_huggingface_bert(model_dir):
        return "huggingface"
    kind = read_json(model_dir / "config.json").get("kind")
    if kind not in KINDS:
        raise SystemExit(f"{model_dir / 'config.json'}: unknown checkpoint kind {kind!r}; expected "
                         + " or ".join(f"{name!r} ({description})" for name, description in KINDS.items()))
    return kind


def pair_loader(model, args):
    """Load one spec's token ids for this model; progress messages go to stderr, the report to stdout."""
    return partial(load_encoded_pairs, vocab=model.vocab, max_len=model.config.bert.max_len,
                   data_dir=args.data_dir, cache_dir=args.cache_dir, log=partial(print, file=sys.stderr))


def sts_results(model, args, device):
    load = pair_loader(model, args)
    specs = [spec.strip() for spec in (args.sts or "").split(",") if spec.strip()]
    return [evaluate_sts(model, load(spec, task="sts"), args.batch_size, device) for spec in specs]


def evaluate_sbert(args, device):
    model = SentenceBERT.load(args.model, device, int8=args.int8)
    test = pair_loader(model, args)(args.test or DEFAULT_TEST, task="nli")
    return {"test": evaluate_nli(model, test, args.batch_size, device), "sts": sts_results(model, args, device)}


def evaluate_bert(args, device):
    if args.int8:
        raise SystemExit(f"{args.model} is a pre-trained BERT: --int8 is for fine-tuned Sentence-BERT models")
    if args.test:
        raise SystemExit(f"{args.model} is a pre-trained BERT: its classifier is untrained, so --test has "
                         "nothing to score. Fine-tune it with finetune.py, then evaluate that model.")
    results = {"heldout": evaluate_pretraining(args.model, args.data_dir, args.cache_dir, device)}
    if args.sts:
        results["sts"] = sts_results(SentenceBERT.from_pretrained_bert(args.model).to(device), args, device)
    return results


def evaluate_huggingface_bert(args, device):
    """Its pre-training data is not here to score it on: its mean-pooled embeddings on --sts, as the SBERT
    paper's "avg. BERT embeddings" baseline."""
    if args.int8:
        raise SystemExit(f"{args.model} is a Hugging Face BERT: --int8 is for fine-tuned Sentence-BERT models")
    if args.test or not args.sts:
        raise SystemExit(f"{args.model} is a Hugging Face BERT: it has no NLI classifier (fine-tune it with "
                         "finetune.py --bert) and no pre-training corpus here; score its embeddings with --sts")
    return {"sts": sts_results(SentenceBERT.from_pretrained_bert(args.model).to(device), args, device)}


# --- Report -------------------------------------------------------------------------------------------------

def report_charts(report, metrics_records):
    """{file name: svg}: training curves when there is a metrics log, NLI charts when there is a test."""
    charts = training_charts(metrics_records)
    if "test" in report:
        test = report["test"]
        charts["confusion_matrix.svg"] = confusion_matrix_chart(test["confusion_matrix"], test["labels"],
                                                                f"confusion matrix, {test['spec']}")
        charts["f1.svg"] = bar_chart({name: test["report"][name]["f1-score"] for name in test["labels"]},
                                     f"F1 per class, {test['spec']}")
    return charts


def _nli_markdown(test):
    header = ["true \\ predicted", *test["labels"]]
    rows = [[name, *map(str, counts)] for name, counts in zip(test["labels"], test["confusion_matrix"])]
    return [f"## NLI: `{test['spec']}` ({test['pairs']:,} pairs)", "",
            f"Accuracy **{test['accuracy']:.2%}**. Each prediction is the label the trained classifier "
            "head scores highest.", "",
            "```text", format_classification_report(test["report"]).rstrip("\n"), "```", "",
            "Confusion matrix (a row per true label, a column per predicted label):", "",
            *_markdown_table(header, rows)]


def _sts_markdown(results, kind):
    embeddings = STS_EMBEDDINGS[kind]
    rows = [[f"`{r['spec']}`", f"{r['pairs']:,}",
             *([r["undefined"], ""] if r["undefined"] else [f"{r['spearman']:.2f}", f"{r['pearson']:.2f}"])]
            for r in results]
    return ["## Semantic textual similarity", "",
            f"Correlation x100 between the cosine similarity of the {embeddings} embeddings and the gold "
            "scores, as the SBERT paper reports it.", "",
            *_markdown_table(["data", "pairs", "Spearman", "Pearson"], rows)]


def _heldout_markdown(heldout):
    sources = ", ".join(f"`{source}`" for source in heldout["corpus"])
    rows = [["masked-LM accuracy", f"{heldout['heldout_mlm_accuracy']:.2%}"],
            ["masked-LM perplexity", f"{heldout['heldout_mlm_perplexity']:.2f}"],
            ["masked-LM loss", f"{heldout['heldout_mlm_loss']:.4f}"]]
    if heldout["heldout_nsp_accuracy"] is not None:  # None: pre-trained without next-sentence prediction
        rows.append(["next-sentence accuracy", f"{heldout['heldout_nsp_accuracy']:.2%}"])
    return ["## Held-out pre-training scores", "",
            f"After {heldout['step']:,} steps; {heldout['batches']} batches of {heldout['batch_size']} "
            f"pairs from the held-out documents of {sources}.", "",
            *_markdown_table(["measure", "value"], rows)]


def _markdown_table(header, rows):
    """A Markdown table with the first column left-aligned and the others right-aligned (numbers)."""
    return [f"| {' | '.join(header)} |", "|---|" + "---:|" * (len(header) - 1),
            *(f"| {' | '.join(row)} |" for row in rows)]


def render_markdown(report):
    """report.md: what report.json holds, for people (also what the command prints)."""
    int8 = report.get("int8", False)  # reports written before --int8 existed are fp32
    lines = [f"# Evaluation of `{report['model']}`" + (" in int8" if int8 else ""), "",
             f"A {KINDS[report['kind']]}, evaluated {report['date']} on {report['device']} with torch "
             f"{report['torch']} in {report['seconds']:.1f} s" + (INT8_NOTE if int8 else "") + ":", "",
             "```sh", report["command"], "```", ""]
    if "heldout" in report:
        lines += _heldout_markdown(report["heldout"]) + [""]
    if "test" in report:
        lines += _nli_markdown(report["test"]) + [""]
    if report.get("sts"):
        lines += _sts_markdown(report["sts"], report["kind"]) + [""]
    if report["charts"]:
        lines += ["## Charts", "", *(f"![{CHART_CAPTIONS.get(name, name)}]({name})" for name in report["charts"]),
                  ""]
    return "\n".join(lines)


def write_report(out_dir, report, charts):
    """Charts first and report.md last, so a reader of report.md finds every chart it links to."""
    for name, svg in charts.items():
        write_svg(out_dir / name, svg)
    atomic_write_json(out_dir / "report.json", report)
    atomic_write_text(out_dir / "report.md", render_markdown(report))


def evaluation_device(args):
    """The device asked for; with --int8 the CPU, which "auto" picks, and another device is refused at once."""
    if not args.int8:
        return pick_device(args.device)
    check_cpu("cpu" if args.device == "auto" else args.device)
    return torch.device("cpu")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    model_dir = recover_directory(args.model)  # undoes a pretrain.py save cut off between its two renames
    kind = checkpoint_kind(model_dir)
    device = evaluation_device(args)
    started = time.monotonic()
    evaluations = {"sbert": evaluate_sbert, "bert": evaluate_bert, "huggingface": evaluate_huggingface_bert}
    results = evaluations[kind](args, device)
    report = {"model": str(model_dir), "kind": kind, "int8": args.int8, **results,
              "command": shlex.join(["python", "evaluate.py", *argv]),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
              "device": str(device), "seconds": time.monotonic() - started}
    charts = report_charts(report, MetricsLog(model_dir / "metrics.jsonl").read())
    report["charts"] = list(charts)
    write_report(Path(args.out or model_dir), report, charts)
    print(render_markdown(report))


if __name__ == "__main__":
    errors.run(main)
