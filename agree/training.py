"""What the two training loops (pretrain.py, finetune.py) share, in the order a loop meets it: the device and
the forward pass's arithmetic, the optimizer and its learning-rate schedule, the budget and clean stopping,
each step's random numbers, the log (metrics.jsonl and the progress bar), the state saved for --resume, and
the command-line options both scripts take.
"""
import contextlib
import json
import signal
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from agree import distributed
from agree.atomic import atomic_write_text, read_json
from agree.errors import UserError, naming, read_text
from agree.weights import load_tensors

# --- Device and arithmetic ----------------------------------------------------------------------------------

def pick_device(name="auto"):
    """auto: CUDA if present, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for, but torch sees no CUDA device")
    if name == "mps" and not torch.backends.mps.is_available():
        raise SystemExit("--device mps was asked for, but torch sees no MPS device")
    return torch.device(name)


PRECISIONS = ("auto", "fp32", "bf16")


def autocast(device, precision="auto"):
    """The arithmetic of the forward pass; weights, gradients and optimizer state stay fp32 in every case.
    "auto": bf16 autocast on CUDA (same exponent range as fp32, so no loss scaling is needed), fp32 elsewhere.
    "bf16": bf16 autocast on any device. On a CPU it pays only where the cores have native bf16 matrix
    units, and costs elsewhere; docs/performance.md measures it.
    "fp32": no autocast at all."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def evaluation_mode(model):
    """The model in eval mode (no dropout) inside the block, and in the mode it was in afterwards. A model
    already in eval mode is left as it is: switching modes walks every module, a cost worth sparing the
    server, which encodes a few short sentences at a time."""
    if not model.training:
        yield model
        return
    model.eval()
    try:
        yield model
    finally:
        model.train()


def for_training(model, cluster, device, compile=False):
    """What the loop runs the batches through: the model, wrapped for data-parallel training when there are
    several ranks, and compiled with --compile. The loop steps, clips and saves `model` itself."""
    trained = distributed.wrap(model.train(), cluster, device)
    return torch.compile(trained) if compile else trained


# --- Optimizer and learning rate ----------------------------------------------------------------------------

def make_optimizer(model, lr, weight_decay, eps=1e-6):
    """AdamW; as in BERT, biases and LayerNorm weights (the 1-dimensional tensors) get no weight decay.
    fused=True updates all parameters in one kernel instead of a dozen small operations per tensor: the
    same arithmetic, in less time on a CPU (benchmarks/throughput.py)."""
    groups = {}
    for parameter in filter(lambda parameter: parameter.requires_grad, model.parameters()):  # frozen: left out
        groups.setdefault(weight_decay if parameter.dim() >= 2 else 0.0, []).append(parameter)
    groups = [{"params": params, "weight_decay": decay} for decay, params in groups.items()]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=eps, fused=True)


def warmup_then_linear_decay(progress, warmup_fraction):
    """Learning-rate factor at `progress` in [0, 1] of the run: a linear rise to 1 over the warm-up, then a
    linear fall to 0 at the end (BERT's and SBERT's schedule)."""
    if warmup_fraction > 0 and progress < warmup_fraction:
        return progress / warmup_fraction
    return max(0.0, (1.0 - progress) / (1.0 - warmup_fraction)) if warmup_fraction < 1 else 1.0


