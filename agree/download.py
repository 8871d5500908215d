"""Official dataset downloads: fetch an archive once, check it, unpack it, and never leave half a file behind.

`ensure_dataset(name, data_dir)` returns the folder a dataset unpacks to. It only does work when one of the
dataset's files is missing: a data directory that already holds them (even a read-only one) is used as it
is and nothing is written. Otherwise the steps are

    download  `<data_dir>/.<archive>.XXXX.tmp`, with a progress bar
    verify    size and SHA-256 where a trustworthy checksum is published, and always the archive's own
              structure (every zip member's CRC, the whole gzip stream of a tarball, the expected files)
    rename    to `<data_dir>/<archive>` only once it passed; the archive is kept, so unpacking again
              never needs the network
    extract   into a temporary folder beside it, then move the dataset's files into place with renames;
              files that are already there are left untouched

`dataset_file(name, relative_path, data_dir)` asks for one file (relative to `data_dir`) and downloads its
dataset only when that file is missing.

Mirrors: set the environment variable `AGREE_DOWNLOAD_MIRROR` (or pass `mirror=`) to a URL prefix such as
`http://127.0.0.1:8000/files/`; an archive is then fetched from `<prefix><archive file name>` (for example
`http://127.0.0.1:8000/files/snli_1.0.zip`) instead of its official URL. Checksums are still enforced, so
a mirror must serve the identical archive. The tests use this to serve fixture archives from a local server.
"""
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from agree.atomic import atomic_path
from agree.errors import UserError, is_disk_full, naming

MIRROR_VARIABLE = "AGREE_DOWNLOAD_MIRROR"

# wikitext.smerity.com answers 403 to Python's default "Python-urllib/3.x" agent; a browser-like one is served.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class DownloadError(UserError, RuntimeError):
    """A download failed or gave a damaged archive; nothing partial was kept. Not a bug: the scripts say it in
    one line (agree/errors.py)."""


@dataclass(frozen=True)
class Archive:
    """One official archive and what it must contain."""
    url: str
    filename: str                # the archive's name in the data directory and on a mirror
    folder: str                  # the dataset's folder under the data directory
    members: tuple[str, ...]     # files the folder must hold, relative to `folder`
    sha256: str | None = None    # None where no checksum we can trust is published
    size: int | None = None      # bytes, published together with the checksum
    holds_folder: bool = True    # False: the files lie at the archive's top level and are unpacked into `folder`

    def member_in_archive(self, member):
        return f"{self.folder}/{member}" if self.holds_folder else member


# Checksums are the ones the Hugging Face `datasets` scripts recorded for these exact URLs (dataset_infos.json,
# "download_checksums"); for SNLI and MultiNLI, NLIDatasets.jl publishes the same SHA-256. The WikiText S3
# bucket those were taken from is gone; wikitext.smerity.com, run by WikiText's author, serves the same zips.
DATASETS = {
    "wikitext-103": Archive(
        url="https://wikitext.smerity.com/wikitext-103-raw-v1.zip", filename="wikitext-103-raw-v1.zip",
        folder="wikitext-103-raw", members=("wiki.train.raw", "wiki.valid.raw", "wiki.test.raw"),
        sha256="91c00ae287f0d699e18605c84afc9e45c192bc6b7797ff8837e5474655a33794", size=191_984_949),
    "wikitext-2": Archive(
        url="https://wikitext.smerity.com/wikitext-2-raw-v1.zip", filename="wikitext-2-raw-v1.zip",
        folder="wikitext-2-raw", members=("wiki.train.raw", "wiki.valid.raw", "wiki.test.raw"),
        sha256="ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11", size=4_721_645),
    "snli": Archive(
        url="https://nlp.stanford.edu/projects/snli/snli_1.0.zip", filename="snli_1.0.zip",
        folder="snli_1.0", members=("snli_1.0_train.jsonl", "snli_1.0_dev.jsonl", "snli_1.0_test.jsonl"),
        sha256="afb3d70a5af5d8de0d9d81e2637e0fb8c22d1235c2749d83125ca43dab0dbd3e", size=94_550_081),
    "mnli": Archive(
        url="https://cims.nyu.edu/~sbowman/multinli/multinli_1.0.zip", filename="multinli_1.0.zip",
        folder="multinli_1.0", members=("multinli_1.0_train.jsonl", "multinli_1.0_dev_matched.jsonl",
                                        "multinli_1.0_dev_mismatched.jsonl"),
        sha256="049f507b9e36b1fcb756cfd5aeb3b7a0cfcb84bf023793652987f7e7e0957822", size=226_850_426),
    "sick": Archive(
        url="https://zenodo.org/records/2787612/files/SICK.zip?download=1", filename="SICK.zip",
        folder="SICK", members=("SICK.txt",), holds_folder=False,
        sha256="da272af924399fc2de4889ed55383e38822c10d16c4a949a89d597d09a0b7912", size=217_584),
    # No checksum for the STS Benchmark tarball is published anywhere we could check, so it is verified by
    # structure only: the gzip stream's CRC over the whole file, a readable tar, and the three split files.
    "stsb": Archive(
        url="http://ixa2.si.ehu.eus/stswiki/images/4/48/Stsbenchmark.tar.gz", filename="Stsbenchmark.tar.gz",
        folder="stsbenchmark", members=("sts-train.csv", "sts-dev.csv", "sts-test.csv")),
}


# --- The two entry points ------------------------------------------------------------------------------------

