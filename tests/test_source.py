"""Upload sources: every accepted kind of data, read from its start."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from object_clerk import ObjectSaveException
from object_clerk._source import open_source

DATA = os.urandom(3 * 1024 * 1024 + 17)


def read_all(data: object, allow_empty: bool = True) -> tuple[bytes, int]:
    """What an upload attempt reads from the source, checked to be the same
    on a second attempt."""
    with open_source(data, allow_empty=allow_empty) as source:  # type: ignore[arg-type]
        attempts = []
        for _ in range(2):
            if source.filename is not None:
                attempts.append(Path(source.filename).read_bytes()[: source.size])
            else:
                assert source.fileobj is not None
                source.rewind()
                attempts.append(source.fileobj.read(source.size))
        assert attempts[0] == attempts[1], "a source reads the same bytes every time"
        return attempts[0], source.size


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return path


def test_bytes_like(tmp_path: Path) -> None:
    for data in (DATA, bytearray(DATA), memoryview(DATA)):
        assert read_all(data) == (DATA, len(DATA))


def test_paths_as_str_and_pathlib(data_file: Path) -> None:
    assert read_all(data_file) == (DATA, len(DATA))
    assert read_all(str(data_file)) == (DATA, len(DATA))


def test_open_file_from_its_current_position(data_file: Path) -> None:
    with data_file.open("rb") as file:
        file.seek(100)
        assert read_all(file) == (DATA[100:], len(DATA) - 100)


def test_bytesio_from_its_current_position() -> None:
    buffer = io.BytesIO(DATA)
    buffer.seek(5)
    assert read_all(buffer) == (DATA[5:], len(DATA) - 5)


def test_a_stream_that_cannot_seek_is_read_once_and_kept(data_file: Path) -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "wb") as writer:
        writer.write(DATA[:60000])  # fits the pipe buffer
    with os.fdopen(read_fd, "rb") as reader:
        assert read_all(reader) == (DATA[:60000], 60000)


@pytest.mark.parametrize("empty", [b"", bytearray(), "EMPTY_FILE", io.BytesIO()])
def test_empty_data_is_refused_unless_allowed(empty: object, tmp_path: Path) -> None:
    if empty == "EMPTY_FILE":
        empty = tmp_path / "empty"
        empty.write_bytes(b"")
    with pytest.raises(ObjectSaveException, match="empty"):
        read_all(empty, allow_empty=False)
    if isinstance(empty, io.BytesIO):
        empty.seek(0)
    assert read_all(empty) == (b"", 0)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file.fits"
    with pytest.raises(ObjectSaveException, match=r"no-such-file\.fits"):
        read_all(missing)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ObjectSaveException, match="directory"):
        read_all(tmp_path)


@pytest.mark.parametrize("wrong", [42, 3.5, None, ["list"], {"a": 1}])
def test_unsupported_types_are_type_errors(wrong: object) -> None:
    with pytest.raises(TypeError, match="data must be"):
        read_all(wrong)


def test_text_files_are_type_errors(data_file: Path) -> None:
    with (
        data_file.open("r", encoding="latin-1") as text,
        pytest.raises(TypeError, match="binary mode"),
    ):
        read_all(text)


def test_a_bytesio_positioned_past_its_end_is_empty() -> None:
    buffer = io.BytesIO(b"abc")
    buffer.seek(10)
    with pytest.raises(ObjectSaveException, match="empty"):
        read_all(buffer, allow_empty=False)
