"""What int8 changes in a model's evaluation, from two evaluate.py reports: snli:test accuracy and stsb:dev
Spearman, in fp32 and with --int8, their differences from the unrounded values, and issue 32's rule for the
server's default (int8 only if neither moves by more than 0.5 point).

    python docs/runs/int8/accuracy.py FP32_DIR/report.json INT8_DIR/report.json
"""
import json
import sys
from pathlib import Path

RULE = 0.5  # points: accuracy in percent, Spearman x100


def figures(report):
    sts = {entry["spec"]: entry["spearman"] for entry in report["sts"]}
    return {f"{report['test']['spec']} accuracy (%)": 100 * report["test"]["accuracy"],
            **{f"{spec} Spearman x100": value for spec, value in sts.items()}}


def main(fp32_path, int8_path):
    fp32, int8 = (json.loads(Path(path).read_text()) for path in (fp32_path, int8_path))
    if fp32.get("int8") or not int8.get("int8") or fp32["model"] != int8["model"]:
        raise SystemExit("give the fp32 report of a model first, then the --int8 report of the same model")
    before, after = figures(fp32), figures(int8)
    print(f"model {fp32['model']}\n")
    print("| measure | fp32 | int8 | int8 - fp32 |\n|---|---:|---:|---:|")
    for name in before:
        print(f"| {name} | {before[name]:.2f} | {after[name]:.2f} | {after[name] - before[name]:+.2f} |")
    largest = max(abs(after[name] - before[name]) for name in before)
    verdict = "int8 becomes the server's default" if largest <= RULE else "the server stays fp32 by default"
    print(f"\nlargest change {largest:.3f} point (rule: at most {RULE}): {verdict}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