def set_learning_rate(optimizer, lr):
    """Every parameter learns at `lr` from the next step on; returns it, for the log."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


# --- Budget and stopping ------------------------------------------------------------------------------------

class Budget:
    """How far a run is, from its step count and/or its wall-clock budget; whichever limit is nearer
    decides, so a run limited by minutes still warms up and decays its learning rate to zero. `clock` gives
    seconds; tests pass one that moves only when they say, so that "after a minute" means the same step on
    any machine."""

    def __init__(self, max_steps=None, max_minutes=None, elapsed_before=0.0, clock=time.monotonic):
        if not max_steps and not max_minutes:
            raise SystemExit("give --max-steps or --max-minutes (or both): the run needs an end for its "
                             "learning-rate schedule")
        self.max_steps = max_steps
        self.max_seconds = max_minutes * 60 if max_minutes else None
        self.clock = clock
        self.started = clock() - elapsed_before

    def elapsed(self):
        return self.clock() - self.started

    def progress(self, step):
        fractions = []
        if self.max_steps:
            fractions.append(step / self.max_steps)
        if self.max_seconds:
            fractions.append(self.elapsed() / self.max_seconds)
        return min(1.0, max(fractions))


class StopRequest:
    """The first Ctrl-C or SIGTERM asks the loop to save and stop at the end of the current step; a second
    one interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # signals can only be caught on the main thread
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(signum).name} received: saving a checkpoint, then stopping "
              "(send it again to stop at once)", flush=True)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def agreed_progress(cluster, budget, step, stop):
    """How far the run is (Budget.progress), the same on every rank (distributed.agree_max says why); 1, the
    end, once any rank was asked to stop."""
    progress, stopping = distributed.agree_max(cluster, [budget.progress(step), stop.requested])
    return 1.0 if stopping else progress


def seed_step(seed, step, rank=0):
    """Seed torch (dropout) for one step and return a numpy Generator for its data, both from (seed, step,
    rank) alone: a resumed run, and every rank of a distributed one, reproduces its steps exactly without
    carrying random state in the checkpoint."""
    sequence = np.random.SeedSequence([seed, step, rank])
    torch.manual_seed(int(sequence.generate_state(1, np.uint64)[0]))
    return np.random.default_rng(sequence)


# --- The log: metrics.jsonl and the progress bar ------------------------------------------------------------

class MetricsLog:
    """metrics.jsonl: one JSON object per line, appended as training goes, so it can be followed live."""

    def __init__(self, path):
        self.path = Path(path)

    def append(self, record):
        try:
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(record) + "\n")
        except OSError as error:  # a full disk: the error of a write names no file
            raise naming(error, self.path) from error

    def read(self):
        """The records, in order. An append cut short by a crash leaves a last line without its newline: it
        is dropped (a resume forgets it anyway). A bad line elsewhere is a UserError naming it."""
        if not self.path.exists():
            return []
        text = read_text(self.path)
        lines = text.split("\n")
        records = []
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                if number == len(lines):  # no newline after it: the append that wrote it never finished
                    break
                raise UserError(f"{self.path}, line {number}: not a JSON record ({error.msg})") from None
        return records

    def keep_until(self, step):
        """On resume: forget what was logged after the checkpoint we continue from."""
        kept = [r for r in self.read() if r.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))


class TrainingLog:
    """Both loops' log of their training steps. `add` sums one step's numbers (losses, counts) and moves the
    progress bar; `write`, every --log-every steps and at the end, sums them over all ranks, turns the sums
    into a record with the loop's own `summarise(sums, steps, seconds)` (steps counted over all ranks,
    seconds since the last line), appends it to metrics.jsonl and shows `show(record)` on the bar. Every rank
    calls `write` (the sums are collective); rank 0 alone writes. With several ranks the record ends with
    each rank's `rank_batch`, which shows that the ranks train on different data."""

    def __init__(self, metrics, cluster, summarise, show, *, total, initial, clock=time.monotonic):
        self.metrics, self.cluster, self.summarise, self.show, self.clock = metrics, cluster, summarise, show, clock
        self.progress = tqdm(total=total, initial=initial, unit="step", disable=not cluster.is_main)
        self._start_window()

    def _start_window(self):
        self.sums, self.steps, self.started = {}, 0, self.clock()

    def add(self, **numbers):
        for name, value in numbers.items():
            self.sums[name] = self.sums.get(name, 0) + value
        self.steps += 1
        self.progress.update()

    def write(self, head, rank_batch):
        """The record {**head, **summarise(...)} of the steps since the last one (None if there were none)."""
        if not self.steps:
            return None
        sums = distributed.sum_over_ranks(self.cluster, self.sums)
        record = {**head, **self.summarise(sums, self.steps * self.cluster.world_size, self.clock() - self.started)}
        if self.cluster.distributed:
            record["rank_batches"] = distributed.gather(self.cluster, rank_batch)
        if self.cluster.is_main:
            self.metrics.append(record)
            self.progress.set_postfix(self.show(record))
        self._start_window()
        return record

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.progress.close()


