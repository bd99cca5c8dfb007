"""ETag computation: pure, no store."""

import hashlib

import pytest

from object_clerk._checksum import Etag, EtagHasher, etag_of
from tests.support import reference_multipart_etag

DATA = bytes(range(256)) * 41  # 10,496 bytes, not a multiple of the part sizes


def test_single_part_etag_is_the_md5() -> None:
    assert str(etag_of([DATA], None)) == hashlib.md5(DATA).hexdigest()


@pytest.mark.parametrize("part_size", [1000, 4096, 10_496, 20_000])
def test_multipart_etag_is_md5_of_part_md5s(part_size: int) -> None:
    assert str(etag_of([DATA], part_size)) == reference_multipart_etag(DATA, part_size)


@pytest.mark.parametrize("chunk", [1, 7, 999, 1000, 1001, 5000])
def test_chunking_does_not_change_the_etag(chunk: int) -> None:
    chunks = [memoryview(DATA)[i : i + chunk] for i in range(0, len(DATA), chunk)]
    assert etag_of(chunks, 1000) == etag_of([DATA], 1000)
    assert etag_of(chunks, None) == etag_of([DATA], None)


def test_a_multipart_upload_of_one_part_counts_one_part() -> None:
    assert etag_of([b"abc"], 10) == Etag(hashlib.md5(hashlib.md5(b"abc").digest()).hexdigest(), 1)


def test_exact_multiple_has_no_empty_last_part() -> None:
    assert etag_of([b"x" * 20], 10).parts == 2


def test_hasher_rejects_a_non_positive_part_size() -> None:
    with pytest.raises(ValueError, match="part_size"):
        EtagHasher(0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"0123abcd"', Etag("0123abcd", None)),
        ("0123ABCD", Etag("0123abcd", None)),
        ('"0123abcd-12"', Etag("0123abcd", 12)),
        (" 0123abcd-3 ", Etag("0123abcd", 3)),
    ],
)
def test_etag_parse_accepts_quoted_unquoted_and_any_case(raw: str, expected: Etag) -> None:
    assert Etag.parse(raw) == expected
    assert str(expected) == raw.strip().strip('"').lower()
