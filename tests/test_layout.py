"""Part layouts: pure, no store."""

import pytest

from object_clerk._layout import MiB, candidate_part_sizes, part_count, upload_part_size


def test_below_the_threshold_is_a_single_put() -> None:
    assert upload_part_size(10 * MiB - 1, 10 * MiB) is None


def test_at_the_threshold_goes_multipart_with_the_threshold_as_part_size() -> None:
    assert upload_part_size(10 * MiB, 10 * MiB) == 10 * MiB


def test_part_size_is_raised_to_the_s3_minimum() -> None:
    assert upload_part_size(3 * MiB, 1 * MiB) == 5 * MiB


def test_part_size_is_raised_to_stay_within_10000_parts() -> None:
    size = 100_000 * 5 * MiB
    part = upload_part_size(size, 5 * MiB)
    assert part is not None and part_count(size, part) <= 10_000


@pytest.mark.parametrize(
    ("size", "part_size"),
    [
        (40 * MiB + 3, 8 * MiB),
        (30 * MiB, 5 * MiB),
        (31 * MiB, 15 * MiB),
        (100 * MiB, 64 * MiB),
    ],
)
def test_candidates_include_the_usual_tool_part_sizes(size: int, part_size: int) -> None:
    parts = part_count(size, part_size)
    candidates = candidate_part_sizes(size, parts)
    assert part_size in candidates
    assert all(part_count(size, c) == parts for c in candidates)


def test_hints_come_first() -> None:
    size = 20 * MiB
    assert candidate_part_sizes(size, 3, [7 * MiB])[0] == 7 * MiB


def test_hints_that_do_not_fit_the_part_count_are_dropped() -> None:
    assert 7 * MiB not in candidate_part_sizes(20 * MiB, 2, [7 * MiB, None])


def test_an_unusual_whole_mib_part_size_is_among_the_candidates() -> None:
    assert 6 * MiB in candidate_part_sizes(13 * MiB, 3)


def test_whole_mib_guesses_stay_few() -> None:
    assert len(candidate_part_sizes(1024 * MiB, 2)) <= 12
