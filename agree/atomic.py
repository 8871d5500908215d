"""Writing files and checkpoint directories so that a crash never leaves half of one behind.

A file is written next to its final name and moved into place with os.replace, which is atomic on POSIX and
Windows. A checkpoint directory is built complete under a temporary name and swapped in with two renames;
`recover_directory` repairs the one window in which a crash could leave only the previous copy, and
`remove_interrupted_saves` the temporary files and directories that a killed save leaves behind.

An error while writing (a full disk, a read-only folder) comes out as an OSError about the final name, not
the temporary one, so that the user's one line (agree/errors.py) names a file they know.
"""
import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from agree.errors import UserError, naming, read_text

UMASK = os.umask(0o022)  # reading the process's umask means setting it; put it straight back
os.umask(UMASK)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise naming(error, path) from error
    os.close(handle)
    os.chmod(temporary, 0o666 & ~UMASK)  # mkstemp makes files private; give them the usual permissions
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise naming(error, path) from error
        raise


def atomic_write_text(path, text):
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def atomic_write_json(path, value):
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def read_json(path):
    """A JSON file a user pointed us to, with an error that names it when it is missing or broken."""
    path = Path(path)
    try:
        return json.loads(read_text(path))
    except FileNotFoundError:
        raise SystemExit(f"{path} not found: is {path.parent} a checkpoint directory?") from None
    except IsADirectoryError:
        raise SystemExit(f"{path} is a directory, not a JSON file") from None
    except json.JSONDecodeError as error:
        raise SystemExit(f"{path}: not valid JSON ({error})") from None
    except UserError as error:  # not UTF-8: said as the other refusals here are
        raise SystemExit(str(error)) from None


def _previous_copy(directory):
    return directory.with_name(f".{directory.name}.previous")


def recover_directory(directory):
    """If a crash happened between the two renames of `replace_directory`, put the previous copy back."""
    directory = Path(directory)
    previous = _previous_copy(directory)
    if previous.exists():
        if directory.exists():
            shutil.rmtree(previous)
        else:
            os.replace(previous, directory)
    return directory


# tempfile's names: the prefix given, 8 random characters of this set, the suffix
_RANDOM = "[a-z0-9_]{8}"


def remove_interrupted_saves(directory):
    """Remove what saves into `directory` that were killed midway left behind: `replace_directory`'s temporary
    copies beside it (.<name>.XXXXXXXX.tmp/) and `atomic_path`'s temporary files inside it
    (.model.pt.XXXXXXXX.tmp). Only the one run that writes `directory` may call this, as it starts: for anyone
    else (an evaluation, a second run sharing a cache) such a temporary may be a save in progress. Returns what
    was removed."""
    directory = Path(directory)
    removed = []
    beside = re.compile(rf"\.{re.escape(directory.name)}\.{_RANDOM}\.tmp")
    if directory.parent.is_dir():
        removed += [path for path in directory.parent.iterdir() if beside.fullmatch(path.name) and path.is_dir()]
    inside = re.compile(rf"\..+\.{_RANDOM}\.tmp")
    if directory.is_dir():
        removed += [path for path in directory.iterdir() if inside.fullmatch(path.name) and path.is_file()]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return removed


@contextlib.contextmanager
def replace_directory(directory):
    """Yield an empty temporary directory; when the block succeeds it becomes `directory` as one unit."""
    directory = Path(directory)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        recover_directory(directory)
        temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    except OSError as error:
        raise naming(error, directory) from error
    try:
        yield temporary
    except BaseException as error:
        shutil.rmtree(temporary, ignore_errors=True)
        # An error of a write names the file where it will be, not here (a copy's names its target second).
        for name in (getattr(error, "filename2", None), getattr(error, "filename", None)):
            if isinstance(error, OSError) and name is not None and Path(name).is_relative_to(temporary):
                raise naming(error, directory / Path(name).relative_to(temporary)) from error
        raise
    previous = _previous_copy(directory)
    if directory.exists():
        os.replace(directory, previous)
    os.replace(temporary, directory)
    shutil.rmtree(previous, ignore_errors=True)
