"""RESULTS.md's lever table: the held-out and transfer figures of each 600-step pre-training probe, read from
its metrics.jsonl (docs/runs/recipe2/levers/<probe>/).

    python docs/runs/recipe2/lever_table.py docs/runs/recipe2/levers wiki-nsp mix-nsp ...
"""
import json
import sys
from pathlib import Path


def evaluations(path):
    return {r["step"]: r for r in map(json.loads, Path(path).read_text().splitlines()) if "probe_accuracy" in r}


def main(root, names):
    print("| probe | step 300: STS / probe | step 600: held-out MLM accuracy | step 600: zero-shot STS (stsb:train) "
          "| step 600: NLI probe |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        at = evaluations(Path(root) / name / "metrics.jsonl")
        print(f"| `{name}` | {at[300]['sts_spearman']:.2f} / {100 * at[300]['probe_accuracy']:.2f}% | "
              f"{100 * at[600]['heldout_mlm_accuracy']:.2f}% | {at[600]['sts_spearman']:.2f} | "
              f"{100 * at[600]['probe_accuracy']:.2f}% |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
