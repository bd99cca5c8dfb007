"""Work that several tests give a clerk."""

from __future__ import annotations

import os

from object_clerk import ObjectClerk


def round_trips(clerk: ObjectClerk, bucket: str, worker: int, rounds: int) -> bool:
    """A thread's mixed work on keys of its own: upload, get, copy, list and
    delete, each result checked."""
    data = os.urandom(1000 + worker)
    key = f"worker-{worker}"
    for _ in range(rounds):
        clerk.upload_object(data, bucket, key)
        assert clerk.get_object(bucket, key) == data
        clerk.copy_object(bucket, key, bucket, f"{key}/copy")
        assert clerk.get_object(bucket, f"{key}/copy") == data
        listed = [entry["Key"] for entry in clerk.list_objects(bucket, prefix=f"{key}/")]
        assert listed == [f"{key}/copy"]
        clerk.delete_object(bucket, f"{key}/copy")
    return True
