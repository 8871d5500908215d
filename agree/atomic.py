"""Writing files and checkpoint directories so that a crash never leaves half of one behind.

A file is written next to its final name and moved into place with os.replace, which is atomic on POSIX and
Windows. A checkpoint directory is built complete under a temporary name and swapped in with two renames;
`recover_directory` repairs the one window in which a crash could leave only the previous copy.
"""
import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

UMASK = os.umask(0o022)  # reading the process's umask means setting it; put it straight back
os.umask(UMASK)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    os.chmod(temporary, 0o666 & ~UMASK)  # mkstemp makes files private; give them the usual permissions
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def atomic_write_text(path, text):
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def atomic_write_bytes(path, data):
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def atomic_write_json(path, value):
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def read_json(path):
    """A JSON file a user pointed us to, with an error that names it when it is missing or broken."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"{path} not found: is {path.parent} a checkpoint directory?") from None
    except json.JSONDecodeError as error:
        raise SystemExit(f"{path}: not valid JSON ({error})") from None


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


@contextlib.contextmanager
def replace_directory(directory):
    """Yield an empty temporary directory; when the block succeeds it becomes `directory` as one unit."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    recover_directory(directory)
    temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    previous = _previous_copy(directory)
    if directory.exists():
        os.replace(directory, previous)
    os.replace(temporary, directory)
    shutil.rmtree(previous, ignore_errors=True)
