# agree: `make demo` trains, evaluates and serves a model; `make test` runs the tests.
# Both build .venv first when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The torch build to install. On this project's CI machine this resolves to the CPU wheel on its disk; on
# yours pick the build for your hardware, e.g. `make TORCH="torch --index-url https://download.pytorch.org/whl/cu128"`.
TORCH ?= torch==2.13.0

# --- The demo: pre-train the small preset, fine-tune, evaluate, serve ----------------------------------------
DATA_DIR ?= data
RUN_DIR ?= runs/demo
PRETRAIN_MINUTES ?= 7
FINETUNE_MINUTES ?= 5
PORT ?= 8000
# Pre-training text: two files of long core articles from an offline Wikipedia copy when DATA_DIR has them (the
# recipe's choice; enwiki_00-03 are mostly stubs), else WikiText-103.
CORPUS ?= $(or $(wildcard $(DATA_DIR)/wikipedia/enwiki_0[4-5].txt.gz),wikitext-103)
# NLI training data: SNLI + MultiNLI train (downloaded when missing). An offline copy that holds only the
# dev/test splits (like ../shared/data) trains on what it has instead; the test set stays snli:test.
OFFLINE_NLI := $(and $(wildcard $(DATA_DIR)/snli_1.0/snli_1.0_dev.jsonl),$(if $(wildcard $(DATA_DIR)/snli_1.0/snli_1.0_train.jsonl),,yes))
NLI_TRAIN ?= $(if $(OFFLINE_NLI),snli:dev$(COMMA)mnli:dev_matched$(COMMA)sick:train,snli:train$(COMMA)mnli:train)
COMMA := ,

.PHONY: test check-docs venv demo serve clean recipe-cpu recipe-headline recipe-transfer recipe-spread recipe-gpu

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The tests need no data: they bring their own fixtures. The few about the real data sets skip when
# ../shared/data is missing (AGREE_REQUIRE_REAL_DATA=1 makes that a failure; .ci/run sets it).
test: venv
	$(PY) -m pytest -q tests

# The checked tables of README and RESULTS against their logs, and every link of the docs (part of `make test`).
check-docs: venv
	$(PY) -m pytest -q tests/test_docs.py

# NLTK's sentence splitter, unless NLTK_DATA or DATA_DIR already provides it.
$(DATA_DIR)/nltk_data/tokenizers/punkt_tab:
	$(PY) -c "import data, sys; data.use_nltk_data('$(DATA_DIR)')" 2>/dev/null || \
		$(PY) -m nltk.downloader -d $(DATA_DIR)/nltk_data punkt_tab

# Pre-training reads the Wikipedia text and the sentences of the NLI training pairs (half the examples each,
# never a sentence of the test sets), without next-sentence prediction, in sequences of 64 tokens, with the
# sentence-level term: the recipe's levers (RESULTS.md), on a smaller corpus. The recipe takes nine in ten
# examples from the NLI sentences; at the demo's 7 minutes validation preferred half (docs/notebook/demo.md).
PRETRAIN_LEVERS = $(subst $(COMMA), ,$(NLI_TRAIN)) --nli-share 0.5 --exclude-sentences-of snli:test$(COMMA)stsb:dev \
	--no-nsp --max-len 64 --pre-layer-norm --dropout 0 --warmup-fraction 0.05 --batch-size 32 $(SENTENCE_LEVERS)
# Beside the masked words, a sentence-level term: each sentence ranked in the batch for the next sentence of its
# document (no label read); and length-sorted passes that make a step cheaper (RESULTS.md §6). Validation
# chose it for the recipe and for the demo. SENTENCE_LEVERS= gives masked words alone (recipe 3), which then
# wants CONTRASTIVE_WEIGHT=0.3 (RESULTS.md §7).
SENTENCE_LEVERS ?= --length-passes 2 --neighbour-contrastive-weight 1
# The fine-tuning adds the in-batch contrastive term to SoftmaxLoss, its weight chosen on validation for each
# start (RESULTS.md §7): 0.1 for the pre-trained copies of the recipe and of the demo, and for random
# weights. CONTRASTIVE_WEIGHT=0 RANDOM_INIT_CONTRASTIVE_WEIGHT=0 is SBERT's objective alone.
CONTRASTIVE_WEIGHT ?= 0.1
RANDOM_INIT_CONTRASTIVE_WEIGHT ?= 0.1

