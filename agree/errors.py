"""Mistakes a user can make, said in one line: the error type for them and the wrapper the scripts run in.

A missing or damaged checkpoint, a config.json with a bad value, a data file with a bad line or in the wrong
encoding, a full disk: none of these is a bug in the code, and a traceback only buries the one line that
matters. The machinery raises `UserError` with a message that names the file (and the line, where there is
one); `run(main)`, around each script's main, prints that line as `error: ...` and exits with status 2. With
--debug it lets the exception through, traceback and all.

- `UserError`; `naming` and `is_disk_full` for errors met while writing, which stay OSErrors (callers with an
  optional cache catch OSError) but name the file the user knows.
- `not_utf8`: the line and byte at which a file stops being UTF-8, for a UnicodeDecodeError that names neither.
- `in_file`: a bad setting of a config.json as a UserError naming the file.
- `run`, `add_debug_option`: the command-line side.
"""
import errno
import sys
from pathlib import Path


class UserError(ValueError):
    """A problem with something the user gave: a file, a directory, a value. The message names it. A
    ValueError, so that code which catches ValueError around loading keeps doing so."""


# --- Writing ------------------------------------------------------------------------------------------------

FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


def is_disk_full(error):
    return isinstance(error, OSError) and error.errno in FULL


def naming(error, path):
    """The OSError `error` raised again as one about `path`: a write's error names the temporary file it wrote
    (or none), and the user knows the file by its final name."""
    if error.errno is None:
        return error
    return OSError(error.errno, error.strerror, str(path))  # OSError(errno, ...) picks the subclass: PermissionError


# --- Reading ------------------------------------------------------------------------------------------------

def not_utf8(path, open_binary=open):
    """A UserError naming the line and the byte at which `path` stops being UTF-8 text. The decoder's own error
    counts bytes from the start of a buffer, not of the file, and names no file; so the file is read again,
    line by line (a UTF-8 character never contains the newline byte, so lines can be decoded one by one).
    `open_binary` opens it as bytes (gzip.open for a .gz)."""
    offset = 0
    with open_binary(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                return UserError(f"{path}, line {number}: not UTF-8 text (byte 0x{line[error.start]:02x} at byte "
                                 f"{offset + error.start:,} of the file); save it as UTF-8")
            offset += len(line)
    return UserError(f"{path}: not UTF-8 text; save it as UTF-8")


def read_text(path):
    """A UTF-8 text file, or a UserError naming the line that is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise not_utf8(path) from None


def in_file(path, error):
    """A bad or missing setting found while reading the config file `path`, as a UserError naming it."""
    if isinstance(error, KeyError):
        return UserError(f"{path}: the setting {error.args[0]!r} is missing")
    return UserError(f"{path}: {first_line(error)}")


def first_line(error):
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# --- The command line ---------------------------------------------------------------------------------------

def add_debug_option(parser):
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show Python's traceback rather than one line")


def user_message(error):
    """The line to show for an exception that is the user's to fix, or None for one that is a bug."""
    if isinstance(error, SystemExit):  # the scripts' own one-line refusals; argparse exits with a number
        return error.code if isinstance(error.code, str) else None
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, UnicodeDecodeError):  # one that no reader located: better than a traceback
        return f"a file is not UTF-8 text ({error})"
    if isinstance(error, OSError):  # a missing file, a permission, a full disk: the file system's answer
        if is_disk_full(error):
            return f"cannot write {error.filename}: {FULL[error.errno]}" if error.filename else FULL[error.errno]
        if error.filename is not None and error.strerror:
            return f"{error.filename}: {error.strerror}"
        return str(error)
    return None


def run(main, argv=None):
    """Run a script's main(argv); a user's mistake ends it with one line, `error: ...`, and exit status 2.
    Anything else (a bug) keeps its traceback, and so does every error with --debug."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return main(argv)
    except (Exception, SystemExit) as error:
        message = user_message(error)
        if message is None or "--debug" in argv:
            raise
        print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)
