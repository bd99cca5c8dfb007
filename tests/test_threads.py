"""One clerk shared by many threads."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from object_clerk import ObjectClerk
from tests.faults import inject
from tests.support import stored_keys
from tests.workloads import round_trips

# The whole file is slow: eight threads through faults, over a second.
pytestmark = pytest.mark.slow


def test_one_clerk_serves_eight_threads_through_faults(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    # more tries than injected failures: any thread may meet all of them
    clerk = make_clerk(retry_tries=6)
    faults = inject(clerk)
    for operation in ("PutObject", "HeadObject", "GetObject", "CopyObject", "DeleteObject"):
        faults.fail(operation, "closed", times=4)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(lambda worker: round_trips(clerk, bucket, worker, 3), range(8)))
    assert sorted(stored_keys(s3, bucket)) == sorted(f"worker-{w}" for w in range(8))
    assert faults.sent["PutObject"] == 8 * 3 + 4, "the injected failures happened"