# --- Resuming -----------------------------------------------------------------------------------------------

def training_state(optimizer, step, elapsed, **extra):
    """Everything besides the weights that an exact resume needs. Tensors, numbers and strings only, so it
    loads with torch.load(weights_only=True)."""
    return {"optimizer": optimizer.state_dict(), "step": step, "elapsed": elapsed, **extra}


def restore_training_state(path, optimizer):
    """trainer.pt, checked against the digest that the config.json beside it recorded (agree/weights.py)."""
    path = Path(path)
    config = path.parent / "config.json"
    state = load_tensors(path, read_json(config) if config.is_file() else {})
    optimizer.load_state_dict(state["optimizer"])
    return state


def check_resume(out, resume, state_file):
    """Refuse to overwrite a run by accident, and to resume one that is not there."""
    out = Path(out)
    if resume and not (out / state_file).exists():
        raise SystemExit(f"--resume: no saved run in {out} ({state_file} is missing)")
    if not resume and (out / state_file).exists():
        raise SystemExit(f"{out} already holds a run: add --resume to continue it, or choose another --out")


REMOVED_AT = "3f767f2"  # the last commit with the options that were measured and not adopted


def without_removed_options(saved, removed, path):
    """An older run's saved arguments (args.json at `path`) without the options that have left since:
    `removed` maps each to its default. One at its default changed nothing and is dropped; one that was set
    changed the run, which this code can no longer continue, so it stops with a line that says so."""
    for name, default in removed.items():
        if name in saved and saved[name] != default:
            value = "" if isinstance(saved[name], bool) else f" {saved[name]}"
            raise SystemExit(f"{path}: the run used --{name.replace('_', '-')}{value}, an option that was "
                             f"measured and removed; continue or re-run it at commit {REMOVED_AT}")
    return {name: value for name, value in saved.items() if name not in removed}


# --- Command line -------------------------------------------------------------------------------------------

def add_common_arguments(data, training, hardware, batch_size, lr, warmup_fraction):
    """The options pretrain.py and finetune.py share (DESIGN.md's command-line contract), each added to the
    argument group it belongs in: where the data is, how long and how the run trains, what it runs on."""
    data.add_argument("--data-dir", default="data", help="datasets live (or are downloaded) here; may be "
                      "read-only when it already holds them (default: %(default)s)")
    data.add_argument("--cache-dir", default=".cache", help="tokenized data is cached here, never in "
                      "--data-dir (default: %(default)s)")
    training.add_argument("--out", required=True, help="checkpoint directory to write")
    training.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    training.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    training.add_argument("--max-minutes", type=float, help="stop cleanly after this much wall-clock time; "
                          "the learning rate then decays to zero at the time limit")
    training.add_argument("--batch-size", type=int, default=batch_size, help="(default: %(default)s)")
    training.add_argument("--lr", type=float, default=lr, help="peak learning rate (default: %(default)s)")
    training.add_argument("--warmup-fraction", type=float, default=warmup_fraction,
                          help="share of the run spent warming the learning rate up (default: %(default)s)")
    training.add_argument("--weight-decay", type=float, default=0.01, help="AdamW (default: %(default)s)")
    training.add_argument("--clip-norm", type=float, default=1.0, help="gradient clipping (default: %(default)s)")
    training.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    hardware.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto",
                          help="(default: %(default)s)")
    hardware.add_argument("--precision", choices=PRECISIONS, default="auto", help="forward-pass arithmetic: "
                          "auto is bf16 autocast on CUDA and fp32 elsewhere; bf16 also on a CPU, worth it only "
                          "on CPUs with native bf16 matrix units (default: %(default)s)")
    hardware.add_argument("--compile", action="store_true", help="torch.compile the model for training "
                          "(worth it on a GPU for long runs; the first steps wait for the compiler)")
    hardware.add_argument("--log-every", type=int, default=50, help="steps between metrics.jsonl lines "
                          "(default: %(default)s)")
