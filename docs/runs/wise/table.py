"""RESULTS.md's weight-space ensemble table from wise.py's outputs: one row per alpha of each run, the chosen
alpha in bold with its test figures (evaluate.py's report.json beside it).

    python docs/runs/wise/table.py docs/runs/wise/d128-60min-seed0 docs/runs/wise/late-60min-seed0 ...
"""
import json
import sys
from pathlib import Path


def rows(directory):
    wise = json.loads((directory / "wise.json").read_text())
    report_path = directory / "report.json"
    test = json.loads(report_path.read_text()) if report_path.exists() else None
    for row in wise["rows"]:
        chosen = row["alpha"] == wise["chosen_alpha"]
        figures = (f"{100 * test['test']['accuracy']:.2f}% | {test['sts'][0]['spearman']:.2f}"
                   if chosen and test else "| ")
        mean = f"**{row['mean']:.2f}**" if chosen else f"{row['mean']:.2f}"
        yield (f"| {directory.name} | {row['alpha']:g} | {100 * row['val_accuracy']:.2f}% | "
               f"{row['sts_spearman']:.2f} | {mean} | {figures} |")


print("| run | alpha | validation accuracy | `stsb:train` Spearman | mean (chooses) | `snli:test` | `stsb:dev` |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name in sys.argv[1:]:
    print("\n".join(rows(Path(name))))
