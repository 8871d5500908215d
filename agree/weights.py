"""A checkpoint's tensor files (model.pt, trainer.pt), written with a digest and read only when they check out.

Damaged weights load without a word: random bytes in the middle of model.pt change a few hundred numbers (some
to NaN) and torch reads the rest happily. So every save records the SHA-256 of each file's bytes in the
checkpoint's config.json, under "sha256" ({file name: hex digest}), and every load compares it before reading
a tensor. A file that does not match, cannot be read, holds NaN or infinity, or does not fit the model the
config describes is refused with a UserError naming the file (and the tensor). Checkpoints saved before the
digests existed still load, with a one-line note.

- `save_tensors(value, path)`: torch.save, atomically; returns the digest. A full disk says so, with the path.
- `load_tensors(path, config)`: the digest checked (config is the checkpoint's config.json as a dict), then
  `read_tensors`: torch.load with weights_only=True and an error that says what is wrong with the file.
- `check_finite(state, path)`, `load_state(module, state, path)`: weights the model can use.
- `record_digest(directory, name, digest)`: a file written after config.json (finetune.py's trainer.pt).
- `checkpoint_config(directory, kind, wanted)`: a checkpoint's config.json, refused when it is of another kind.
"""
import hashlib
import shutil
import sys
from pathlib import Path

import torch

from agree.atomic import atomic_path, atomic_write_json, read_json
from agree.errors import UserError, first_line

DIGESTS = "sha256"  # config.json's key: {file name: SHA-256 of its bytes when it was saved}
NEARLY_FULL = 1 << 20  # bytes free below which a failed write is taken for a full disk


def checkpoint_config(directory, kind, wanted):
    """The config.json of the checkpoint in `directory` as a dict, or SystemExit when its "kind" is not `kind`
    ("bert" from pretrain.py, "sbert" from finetune.py); `wanted` says in words what should be there."""
    values = read_json(Path(directory) / "config.json")
    if values.get("kind") != kind:
        raise SystemExit(f"{directory} holds a {values.get('kind', 'unknown')!r} checkpoint, not {wanted}")
    return values


def file_digest(path):
    """The SHA-256 of a file's bytes, as `sha256sum` prints it (read in blocks: a model may be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def save_tensors(value, path):
    """torch.save(value) to `path` atomically; returns the SHA-256 of the bytes written, for config.json."""
    with atomic_path(path) as temporary:
        try:
            torch.save(value, temporary)
        except RuntimeError as error:
            # torch writes through its own C++ stream, which drops the errno: a full disk comes out as
            # "[enforce fail at inline_container.cc] unexpected pos". The partial file is still there, so a
            # disk with next to nothing left was filled by this write.
            if shutil.disk_usage(temporary.parent).free < NEARLY_FULL:
                raise OSError(28, "No space left on device", str(temporary)) from error
            raise UserError(f"cannot write {path}: {first_line(error)}") from error
        return file_digest(temporary)


def record_digest(directory, name, digest):
    """Add the digest of `name`, written after the directory's config.json, to it."""
    path = Path(directory) / "config.json"
    values = read_json(path)
    values[DIGESTS] = {**values.get(DIGESTS, {}), name: digest}
    atomic_write_json(path, values)


_noted = set()


def load_tensors(path, config):
    """What torch.save wrote to `path`, after checking it against the digest that `config` (the checkpoint's
    config.json) recorded for it. A checkpoint from before digests gets a note, once per file."""
    path = Path(path)
    check_present(path)
    expected = config.get(DIGESTS, {}).get(path.name)
    if expected is None:
        if path not in _noted:
            _noted.add(path)
            print(f"note: {path} was saved without a digest (by an older version), so damage to it cannot be "
                  "detected; saving the checkpoint again adds one", file=sys.stderr, flush=True)
    elif file_digest(path) != expected:
        raise UserError(f"{path} does not match the digest recorded when it was saved: the file is damaged; "
                        "restore it from a copy or train the model again")
    return read_tensors(path)


def check_present(path):
    """The two faults that need no digest to be named: no file, or an empty one."""
    if not path.is_file():
        raise UserError(f"{path} is missing: {path.parent} is not a complete checkpoint")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty (0 bytes): the save that wrote it did not finish, or it was damaged")


def read_tensors(path):
    """torch.load(path) of tensors only (weights_only: no code in the file is run), or a UserError that says
    what is wrong with the file: missing, empty, cut short or otherwise unreadable."""
    path = Path(path)
    check_present(path)
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # torch reports a bad file in many types: EOFError, RuntimeError, OSError, ...
        raise UserError(f"{path} cannot be read as PyTorch weights ({type(error).__name__}: {first_line(error)}):"
                        " the file is cut short or damaged") from error


def check_finite(state, path):
    """Refuse weights that hold NaN or infinity: every output computed from them would too."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise UserError(f"{path}: the tensor {name} holds {bad:,} NaN or infinite value(s) of {tensor.numel():,}:"
                            " the weights are unusable (a damaged file, or a run whose loss diverged)")
    return state


def load_state(module, state, path):
    """module.load_state_dict(state), first checked for finite values and for the shapes the config asks for,
    so that a mismatch is one line naming the file and the first tensor that differs, not torch's list."""
    check_finite(state, path)
    wanted = module.state_dict()
    for name, tensor in wanted.items():
        if name in state and state[name].shape != tensor.shape:
            raise UserError(f"{path} does not fit the model its config.json describes: {name} has shape "
                            f"{tuple(state[name].shape)} in the file, the config asks for {tuple(tensor.shape)}")
    missing, unexpected = sorted(set(wanted) - set(state)), sorted(set(state) - set(wanted))
    if missing or unexpected:
        parts = [f"{label} {', '.join(names[:3])}{' and more' if len(names) > 3 else ''}"
                 for label, names in (("missing", missing), ("unexpected", unexpected)) if names]
        raise UserError(f"{path} does not fit the model its config.json describes: " + "; ".join(parts))
    module.load_state_dict(state)
    return module
