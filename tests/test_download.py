"""download.py against a local HTTP server (127.0.0.1, ephemeral port) that serves archives built here."""
import dataclasses
import io
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import pytest
from fixture_server import register_fixture, serve

from agree import download
from agree.download import DownloadError, dataset_file, download_url, ensure_dataset

SNLI_FILES = {f"snli_1.0/snli_1.0_{split}.jsonl": f'{{"split": "{split}"}}\n' * 50 for split in ("train", "dev", "test")}


# --- A local server and fixture archives (test_corpus.py uses these too) -------------------------------------


def write_zip(path, files, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zipped:
        for name, text in files.items():
            zipped.writestr(name, text)
    return path


def all_files(directory):
    return sorted(str(p.relative_to(directory)) for p in Path(directory).rglob("*"))


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    with serve(folder) as (url, requests):
        yield folder, url, requests


# --- Good archives -------------------------------------------------------------------------------------------

def test_good_archive_is_downloaded_verified_extracted_and_never_fetched_again(served, tmp_path, monkeypatch):
    folder, url, requests = served
    register_fixture(monkeypatch, "snli", write_zip(folder / "snli_1.0.zip", SNLI_FILES))
    data_dir = tmp_path / "data"

    assert ensure_dataset("snli", data_dir, mirror=url) == data_dir / "snli_1.0"
    for name, text in SNLI_FILES.items():
        assert (data_dir / name).read_text() == text
    assert all_files(data_dir) == sorted(["snli_1.0", *SNLI_FILES, "snli_1.0.zip"])  # no temporary files
    assert requests == ["/snli_1.0.zip"]

    ensure_dataset("snli", data_dir, mirror=url)
    dataset_file("snli", "snli_1.0/snli_1.0_dev.jsonl", data_dir, mirror=url)
    assert requests == ["/snli_1.0.zip"]


def test_kept_archive_is_unpacked_again_without_the_network(served, tmp_path, monkeypatch):
    folder, url, requests = served
    register_fixture(monkeypatch, "snli", write_zip(folder / "snli_1.0.zip", SNLI_FILES))
    data_dir = tmp_path / "data"
    ensure_dataset("snli", data_dir, mirror=url)
    (data_dir / "snli_1.0" / "snli_1.0_train.jsonl").unlink()
    (data_dir / "snli_1.0" / "snli_1.0_dev.jsonl").write_text("the user's own copy\n")

    ensure_dataset("snli", data_dir, mirror=url)
    assert requests == ["/snli_1.0.zip"]
    assert (data_dir / "snli_1.0" / "snli_1.0_train.jsonl").read_text() == SNLI_FILES["snli_1.0/snli_1.0_train.jsonl"]
    assert (data_dir / "snli_1.0" / "snli_1.0_dev.jsonl").read_text() == "the user's own copy\n"  # not replaced


def test_archive_without_a_top_folder_is_unpacked_into_the_dataset_folder(served, tmp_path, monkeypatch):
    folder, url, _ = served
    register_fixture(monkeypatch, "sick", write_zip(folder / "SICK.zip", {"SICK.txt": "pair_ID\tx\n", "readme.txt": "r"}))
    assert ensure_dataset("sick", tmp_path / "data", mirror=url) == tmp_path / "data" / "SICK"
    assert (tmp_path / "data" / "SICK" / "SICK.txt").read_text() == "pair_ID\tx\n"


def test_tarball_without_a_published_checksum_is_checked_by_structure(served, tmp_path, monkeypatch):
    folder, url, _ = served
    with tarfile.open(folder / "Stsbenchmark.tar.gz", "w:gz") as tarball:
        for split in ("train", "dev", "test"):
            content = f"main-captions\tMSRvid\t2012test\t0001\t5.000\tA {split}.\tA {split}.\n".encode()
            info = tarfile.TarInfo(f"stsbenchmark/sts-{split}.csv")
            info.size = len(content)
            tarball.addfile(info, io.BytesIO(content))
    assert download.DATASETS["stsb"].sha256 is None  # nothing to register: the structure is all we check
    path = dataset_file("stsb", "stsbenchmark/sts-dev.csv", tmp_path / "data", mirror=url)
    assert path.read_text().endswith("\tA dev.\tA dev.\n")


def test_mirror_comes_from_the_environment_and_replaces_everything_before_the_file_name(monkeypatch):
    monkeypatch.delenv(download.MIRROR_VARIABLE, raising=False)
    assert download_url("sick") == "https://zenodo.org/records/2787612/files/SICK.zip?download=1"
    assert download_url("wikitext-103") == "https://wikitext.smerity.com/wikitext-103-raw-v1.zip"
    monkeypatch.setenv(download.MIRROR_VARIABLE, "http://127.0.0.1:9/files")
    assert download_url("sick") == "http://127.0.0.1:9/files/SICK.zip"
    assert download_url("sick", mirror="http://other/") == "http://other/SICK.zip"


def test_read_only_data_dir_that_has_the_files_is_used_as_it_is(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    for name, text in SNLI_FILES.items():
        (data_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / name).write_text(text)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("must not download"))
    before = [(p, p.stat().st_mtime_ns) for p in data_dir.rglob("*")]
    for path in [data_dir, *data_dir.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        assert ensure_dataset("snli", data_dir) == data_dir / "snli_1.0"
        assert dataset_file("snli", "snli_1.0/snli_1.0_dev.jsonl", data_dir).is_file()
        assert [(p, p.stat().st_mtime_ns) for p in data_dir.rglob("*")] == before
    finally:
        for path in [data_dir, *data_dir.rglob("*")]:
            path.chmod(0o755)


# --- Damaged archives and failures leave nothing behind ----------------------------------------------------

def _damaged_zip(folder):
    """A zip whose directory is intact but one member's bytes are changed, so only its CRC can tell."""
    path = write_zip(folder / "snli_1.0.zip", SNLI_FILES, compression=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    where = data.index(b'{"split": "dev"}') + 3
    data[where] ^= 0x20
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("damage, expected", [
    ("truncated", "BadZipFile"),             # served whole, but the file itself was cut in half
    ("cut_in_transit", "connection ended"),  # the server hangs up early (or http.client notices first)
    ("corrupt_member", "CRC"),
    ("wrong_checksum", "SHA-256"),
])
def test_damaged_download_is_a_clear_error_and_leaves_no_files(served, tmp_path, monkeypatch, damage, expected):
    folder, url, _ = served
    good = write_zip(folder / "snli_1.0.zip", SNLI_FILES)
    if damage == "truncated":
        good.write_bytes(good.read_bytes()[:good.stat().st_size // 2])
        register_fixture(monkeypatch, "snli", good, with_checksum=False)
    elif damage == "cut_in_transit":
        register_fixture(monkeypatch, "snli", good, with_checksum=False)
        url += "short/"
    elif damage == "corrupt_member":
        register_fixture(monkeypatch, "snli", _damaged_zip(folder), with_checksum=False)
    else:
        register_fixture(monkeypatch, "snli", good)
        monkeypatch.setitem(download.DATASETS, "snli", dataclasses.replace(download.DATASETS["snli"], sha256="0" * 64))
    data_dir = tmp_path / "data"

    with pytest.raises(DownloadError) as error:
        ensure_dataset("snli", data_dir, mirror=url)
    message = str(error.value)
    assert url + "snli_1.0.zip" in message
    assert expected in message or (damage == "cut_in_transit" and "IncompleteRead" in message)
    assert all_files(data_dir) == []


def test_missing_file_on_the_server_names_the_url(served, tmp_path):
    _, url, _ = served
    with pytest.raises(DownloadError, match=f"{url}snli_1.0.zip.*404"):
        ensure_dataset("snli", tmp_path / "data", mirror=url)
    assert all_files(tmp_path / "data") == []


def test_a_damaged_archive_already_in_the_data_dir_is_reported_with_advice(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    register_fixture(monkeypatch, "snli", _damaged_zip(data_dir), with_checksum=False)
    with pytest.raises(DownloadError, match="snli_1.0.zip \\(delete it to download it again\\).*CRC"):
        ensure_dataset("snli", data_dir)
    assert all_files(data_dir) == ["snli_1.0.zip"]


def test_file_missing_from_a_complete_archive_and_unknown_dataset_are_clear_errors(served, tmp_path, monkeypatch):
    folder, url, _ = served
    register_fixture(monkeypatch, "snli", write_zip(folder / "snli_1.0.zip", SNLI_FILES))
    with pytest.raises(FileNotFoundError, match="does not contain snli_1.0/snli_1.0_train.txt"):
        dataset_file("snli", "snli_1.0/snli_1.0_train.txt", tmp_path / "data", mirror=url)
    with pytest.raises(ValueError, match="unknown dataset 'squad'"):
        ensure_dataset("squad", tmp_path / "data")


def test_archive_lacking_an_expected_member_is_rejected(served, tmp_path, monkeypatch):
    folder, url, _ = served
    partial = {name: text for name, text in SNLI_FILES.items() if "test" not in name}
    register_fixture(monkeypatch, "snli", write_zip(folder / "snli_1.0.zip", partial))
    with pytest.raises(DownloadError, match="does not contain snli_1.0/snli_1.0_test.jsonl"):
        ensure_dataset("snli", tmp_path / "data", mirror=url)
    assert all_files(tmp_path / "data") == []
