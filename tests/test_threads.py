"""One clerk shared by many threads."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from object_clerk import ObjectClerk
from tests.conftest import stored_keys
from tests.faults import inject


def test_one_clerk_serves_eight_threads_through_faults(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    # more tries than injected failures: any thread may meet all of them
    clerk = make_clerk(retry_tries=6)
    faults = inject(clerk)
    for operation in ("PutObject", "HeadObject", "GetObject", "CopyObject", "DeleteObject"):
        faults.fail(operation, "closed", times=4)

    def round_trip(worker: int) -> bool:
        data = os.urandom(1000 + worker)
        key = f"worker-{worker}"
        for round_number in range(3):
            clerk.upload_object(data, bucket, key)
            assert clerk.get_object(bucket, key) == data
            clerk.copy_object(bucket, key, bucket, f"{key}/copy")
            assert clerk.get_object(bucket, f"{key}/copy") == data
            listed = [e["Key"] for e in clerk.list_objects(bucket, prefix=f"{key}/")]
            assert listed == [f"{key}/copy"], round_number
            clerk.delete_object(bucket, f"{key}/copy")
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(round_trip, range(8)))
    assert sorted(stored_keys(s3, bucket)) == sorted(f"worker-{w}" for w in range(8))
    assert faults.sent["PutObject"] == 8 * 3 + 4, "the injected failures happened"
