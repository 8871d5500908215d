"""The make targets that train for minutes (the demo) or hours (the recipes) are only ever run by hand, so a
wrong argument in one of them would surface late: for recipe-gpu, after 12 hours of pre-training. Here
`make -n` prints each target's commands without running them, the script each command calls parses its
arguments, and every dataset a command names is checked to hold what that option needs."""
import shlex
import subprocess
from pathlib import Path

import pytest

import evaluate
import finetune
import pretrain
from agree.datasets import TASKS_OF_DATASET

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"pretrain.py": pretrain, "finetune.py": finetune, "evaluate.py": evaluate}
# (script, option) -> the kind of data its dataset specs must hold
TASK_OF_OPTION = {("finetune.py", "train"): "nli", ("finetune.py", "val"): "nli",
                  ("evaluate.py", "test"): "nli", ("evaluate.py", "sts"): "sts"}


def planned_commands(target, data_dir):
    """(script, arguments) of every Python script `make TARGET` would run."""
    # RUN_DIR and RECIPE_DIR point at nothing, so a demo or recipe already run in this checkout does not
    # make its stages look done
    printed = subprocess.run(["make", "-n", target, f"DATA_DIR={data_dir}", f"RUN_DIR={data_dir}/runs/demo",
                              f"RECIPE_DIR={data_dir}/runs/recipe"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
    commands = []
    for line in printed.replace("\\\n", " ").splitlines():
        words = shlex.split(line)
        if len(words) > 1 and words[1] in SCRIPTS:
            commands.append((words[1], words[2:]))
    return commands


@pytest.mark.parametrize("target", ["demo", "recipe-headline", "recipe-gpu"])
def test_every_command_of_a_training_target_parses_and_names_the_right_data(target, tmp_path):
    (tmp_path / "wikipedia").mkdir()
    for number in range(12):  # the recipes pick their corpus files by wildcard
        (tmp_path / "wikipedia" / f"enwiki_{number:02d}.txt.gz").touch()
    commands = planned_commands(target, tmp_path)
    assert sorted({script for script, _ in commands}) == sorted(SCRIPTS)  # pre-train, fine-tune, evaluate
    for script, argv in commands:
        args = SCRIPTS[script].parse_args(argv)
        for (option_of, option), task in TASK_OF_OPTION.items():
            specs = getattr(args, option) if option_of == script else None
            for spec in filter(None, (specs or "").split(",")):
                dataset = spec.partition(":")[0]
                assert task in TASKS_OF_DATASET[dataset], \
                    f"make {target}: {script} --{option} {spec}: {dataset} has no {task} data"


def test_recipe_spread_plans_three_pre_training_seeds_two_fine_tunings_each_and_three_random_seeds(tmp_path):
    """The headline's mean: each seed's run in its own folder, by steps, then its second fine-tuning seed."""
    (tmp_path / "wikipedia").mkdir()
    printed = subprocess.run(["make", "-n", "recipe-spread", f"DATA_DIR={tmp_path}",
                              f"RECIPE_DIR={tmp_path}/runs/recipe"], cwd=ROOT, check=True, capture_output=True,
                             text=True).stdout.replace("\\\n", " ")
    pre_trainings = [pretrain.parse_args(shlex.split(line)[2:]) for line in printed.splitlines()
                     if " pretrain.py " in line]
    assert [(args.seed, args.max_steps, args.out) for args in pre_trainings] == [
        (seed, 5907, f"{tmp_path}/runs/recipe-seed{seed}/bert") for seed in (0, 1, 2)]
    transfers = [line.split("do for seed in ")[1].split(";")[0] for line in printed.splitlines()
                 if line.lstrip().startswith("for start in")]
    starts = [line.split("for start in ")[1].split(";")[0] for line in printed.splitlines()
              if line.lstrip().startswith("for start in")]
    assert list(zip(starts, transfers)) == [("step5907", "0 1")] * 3 + [("random", "0 1 2")]
