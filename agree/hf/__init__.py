"""Hugging Face BERT checkpoints in and out, read and written by hand (transformers is never imported):
`checkpoints` maps a Hugging Face BERT directory (config.json, vocab.txt, model.safetensors or
pytorch_model.bin) onto bert.py's modules and back; `wordpiece` is BERT's WordPiece tokenizer, which such a
checkpoint brings; `export` writes an agree model as a transformers / sentence-transformers directory
(`python -m agree.hf.export --model DIR --out DIR`), a pre-LayerNorm model as transformers' RobertaPreLayerNorm
(`prelayernorm`). finetune.py and evaluate.py read Hugging Face directories through sbert.py and `checkpoints`."""