# Each stage resumes an interrupted run and is skipped once it has finished.
$(RUN_DIR)/bert/.done: | venv $(DATA_DIR)/nltk_data/tokenizers/punkt_tab
	$(PY) pretrain.py --corpus $(CORPUS) $(PRETRAIN_LEVERS) --lr 5e-4 --data-dir $(DATA_DIR) --preset small \
		--max-samples 20000 --max-minutes $(PRETRAIN_MINUTES) --out $(RUN_DIR)/bert \
		$(if $(wildcard $(RUN_DIR)/bert/trainer.pt),--resume)
	touch $@

# Fine-tuning adds the recipe's in-batch contrastive term to SoftmaxLoss, which makes the cosine a similarity.
$(RUN_DIR)/sbert/.done: $(RUN_DIR)/bert/.done
	$(PY) finetune.py --bert $(RUN_DIR)/bert --train $(NLI_TRAIN) --val-fraction 0.05 --data-dir $(DATA_DIR) \
		--lr 3e-4 --batch-size 32 --epochs 3 --contrastive-weight $(CONTRASTIVE_WEIGHT) --max-minutes $(FINETUNE_MINUTES) --out $(RUN_DIR)/sbert \
		$(if $(wildcard $(RUN_DIR)/sbert/last/trainer.pt),--resume)
	$(PY) evaluate.py --model $(RUN_DIR)/sbert --test snli:test --sts stsb:dev --data-dir $(DATA_DIR)
	touch $@

demo: $(RUN_DIR)/sbert/.done serve

# The Search page's sentences: snli:test's distinct ones (evaluate.py has read it already), encoded at the first
# start and cached in .cache/index; INDEX can also be a .txt or .gz file with one sentence per line.
INDEX ?= snli:test
serve: venv
	$(PY) serve.py --model $(RUN_DIR)/sbert --index $(INDEX) --data-dir $(DATA_DIR) --port $(PORT)

# --- The CPU recipe (RESULTS.md): an hour of pre-training on 2 cores, then fine-tuning ------------------------
# The recipe counts steps, not minutes, so that it is the same run on every machine: the 5,907 steps its hour
# made on the reference machine (RESULTS.md §10), with copies where that hour stood after 15 and 30 minutes.
# recipe-headline makes one pre-training run of the recipe (PRETRAIN_SEED, keeping those copies), fine-tunes it
# with seed 0, evaluates it and exports it for transformers and sentence-transformers. recipe-transfer fine-tunes
# every start -- random weights with the same architecture and vocabulary, and the copies after 15, 30 and 60
# minutes of the reference hour -- with TRANSFER_SEEDS seeds and evaluates them: what pre-training buys along
# the hour (docs/notebook/recipe-4.md); a fine-tuning whose report exists is skipped. Each start's learning
# rate was chosen on validation pairs. The headline is recipe-spread's mean over three runs (below).
RECIPE_DIR ?= runs/recipe
RECIPE_STEPS ?= 5907
RECIPE_KEEP_AT_STEPS ?= 1440 2861
PRETRAIN_SEED ?= 0
RECIPE_TEXT ?= $(wildcard $(DATA_DIR)/wikipedia/enwiki_0[4-7].txt.gz)
RECIPE_NLI = snli:dev mnli:dev_matched sick:train
RECIPE_PRETRAIN = --corpus $(RECIPE_TEXT) $(RECIPE_NLI) --nli-share 0.9 \
	--exclude-sentences-of snli:test$(COMMA)stsb:dev --no-nsp --max-len 64 --max-samples 0 --data-dir $(DATA_DIR) \
	--preset small --pre-layer-norm --dropout 0 --lr 5e-4 --warmup-fraction 0.05 --batch-size 32 --eval-every 500 \
	--eval-batches 20 --log-every 50 --seed $(PRETRAIN_SEED) $(SENTENCE_LEVERS)
