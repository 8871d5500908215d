"""Draw the learning curve of RESULTS.md §6 from the committed logs: snli:test accuracy and stsb:dev Spearman
against the number of NLI training pairs, from the 60-minute checkpoint and from random weights.

    python docs/runs/recipe/curve/learning_curve.py      # writes learning_curve.svg beside this file

Each point is a fine-tuning run of 1,500 steps; its args.json gives the training pairs, its report.json the
test figures. The 100% points are the runs in ../levers/uv-absdiff (pre-trained) and rand-100 (random).
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))  # the project's modules
from charts import line_chart, write_svg  # noqa: E402

RUNS = {"pre-trained": ["pre-25", "pre-50", "../levers/uv-absdiff"],  # from the 60-minute checkpoint
        "random": ["rand-25", "rand-50", "rand-100"]}  # from random weights


def point(run, measure):
    folder = HERE / run
    pairs = json.loads((folder / "args.json").read_text())["train_pairs"]
    report = json.loads((folder / "report.json").read_text())
    value = 100 * report["test"]["accuracy"] if measure == "accuracy" else report["sts"][0]["spearman"]
    return pairs, value


def main():
    series = {}
    for start, runs in RUNS.items():
        series[f"test acc., {start}"] = [point(run, "accuracy") for run in runs]
        series[f"STS, {start}"] = [point(run, "spearman") for run in runs]
    chart = line_chart(series, "More NLI pairs, 1,500 fine-tuning steps each", "NLI training pairs",
                       "accuracy %, Spearman x100")
    write_svg(HERE / "learning_curve.svg", chart)
    for name, points in series.items():
        print(name, ", ".join(f"{pairs:,}: {value:.2f}" for pairs, value in points))


if __name__ == "__main__":
    main()
