"""The machinery behind agree's scripts. The root files hold the ideas (bert.py, data.py, masking.py,
sbert.py, the loops pretrain.py and finetune.py, evaluate.py with metrics.py, serve.py); what they lean on
lives here, each module named for what it holds:

- `atomic`: files and checkpoint directories written so that a crash never leaves half of one.
- `weights`: a checkpoint's tensor files saved with a SHA-256 digest and loaded only when they check out.
- `errors`: a user's mistake (a bad file, a full disk) said in one line; the scripts' `--debug` and exit status.
- `quantize`: the encoder's linear layers in int8 for CPU inference (`SentenceBERT.load(..., int8=True)`, `evaluate.py --int8`).
- `download`, `datasets`: the official data sets fetched into --data-dir and read as sentence pairs (SNLI,
  MultiNLI, SICK, STS Benchmark, local .jsonl/.tsv/.csv files), with errors that name the file and line.
- `nltk_on_re`: NLTK's own tokenizers run on the standard library's `re`, the same output, faster.
- `corpus`: pre-training text read, tokenized on all cores and cached memory-mapped (pretrain.py).
- `encoded_pairs`: sentence pairs as token ids, cached on disk (finetune.py, evaluate.py).
- `training`: what both loops share: device, precision, AdamW, the schedule, the budget, clean stopping,
  resuming, metrics.jsonl. `distributed`: several processes with torchrun.
- `pretraining`: the losses of a pre-training step and the held-out evaluation (pretrain.py, evaluate.py).
- `transfer`: two cheap signals of whether pre-training helps sentence pairs yet (pretrain.py).
- `charts`: small hand-written SVG charts for the reports (evaluate.py).
- `hf/`: Hugging Face BERT directories in and out, and BERT's WordPiece tokenizer.
- `web/`: the web server's parts (serve.py).

Imports point one way: the root's files use this package; nothing here imports a script.
"""