RECIPE_FINETUNE = --train snli:dev$(COMMA)mnli:dev_matched --val-fraction 0.05 --data-dir $(DATA_DIR) \
	--batch-size 32 --features "u,v,|u-v|" --epochs 100 --max-steps 1500 --eval-every 250 $(FINETUNE_OPTIONS)
# More finetune.py options for every fine-tuning of the recipe: how a lever is measured on the recipe's runs
# without editing it.
FINETUNE_OPTIONS ?=
# Each start's learning rate, chosen by the rule of RESULTS.md §7: random weights gained from twice the
# pre-trained start's rate on every seed, the pre-trained start did not (docs/notebook/levers.md).
PRETRAINED_LR ?= 3e-4
RANDOM_INIT_LR ?= 6e-4
RECIPE_EVALUATE = --test snli:test --sts stsb:dev --data-dir $(DATA_DIR)
TRANSFER_STARTS ?= random $(foreach s,$(RECIPE_KEEP_AT_STEPS) $(RECIPE_STEPS),step$(s))
TRANSFER_SEEDS ?= 0 1
# Where recipe-transfer writes; its full run with seed 0 is the headline (runs/recipe/sbert) only here, so that
# `make recipe-transfer CONTRASTIVE_WEIGHT=0 RANDOM_INIT_CONTRASTIVE_WEIGHT=0 TRANSFER_DIR=runs/recipe/transfer-softmax`
# fills a table of its own.
TRANSFER_DIR ?= $(RECIPE_DIR)/transfer
HEADLINE_RUN = $(if $(filter $(RECIPE_DIR)/transfer,$(TRANSFER_DIR)),$(RECIPE_DIR)/sbert)
RECIPE_PRECISION ?= auto  # bf16 pays on CPUs with bf16 matrix units; docs/performance.md measures it

recipe-cpu: recipe-headline recipe-transfer

# The headline (RESULTS.md §1) is a mean, not one run: the recipe pre-trained with each of PRETRAIN_SEEDS (in
# RECIPE_DIR-seedS), each run fine-tuned with seeds 0 and 1, and random weights of its shape with RANDOM_SEEDS.
# About 80 minutes a pre-training seed and 6 a fine-tuning on the reference machine.
PRETRAIN_SEEDS ?= 0 1 2
RANDOM_SEEDS ?= 0 1 2
recipe-spread: venv
	for seed in $(PRETRAIN_SEEDS); do \
		$(MAKE) recipe-headline RECIPE_DIR=$(RECIPE_DIR)-seed$$seed PRETRAIN_SEED=$$seed && \
		$(MAKE) recipe-transfer RECIPE_DIR=$(RECIPE_DIR)-seed$$seed TRANSFER_STARTS=step$(RECIPE_STEPS) \
			TRANSFER_SEEDS="0 1" || exit 1; \
	done
	$(MAKE) recipe-transfer RECIPE_DIR=$(RECIPE_DIR)-seed$(firstword $(PRETRAIN_SEEDS)) TRANSFER_STARTS=random \
		TRANSFER_SEEDS="$(RANDOM_SEEDS)"

recipe-headline: venv
	$(PY) pretrain.py $(RECIPE_PRETRAIN) --max-steps $(RECIPE_STEPS) --keep-at-steps $(RECIPE_KEEP_AT_STEPS) \
		--precision $(RECIPE_PRECISION) \
		--out $(RECIPE_DIR)/bert
	$(PY) finetune.py --bert $(RECIPE_DIR)/bert $(RECIPE_FINETUNE) --lr $(PRETRAINED_LR) --seed 0 \
		--contrastive-weight $(CONTRASTIVE_WEIGHT) --precision $(RECIPE_PRECISION) --out $(RECIPE_DIR)/sbert
	$(PY) evaluate.py --model $(RECIPE_DIR)/sbert $(RECIPE_EVALUATE)
	$(PY) -m agree.hf.export --model $(RECIPE_DIR)/sbert --out $(RECIPE_DIR)/sbert-hf  # for transformers