def ensure_dataset(name, data_dir, mirror=None):
    """The dataset's folder under `data_dir`, downloaded, verified and unpacked first if a file is missing."""
    archive = _archive(name)
    data_dir = Path(data_dir)
    folder = data_dir / archive.folder
    if all((folder / member).is_file() for member in archive.members):
        return folder
    archive_path = data_dir / archive.filename
    if archive_path.is_file():  # downloaded before; only a verified archive is ever given this name
        _verify(archive, archive_path, origin=f"{archive_path} (delete it to download it again)")
    else:
        _download(archive, archive_path, download_url(name, mirror))
    _extract(archive, archive_path, data_dir)
    return folder


def dataset_file(name, relative_path, data_dir, mirror=None):
    """`data_dir / relative_path`, downloading dataset `name` only if that file is not there yet."""
    path = Path(data_dir) / relative_path
    if not path.is_file():
        ensure_dataset(name, data_dir, mirror)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the {name} archive does not contain {relative_path}")
    return path


def download_url(name, mirror=None):
    """The official URL, or `<mirror><archive file name>` when a mirror is given or set in the environment."""
    archive = _archive(name)
    mirror = mirror or os.environ.get(MIRROR_VARIABLE)
    if not mirror:
        return archive.url
    return mirror.rstrip("/") + "/" + archive.filename


def _archive(name):
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


# --- Download ------------------------------------------------------------------------------------------------

def _download(archive, archive_path, url, chunk_bytes=1 << 20):
    """Stream `url` into a temporary file beside `archive_path`; it takes that name only once verified."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    # atomic_path deletes the temporary file if anything below raises, so a failure leaves nothing behind.
    with atomic_path(archive_path) as temporary:
        try:
            with urllib.request.urlopen(request, timeout=60) as response, open(temporary, "wb") as out:
                expected = response.headers.get("Content-Length")
                expected = int(expected) if expected is not None else None
                received = 0
                with tqdm(total=expected, unit="B", unit_scale=True, desc=archive.filename) as progress:
                    while chunk := response.read(chunk_bytes):
                        out.write(chunk)
                        received += len(chunk)
                        progress.update(len(chunk))
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            if is_disk_full(error):  # the network was fine; the data directory is full
                raise naming(error, archive_path) from error
            raise DownloadError(f"could not download {url}: {error}") from error
        if expected is not None and received != expected:
            raise DownloadError(f"{url}: the connection ended after {received:,} of {expected:,} bytes")
        _verify(archive, temporary, origin=url)


# --- Verification --------------------------------------------------------------------------------------------

def _verify(archive, path, origin):
    """Raise DownloadError, naming `origin` (a URL or file), unless `path` is the archive we expect."""
    problem = _checksum_problem(archive, path) or _structure_problem(archive, path)
    if problem:
        raise DownloadError(f"{origin}: damaged or unexpected archive: {problem}")


def _checksum_problem(archive, path):
    size = path.stat().st_size
    if archive.size is not None and size != archive.size:
        return f"{size:,} bytes, expected {archive.size:,}"
    if archive.sha256 is not None:
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            while block := file.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != archive.sha256:
            return f"SHA-256 {digest.hexdigest()}, expected {archive.sha256}"
    return None


def _structure_problem(archive, path):
    """Read every byte of every member, so that truncation or corruption anywhere shows up."""
    try:
        if archive.filename.endswith(".zip"):
            names = _read_zip(path)
        else:
            names = _read_tarball(path)
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    missing = [m for m in archive.members if archive.member_in_archive(m) not in names]
    if missing:
        return "it does not contain " + ", ".join(archive.member_in_archive(m) for m in missing)
    return None


def _read_zip(path):
    with zipfile.ZipFile(path) as zipped:
        broken = zipped.testzip()  # checks every member's CRC-32
        if broken is not None:
            raise zipfile.BadZipFile(f"member {broken} fails its CRC check")
        return set(zipped.namelist())


def _read_tarball(path):
    # Reading the tarball to its end makes gzip check its CRC-32 over the whole stream.
    names = set()
    with tarfile.open(path, "r:*") as tarball:
        for member in tarball:
            names.add(member.name)
            if member.isfile():
                with tarball.extractfile(member) as content:
                    while content.read(1 << 20):
                        pass
    return names


# --- Extraction ----------------------------------------------------------------------------------------------

def _extract(archive, archive_path, data_dir):
    """Unpack into a temporary folder in `data_dir`, then rename the dataset's missing files into place."""
    staging = Path(tempfile.mkdtemp(prefix=f".{archive.filename}.", suffix=".extract", dir=data_dir))
    try:
        target = staging if archive.holds_folder else staging / archive.folder
        if archive.filename.endswith(".zip"):
            with zipfile.ZipFile(archive_path) as zipped:
                zipped.extractall(target)  # zipfile drops "..", drive letters and leading slashes from names
        else:
            with tarfile.open(archive_path, "r:*") as tarball:
                tarball.extractall(target, filter="data")  # refuses links and paths that leave `target`
        # Only the dataset's folder is moved; extras such as the __MACOSX folder in multinli_1.0.zip are dropped.
        _move_missing(staging / archive.folder, data_dir / archive.folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_missing(source, target):
    """Rename whatever of `source` is not yet in `target`; each rename is atomic, so files appear whole."""
    if not target.exists():
        os.replace(source, target)
        return
    if source.is_dir() and target.is_dir():
        for child in source.iterdir():
            _move_missing(child, target / child.name)
