"""RESULTS §6, "What was tried": every lever, one line each, printed from the committed logs by
docs/runs/report_tables.py (`python docs/runs/report_tables.py tried`).
"""
import re

from fine_tuning_levers import change_on
from run_logs import HEADLINE, RANDOM, RUNS, Start, accuracy, hour, link, notebook, num, pct, read, records, rule, \
                     runs_link, signals, signals_at, signed, spearman, steps, table, validation, zero_shot


def probe_step(name, step=600):
    """(STS signal, probe accuracy) of a 600-step pre-training probe at `step`."""
    masked, sts, probe = signals_at(f"recipe2/levers/{name}", step)
    return sts, probe


def probe_change(lever, base):
    sts, probe = probe_step(lever)
    base_sts, base_probe = probe_step(base)
    return f"at 600 steps: probe {signed(probe - base_probe)} points, STS signal {signed(sts - base_sts)}"


def length_passes_speed_up():
    text = (RUNS / "bench/pretraining_step.txt").read_text()
    return re.search(r"^\| 2 \| 0 \|.*\| ([\d.]+)x \|$", text, re.M).group(1)


def tried():
    """RESULTS §6: every lever, one line each."""
    random = RANDOM["4 × 256"]
    r2, r3, r4 = hour("recipe 2: half"), hour("recipe 3: nine"), hour("recipe 4: the")
    share, term = hour("recipe 2 with nine"), hour("recipe 3 + the")
    narrow, narrow_term = hour("recipe 3 at d 128"), hour("recipe 4 at d 128")
    light, late, deep = hour("recipe 4, the term at"), hour("recipe 4, the term from"), hour("recipe 4 with 6")
    r3_end, r4_end = signals("recipe3/bert"), signals("recipe4/bert")
    rows = []

    def row(lever, what, on_signals, end_to_end, verdict, page):
        rows.append([lever, what, on_signals, end_to_end, verdict, page])

    def gain(start, base):
        return " / ".join(map(signed, start.minus(base)))

    def figures(start):
        return f"{pct(start.accuracy)} / {num(start.spearman)}"

    # Pre-training, on 600-step probes (recipe 2's machine and data)
    row("NLI sentences in the pre-training text", "the sentences of the NLI training pairs, no labels, as half the "
        "examples (`--nli-share 0.5`)", probe_change("mix-nsp", "wiki-nsp"), "—", "adopted (recipe 2)",
        notebook("pretraining-probes", "probes"))
    row("no next-sentence prediction", "`--no-nsp`: one run of text per example", probe_change("mix-nonsp", "mix-nsp"),
        "—", "adopted (recipe 2)", notebook("pretraining-probes", "probes"))
    row("Wikipedia's long core articles", "`enwiki_04`–`07` instead of the stub-heavy `00`–`03`",
        probe_change("core-mix-nsp", "mix-nsp"), "—", "adopted (recipe 2)", notebook("pretraining-probes", "probes"))
    row("30% of the words masked", "`--mask-prob 0.3`", probe_change("mix-nonsp-mask30", "mix-nonsp"), "—",
        "not adopted", notebook("pretraining-probes", "probes"))
    row("a peak learning rate of 1e-3", "`--lr 1e-3` instead of 5e-4", probe_change("mix-nonsp-lr1e3", "mix-nonsp"),
        "—", "not adopted", notebook("pretraining-probes", "probes"))

    # Pre-training, an hour each, fine-tuned end to end
    share_end, r2_end = signals("recipe2/levers-pt/nli0.9/bert"), signals("recipe2/bert")
    row("nine in ten examples from the NLI sentences", "`--nli-share 0.9` instead of 0.5",
        f"at the hour's end: probe {pct(share_end[3])} (recipe 2: {pct(r2_end[3])}), STS signal "
        f"{num(share_end[2])} ({num(r2_end[2])})",
        f"{figures(share)} against recipe 2's {figures(r2)}: {gain(share, r2)}; over random weights "
        f"{gain(share, random)}", "adopted: recipe 3", notebook("nli-share-0.9"))
    term_end = signals("neighbour/bert")
    row("a sentence-level term", "beside the masked words, each sentence ranked against the batch for the one after "
        "it in its document (`--neighbour-contrastive-weight 1`)",
        f"STS signal {num(term_end[2])} (recipe 3: {num(r3_end[2])}), probe {pct(term_end[3])} "
        f"({pct(r3_end[3])}), masked-LM {pct(term_end[1])} ({pct(r3_end[1])}); zero-shot `stsb:dev` "
        f"{num(zero_shot('neighbour/bert'))} ({num(zero_shot('recipe3/bert'))})",
        f"{figures(term)}; over random weights {gain(term, random)} (recipe 3: {gain(r3, random)}); reproduced "
        f"as recipe 4: {gain(r4, random)}", "adopted: recipe 4", notebook("neighbour-term"))
    row("two length-sorted passes a step", "`--length-passes 2`: the same loss and gradients with less padding",
        f"{length_passes_speed_up()}× the steps a minute on recipe 3's batches "
        f"({runs_link('bench/pretraining_step.txt', 'benchmark')})", "not run alone", "adopted with the term "
        "(recipe 4)", link("performance", "docs/performance.md#where-the-time-goes"))
    narrow_end = signals("shape/d128/bert")
    narrow_4500 = (accuracy("shape/d128/ft4500-60min-c0.1-seed0") - accuracy("shape/d128/ft4500-random-c0.3-seed0"),
                   spearman("shape/d128/ft4500-60min-c0.1-seed0") - spearman("shape/d128/ft4500-random-c0.3-seed0"))
    row("a narrower model", "d = 128 instead of 256 (2 heads, d_ff 512), recipe 3 otherwise",
        f"{steps(narrow_end[0])} steps in the hour (recipe 3: {steps(r3_end[0])}); masked-LM {pct(narrow_end[1])} "
        f"({pct(r3_end[1])})",
        f"{figures(narrow)}; over random weights of its shape {gain(narrow, RANDOM['4 × 128'])}; with 4,500 "
        f"fine-tuning steps {' / '.join(map(signed, narrow_4500))} (seed 0)",
        "not adopted: below recipe 3", notebook("width-d128"))
    narrow_term_end = signals("shape/neighbour-d128/bert")
    long_pretrained = Start("shape/neighbour-d128/ft4500-60min-c0.3-seed0",
                            "shape/neighbour-d128/ft4500-60min-c0.3-seed1")
    long_random = Start("shape/d128/ft4500-random-c0.3-seed0", "shape/neighbour-d128/ft4500-random-c0.3-seed1")
    row("the term and the narrower model together", "recipe 4 at d = 128 (AMD EPYC)",
        f"{steps(narrow_term_end[0])} steps; STS signal {num(narrow_term_end[2])}; zero-shot `stsb:dev` "
        f"{num(zero_shot('shape/neighbour-d128/bert'))}",
        f"{figures(narrow_term)}; over random weights of its shape {gain(narrow_term, RANDOM['4 × 128'])}; with "
        f"4,500 fine-tuning steps {gain(long_pretrained, long_random)}",
        "not adopted: below recipe 4", notebook("width-and-term"))
    light_end = signals("term0.3/bert")
    row("a lighter term", "`--neighbour-contrastive-weight 0.3` instead of 1 (AMD EPYC)",
        f"masked-LM {pct(light_end[1])} (recipe 4: {pct(r4_end[1])}); zero-shot `stsb:dev` "
        f"{num(zero_shot('term0.3/bert'))} ({num(zero_shot('recipe4/bert'))})",
        f"{figures(light)}; over random weights {gain(light, random)}", "not adopted", notebook("term-weight-0.3"))
    late_end = signals("late/bert")
    row("the term in the second half hour only", "`--neighbour-contrastive-from 0.5` (AMD EPYC)",
        f"masked-LM {pct(late_end[1])} (recipe 3: {pct(r3_end[1])}); zero-shot `stsb:dev` "
        f"{num(zero_shot('late/bert'))}",
        f"{figures(late)}; over random weights {gain(late, random)}",
        f"not adopted: the rule prefers recipe 4 ({num(rule('late/sbert'))} against {num(rule(HEADLINE))})",
        notebook("term-late"))
    deep_end = signals("deep/bert")
    row("a deeper model", "6 layers instead of 4 (AMD EPYC)",
        f"{steps(deep_end[0])} steps (recipe 4: {steps(r4_end[0])}); at step 3,500 masked-LM "
        f"{pct(signals_at('deep/bert', 3500)[0])} (recipe 4: {pct(signals_at('recipe4/bert', 3500)[0])})",
        f"{figures(deep)}; over random weights of its shape {gain(deep, RANDOM['6 × 256'])}", "not adopted",
        notebook("depth"))
    bf16, fp32 = read("recipe-bf16/bert/report.json")["heldout"], read("recipe/bert/report.json")["heldout"]
    row("four times the pre-training steps", "recipe 1 in bf16 on a Xeon with AMX (`--precision bf16`)",
        f"{steps(bf16['step'])} steps against {steps(fp32['step'])}; masked-LM "
        f"{pct(100 * bf16['heldout_mlm_accuracy'])} ({pct(100 * fp32['heldout_mlm_accuracy'])})",
        f"{pct(accuracy('recipe-bf16/sbert'))} / {num(spearman('recipe-bf16/sbert'))} against "
        f"{pct(accuracy('recipe/sbert'))} / {num(spearman('recipe/sbert'))}", "one run; `--precision auto` uses bf16 "
        "where a CPU has the units",
        notebook("recipe-1", "recipe 1", "four-times-the-pre-training-the-same-recipe-on-the-xeon-in-bf16"))
    faithful, preln = records("probes/faithful")[-1], records("probes/preln_5e-4")[-1]
    row("pre-LN blocks, learning rate 5e-4, no dropout", "recipe 1's changes to BERT's pre-training",
        f"held-out masked-LM loss after 300 steps {faithful['heldout_mlm_loss']:.2f} → "
        f"{preln['heldout_mlm_loss']:.2f}", "—", "adopted (recipe 1)",
        notebook("recipe-1", "recipe 1", "a6-the-levers-measured"))

    # Fine-tuning
    softmax = "recipe2/transfer-softmax/sbert-60min-seed0"
    row("an in-batch contrastive term beside SoftmaxLoss", "each entailment premise ranked against the batch's "
        "hypotheses (`--contrastive-weight`)", "—",
        f"recipe 2's start, seed 0: {pct(accuracy(softmax))} / {num(spearman(softmax))} without, "
        f"{pct(accuracy('recipe2/sbert'))} / {num(spearman('recipe2/sbert'))} at 0.3",
        "adopted: 0.1 for recipe 4 and random weights, 0.3 for recipes 2 and 3", notebook("fine-tuning-objective"))
    row("the fine-tuning learning rate", "3e-4 against 1e-4 (recipe 2) and SBERT's 2e-5, batch 16 (recipe 1)", "—",
        f"1e-4: {pct(accuracy('recipe2/lr/pretrained-1e-4'))} against {pct(accuracy(softmax))}; SBERT's defaults: "
        f"{pct(accuracy('recipe/levers/paper-defaults'))} against {pct(accuracy('recipe/levers/uv-absdiff'))}",
        "3e-4", notebook("fine-tuning-objective"))
    row("a higher fine-tuning learning rate", "the recipe by steps at 6e-4 (both starts) and 1.2e-3 (random weights) "
        "instead of 3e-4", "—", f"6e-4: pre-trained {change_on('lr6e-4', False)}; random weights "
        f"{change_on('lr6e-4', True)}; 1.2e-3, random weights: {change_on('lr1.2e-3', True)}",
        "6e-4 for random weights (`RANDOM_INIT_LR`); 3e-4 kept for the pre-trained start", notebook("levers"))
    row("SICK's training pairs", "`sick:train` (4,439 pairs) beside the recipe by steps' pairs, the same "
        "validation pairs", "—", f"pre-trained {change_on('sick', False)}; random weights {change_on('sick', True)}",
        "not adopted", notebook("levers"))
    slow = [("recipe2/levers-ft/enclr0.3-60min-seed0", softmax, "recipe 2, SoftmaxLoss"),
            ("term0.3/slower-encoder/sbert-60min-seed0", "term0.3/transfer-c0.3/sbert-60min-seed0", "the lighter term")]
    slow_narrow = Start("shape/neighbour-d128/ft-60min-c0.3-lrscale0.3-seed0",
                        "shape/neighbour-d128/ft-60min-c0.3-lrscale0.3-seed1")
    row("a slower encoder", "the encoder at 0.3 × the head's learning rate (`--encoder-lr-scale 0.3`)", "—",
        "; ".join(f"{name}: {pct(accuracy(run))} / {num(spearman(run))} against {pct(accuracy(base))} / "
                  f"{num(spearman(base))}" for run, base, name in slow)
        + f"; recipe 4 at d 128 (2 seeds): {figures(slow_narrow)} against {figures(narrow_term)}",
        "rejected by the rule each time", notebook("fine-tuning-objective"))
    frozen = "shape/frozen-emb/ft-60min-c0.3-seed0"
    row("frozen word embeddings", "`--freeze-word-embeddings`, recipe 3's start", "—",
        f"rule {num(rule(frozen))} against {num(rule('recipe3/sbert'))}; {pct(accuracy(frozen))} / "
        f"{num(spearman(frozen))} against {pct(accuracy('recipe3/sbert'))} / {num(spearman('recipe3/sbert'))}",
        "rejected", notebook("fine-tuning-objective"))
    first, base = "term0.3/head-first/sbert-60min-seed0", "term0.3/transfer-c0.3/sbert-60min-seed0"
    row("the classifier first", "300 steps with the encoder frozen, then both (`--head-first-steps 300`)", "—",
        f"rule {num(rule(first))} against {num(rule(base))}; "
        f"random weights {num(rule('term0.3/head-first/sbert-random-seed0'))} against "
        f"{num(rule('recipe4/transfer/sbert-random-seed0'))}", "rejected", notebook("term-weight-0.3"))
    longer, longer_random = "recipe3/length/ft4500-60min-c0.3-seed0", "recipe3/length/ft4500-random-c0.1-seed0"
    row("three times the fine-tuning", "4,500 steps instead of 1,500, recipe 3's starts", "—",
        f"rule {num(rule(longer))} against {num(rule('recipe3/sbert'))} (pre-trained), "
        f"{num(rule(longer_random))} against {num(rule('recipe4/transfer/sbert-random-seed0'))} (random); "
        f"{pct(accuracy(longer))} / {num(spearman(longer))} against {pct(accuracy('recipe3/sbert'))} / "
        f"{num(spearman('recipe3/sbert'))}", "1,500 kept", notebook("fine-tuning-length"))
    wise = Start("wise/late-60min-seed0", "wise/late-60min-seed1")
    row("weight-space ensembles", "the encoder pulled back towards its start, α chosen by the rule (`wise.py`)", "—",
        f"α = 0.9 chosen; the late-term hour, 2 seeds: {figures(wise)} against {figures(late)}",
        "not adopted", notebook("weight-space-ensembles"))
    uv, no_uv = "recipe/ablation/sbert-60min", "recipe/levers/uv-absdiff"
    row("the u∗v feature", "(u, v, \\|u−v\\|, u∗v) instead of the paper's (u, v, \\|u−v\\|), recipe 1", "—",
        f"{pct(accuracy(uv))} / {num(spearman(uv))} with it, {pct(accuracy(no_uv))} / {num(spearman(no_uv))} "
        "without", "dropped", notebook("recipe-1", "recipe 1", "a6-the-levers-measured"))
    mixes = {name: validation(f"recipe/mix/{name}") for name in ("snli", "snli-sick", "snli-mnli", "snli-mnli-sick")}
    row("which NLI pairs", "SICK train and MultiNLI dev-matched beside SNLI, chosen on SNLI validation pairs, "
        "recipe 1", "—", f"SICK: {signed(mixes['snli-sick'] - mixes['snli'])} and "
        f"{signed(mixes['snli-mnli-sick'] - mixes['snli-mnli'])} points of validation accuracy; MultiNLI: "
        f"{signed(mixes['snli-mnli'] - mixes['snli'])}", "SICK dropped, MultiNLI kept",
        notebook("recipe-1", "recipe 1", "which-nli-data-the-mix-chosen-on-snli-validation-pairs"))
    curve = [accuracy(run) for run in ("recipe/curve/pre-25", "recipe/curve/pre-50", "recipe/levers/uv-absdiff")]
    row("more NLI pairs", "a quarter, half and all of the pairs, recipe 1", "—",
        f"{signed(curve[1] - curve[0])} and {signed(curve[2] - curve[1])} points of `snli:test` per doubling, "
        "from the pre-trained start", "the data here is fixed",
        notebook("recipe-1", "recipe 1", "how-accuracy-grows-with-nli-data-the-learning-curve"))
    row("`make demo`'s own choices", "the NLI share, the fine-tuning and the term at 7 + 5 minutes", "—",
        f"with the term: rule {num(rule('demo/neighbour/sbert'))} against {num(rule('demo/sbert'))}; "
        f"{pct(accuracy('demo/neighbour/sbert'))} / {num(spearman('demo/neighbour/sbert'))}",
        "share 0.5, the term, weight 0.1", notebook("demo"))
    return table(["lever", "what it is", "on the transfer signals", "end to end: `snli:test` / `stsb:dev`",
                  "verdict", "notebook"], rows, ["---", "---", "---", "---", "---", "---"])