recipe-transfer: venv
	for start in $(TRANSFER_STARTS); do for seed in $(TRANSFER_SEEDS); do \
		lr=$(PRETRAINED_LR); weight=$(CONTRASTIVE_WEIGHT); \
		case $$start in random) from="$(RECIPE_DIR)/bert --random-init"; lr=$(RANDOM_INIT_LR); \
				weight=$(RANDOM_INIT_CONTRASTIVE_WEIGHT);; \
			step$(RECIPE_STEPS)) from=$(RECIPE_DIR)/bert;; *) from=$(RECIPE_DIR)/bert-$$start;; esac; \
		out=$(TRANSFER_DIR)/sbert-$$start-seed$$seed; [ $$start-$$seed = step$(RECIPE_STEPS)-0 ] && [ -n "$(HEADLINE_RUN)" ] && \
			out=$(HEADLINE_RUN); \
		if [ ! -f $$out/report.json ]; then \
			$(PY) finetune.py --bert $$from $(RECIPE_FINETUNE) --lr $$lr --contrastive-weight $$weight \
				--seed $$seed --precision $(RECIPE_PRECISION) --out $$out && \
			$(PY) evaluate.py --model $$out $(RECIPE_EVALUATE) || exit 1; \
		fi; \
	done; done

# --- For a GPU and the full data (not run on the project's machine; see RESULTS.md) ---------------------------
# BERT-base on WikiText-103, then the SBERT paper's fine-tuning: SNLI + MultiNLI, 1 epoch, batch 16, 2e-5.
recipe-gpu: venv
	$(PY) pretrain.py --corpus wikitext-103 --max-samples 0 --data-dir $(DATA_DIR) --preset base --max-len 128 \
		--pre-layer-norm --dropout 0 --attention fused --lr 5e-4 --warmup-fraction 0.05 --batch-size 256 --max-minutes 720 \
		--device cuda --out $(RECIPE_DIR)-gpu/bert
	$(PY) finetune.py --bert $(RECIPE_DIR)-gpu/bert --train snli:train$(COMMA)mnli:train --val snli:dev \
		--data-dir $(DATA_DIR) --device cuda --out $(RECIPE_DIR)-gpu/sbert
	$(PY) evaluate.py --model $(RECIPE_DIR)-gpu/sbert $(RECIPE_EVALUATE) --device cuda

# --- Start from a real BERT (docs/huggingface.md; not run on the project's machine) -------------------------------
# HF_BERT: a Hugging Face BERT directory, e.g. `hf download google-bert/bert-base-uncased config.json vocab.txt
# tokenizer_config.json model.safetensors --local-dir data/bert-base-uncased`. The SBERT paper's fine-tuning
# (finetune.py's defaults): SNLI + MultiNLI train, 1 epoch, batch 16, AdamW 2e-5, 10% warm-up, mean pooling,
# (u, v, |u-v|); the paper reports STSb test Spearman 77.03 for SBERT-NLI-base.
HF_BERT ?= $(DATA_DIR)/bert-base-uncased
.PHONY: recipe-gpu-hf
recipe-gpu-hf: venv
	$(PY) finetune.py --bert $(HF_BERT) --train snli:train$(COMMA)mnli:train --val snli:dev --data-dir $(DATA_DIR) \
		--device cuda --out $(RECIPE_DIR)-gpu-hf/sbert
	$(PY) evaluate.py --model $(RECIPE_DIR)-gpu-hf/sbert --test snli:test --sts stsb:test --data-dir $(DATA_DIR) \
		--device cuda

clean:
	rm -rf $(VENV) .cache .pytest_cache
