"""Doing a plan: each step by the engine's own verified single-object
operation, batches of steps on an executor, every entry's outcome kept.

A step that fails is an entry of the report with its exception; the other
steps go on. Batches are handed to the executor as they are planned, and
no more than two per worker wait at a time, so memory stays bounded by
the transfers under way, whatever the size of the tree.

Each entry, as it is done, is counted (a Tally keeps a bounded number of
them), passed to on_entry, and written to the report file where one is
asked for: JSON Lines, one object per entry (ReportEntry.to_dict), then
one line of the report without its entries (totals, ok) when the run
ends. The file is a log, not written atomically: it is written in whole
lines, a batch at a time (REPORT_LINES lines, or after REPORT_SECONDS),
so that a run that stops half-way leaves the entries done so far, and no
last line of totals.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from object_clerk import _compare, _listing, _localfs
from object_clerk._checksum import Etag
from object_clerk._errors import translate
from object_clerk._hash_cache import HashCache
from object_clerk._location import LocalTree, Location, StorePrefix
from object_clerk._progress import ProgressCallback
from object_clerk._source import open_source
from object_clerk._sync_plan import (
    COMPARE,
    EXTRA,
    NONE,
    Batch,
    Batcher,
    Step,
    Verdict,
    check_action,
    names_no_file,
    sort_key,
    transfer_action,
)
from object_clerk._sync_report import (
    TRANSFERS,
    Action,
    EntryCallback,
    Operation,
    ReportEntry,
    Tally,
)
from object_clerk._transfer import SMALL_OBJECT
from object_clerk.exceptions import ObjectSaveException

if TYPE_CHECKING:
    from object_clerk._engine import Engine

SYNC, CHECK = Operation.SYNC, Operation.CHECK
# Uploads up to this size are one PutObject (see _transfer.SMALL_OBJECT),
# verified by a listing of their batch.
SMALL_UPLOAD = SMALL_OBJECT
# A batch holds at most this many steps, and this many bytes unless one
# step alone is larger: small files share a task, large ones have their own.
BATCH_STEPS = 16
BATCH_BYTES = 16 * 1024 * 1024
# Batches waiting for a worker, per worker.
QUEUED_PER_WORKER = 2
# The report file is written this many lines at a time, or sooner when its
# oldest line waiting is this old.
REPORT_LINES = 256
REPORT_SECONDS = 1.0

# The small uploads of a batch not verified yet: by key, the file and the
# ETag of the bytes sent.
Unconfirmed = dict[str, tuple[Path, Etag]]


@dataclass(frozen=True)
class Job:
    """What every step of one sync or check shares: which operation, the
    two locations, whether to write at all, and the local digest cache to
    use, if any. Picklable."""

    operation: Operation
    source: Location
    destination: Location
    dry_run: bool = False
    hash_cache: HashCache | None = None


def run_batch(
    engine: Engine, job: Job, batch: Batch, callback: ProgressCallback | None
) -> list[ReportEntry]:
    """The entries of a batch's steps, run one after the other. The batch's
    small uploads are verified together, by one listing (see _confirm); its
    downloads reach the disk together, before the batch is reported (see
    _localfs.Flushes)."""
    unconfirmed: Unconfirmed = {}
    flushes = _localfs.Flushes()
    try:
        entries = [
            run_step(engine, job, step, callback, unconfirmed, flushes) for step in batch.steps
        ]
        if len(flushes):
            _flush(flushes, entries)
    finally:
        flushes.close()
    if unconfirmed:
        _confirm(engine, job, unconfirmed, entries, callback)
    return entries


def _flush(flushes: _localfs.Flushes, entries: list[ReportEntry]) -> None:
    """Flush a batch's downloads to disk; if that fails, none of them is
    reported done (each download fails with the error)."""
    try:
        flushes.flush()
    except OSError as error:
        for index, entry in enumerate(entries):
            if entry.action == Action.DOWNLOADED and entry.error is None:
                failure = translate(error, f"flushing the download of {entry.key!r} to disk")
                entries[index] = ReportEntry(
                    entry.key, Action.FAILED, entry.evidence, 0, failure, entry.detail
                )


def run_step(
    engine: Engine,
    job: Job,
    step: Step,
    callback: ProgressCallback | None,
    unconfirmed: Unconfirmed | None = None,
    flushes: _localfs.Flushes | None = None,
) -> ReportEntry:
    """One step's entry; its failure is the entry's error, never raised.
    Small uploads are left in unconfirmed to be verified by the caller,
    where it gives one; downloads in flushes to be flushed by the caller,
    where it gives one."""
    if job.operation == CHECK:
        return _check(engine, job, step)
    return _sync(engine, job, step, callback, unconfirmed, flushes)


def _check(engine: Engine, job: Job, step: Step) -> ReportEntry:
    verdict = None
    if step.kind == COMPARE:
        try:
            verdict = compare(engine, job, step)
        except Exception as error:
            return ReportEntry(
                step.key, Action.UNVERIFIABLE, NONE, 0, error, "the comparison failed"
            )
    action = check_action(step, verdict)
    if verdict is None:
        return ReportEntry(step.key, action, step.evidence, 0, None, step.detail)
    return ReportEntry(step.key, action, verdict.evidence, 0, None, verdict.detail)


def _sync(
    engine: Engine,
    job: Job,
    step: Step,
    callback: ProgressCallback | None,
    unconfirmed: Unconfirmed | None,
    flushes: _localfs.Flushes | None = None,
) -> ReportEntry:
    evidence, detail = step.evidence, step.detail
    try:
        if step.kind == EXTRA:
            if not job.dry_run:
                delete(engine, job.destination, step.key)
            return ReportEntry(step.key, Action.DELETED, evidence, 0, None, detail)
        if step.kind == COMPARE:
            verdict = compare(engine, job, step)
            if verdict.equal:
                return ReportEntry(
                    step.key, Action.SKIPPED, verdict.evidence, 0, None, verdict.detail
                )
            evidence, detail = verdict.evidence, verdict.detail
        action = transfer_action(
            isinstance(job.source, LocalTree), isinstance(job.destination, LocalTree)
        )
        if unconfirmed is not None and _small_upload(engine, job, step):
            assert isinstance(job.source, LocalTree) and isinstance(job.destination, StorePrefix)
            path = local_path(job.source.root, step.key)
            key = job.destination.object_key(step.key)
            sent = engine.upload(path, job.destination.bucket, key, False, callback=callback)
            unconfirmed[step.key] = (path, sent)
        else:
            transfer(engine, job, step.key, callback, step.size, flushes)
        return ReportEntry(step.key, action, evidence, step.size, None, detail)
    except Exception as error:
        return ReportEntry(step.key, Action.FAILED, evidence, 0, error, detail)


def _small_upload(engine: Engine, job: Job, step: Step) -> bool:
    """An upload of one PutObject, whose stored ETag is the file's MD5: the
    listing of the destination shows it as a HEAD would."""
    return (
        not job.dry_run
        and isinstance(job.source, LocalTree)
        and isinstance(job.destination, StorePrefix)
        and 0 < step.size <= min(SMALL_UPLOAD, engine.settings.multipart_threshold - 1)
    )


def _confirm(
    engine: Engine,
    job: Job,
    unconfirmed: Unconfirmed,
    entries: list[ReportEntry],
    callback: ProgressCallback | None,
) -> None:
    """Verify a batch's small uploads by one listing of what was written
    instead of a HEAD each: an object is confirmed when the store lists it
    with the MD5 of the bytes sent (which the store checked them against).
    The others are uploaded again by the verified upload_object (a damaged
    object removed, an unverifiable one reported), and their entry is what
    that does."""
    assert isinstance(job.destination, StorePrefix)
    destination = job.destination
    keys = sorted(unconfirmed, key=sort_key)
    listed = _listed_etags(engine, destination, keys)
    for index, entry in enumerate(entries):
        if entry.key not in unconfirmed:
            continue
        path, sent = unconfirmed[entry.key]
        try:
            if listed.get(entry.key) == sent:
                continue
            target = destination.object_key(entry.key)
            engine.upload(path, destination.bucket, target, True, callback=callback)
        except Exception as error:
            entries[index] = ReportEntry(
                entry.key, Action.FAILED, entry.evidence, 0, error, entry.detail
            )


def _listed_etags(engine: Engine, destination: StorePrefix, keys: list[str]) -> dict[str, Etag]:
    """The listed ETags of keys (relative, in key order) at destination,
    from one listing of the span they cover, stopped at its last key."""
    first, last = destination.object_key(keys[0]), destination.object_key(keys[-1])
    request = {
        "Bucket": destination.bucket,
        "Prefix": os.path.commonprefix([first, last]),  # noqa: RUF071 (a key prefix, not a path)
        "StartAfter": first[:-1],  # sorts just before first
    }
    found: dict[str, Etag] = {}
    end = sort_key(last)
    # Keys written meanwhile by other batches come after: a first page of
    # the batch's size holds it, unless the destination has keys between
    # (then full pages follow).
    for page in _listing.pages(engine.client, request, first_page_size=len(keys)):
        for entry in page.get("Contents", []):
            position = sort_key(entry["Key"])
            if position > end:
                return found
            found[destination.relative_key(entry["Key"])] = Etag.parse(entry.get("ETag") or "")
            if position == end:  # no page more: the batch is all listed
                return found
    return found


def local_path(root: Path, key: str) -> Path:
    """The file under root that key names; a key that would name something
    else (.., empty segments, a NUL, another path separator of this system)
    is refused, so that no object of the store can make a download write
    outside root."""
    segments = key.split("/")
    if any(names_no_file(segment) for segment in segments):
        raise ObjectSaveException(f"the key {key!r} does not name a file under {str(root)!r}")
    return root.joinpath(*segments)


def directory_parts(key: str) -> list[str]:
    """The directories on the way from the root to the file key names."""
    return key.split("/")[:-1]


def compare(engine: Engine, job: Job, step: Step) -> Verdict:
    """Compare the content of a step's two entries (of the same size)."""
    src, dst = job.source, job.destination
    assert step.source is not None and step.destination is not None
    if isinstance(src, LocalTree) and isinstance(dst, StorePrefix):
        path, key = local_path(src.root, step.key), dst.object_key(step.key)
        listed = step.destination
        return _compare.file_and_object(
            engine, path, dst.bucket, key, listed.size, listed.etag or "", job.hash_cache, src.root
        )
    if isinstance(src, StorePrefix) and isinstance(dst, LocalTree):
        path, key = local_path(dst.root, step.key), src.object_key(step.key)
        listed = step.source
        return _compare.file_and_object(
            engine, path, src.bucket, key, listed.size, listed.etag or "", job.hash_cache, dst.root
        )
    assert isinstance(src, StorePrefix) and isinstance(dst, StorePrefix)
    return _compare.objects(
        engine,
        (src.bucket, src.object_key(step.key), step.source.etag or ""),
        (dst.bucket, dst.object_key(step.key), step.destination.etag or ""),
    )


def transfer(
    engine: Engine,
    job: Job,
    key: str,
    callback: ProgressCallback | None,
    size: int | None = None,
    flushes: _localfs.Flushes | None = None,
) -> None:
    """Move one entry from the source to the destination by the engine's
    verified operation. A dry run opens a local source as an upload would
    (an empty or unreadable file is refused just the same) and writes
    nothing. size is the source's listed size; a download put in flushes
    is on disk once the caller has flushed them (else before this
    returns)."""
    src, dst = job.source, job.destination
    if isinstance(src, LocalTree) and isinstance(dst, StorePrefix):
        path = local_path(src.root, key)
        if job.dry_run:
            with open_source(path):
                return
        engine.upload(path, dst.bucket, dst.object_key(key), True, callback=callback)
    elif isinstance(src, StorePrefix) and isinstance(dst, LocalTree):
        # Each directory on the way is opened without following a link (one
        # would lead the write out of the root; the walk does not follow one
        # either, so the file would look absent on every run), and the file
        # is written relative to the last: a directory swapped for a link
        # after that leads nothing elsewhere (see _localfs). A dry run
        # refuses what the download would, making nothing.
        path = local_path(dst.root, key)
        parts = directory_parts(key)
        with _localfs.directory(dst.root, parts, make=not job.dry_run) as directory:
            if job.dry_run or directory is None:
                return
            engine.download_at(
                src.bucket,
                src.object_key(key),
                directory,
                path,
                callback=callback,
                size=size,
                flushes=flushes,
            )
    else:
        assert isinstance(src, StorePrefix) and isinstance(dst, StorePrefix)
        if job.dry_run:
            return
        source_key, target_key = src.object_key(key), dst.object_key(key)
        engine.copy(src.bucket, source_key, dst.bucket, target_key, True, callback, True)


def delete(engine: Engine, destination: Location, key: str) -> None:
    if isinstance(destination, LocalTree):
        # Relative to the file's directory, opened as for a download.
        path = local_path(destination.root, key)
        with _localfs.directory(destination.root, directory_parts(key), make=False) as directory:
            if directory is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path.name, dir_fd=directory)
    else:
        engine.delete(destination.bucket, destination.object_key(key))


class SerialCallback:
    """The caller's progress callback, called by one thread at a time (a
    progress bar need not be thread-safe)."""

    def __init__(self, callback: ProgressCallback) -> None:
        self._callback = callback
        self._lock = threading.Lock()

    def __call__(self, amount: int) -> None:
        with self._lock:
            self._callback(amount)


class ReportFile:
    """A run's report as JSON Lines at path (replaced if it exists): one
    object per entry, then one for the report without its entries. Lines
    are written whole, a batch at a time, and the file's own buffer is not
    used, so that what is on disk is always whole lines. A key that is no
    UTF-8 (a local name) is written with JSON escapes, as --json would."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        try:
            self._file: IO[bytes] = open(self._path, "wb", buffering=0)  # noqa: SIM115
        except OSError as error:
            raise self._refused(error) from error
        self._lines: list[bytes] = []
        self._since = time.monotonic()

    def write(self, document: dict[str, Any]) -> None:
        if not self._lines:
            self._since = time.monotonic()
        text = json.dumps(document, ensure_ascii=False, default=str)
        self._lines.append(text.encode("utf-8", "backslashreplace") + b"\n")
        waited = time.monotonic() - self._since
        if len(self._lines) >= REPORT_LINES or waited >= REPORT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        data, self._lines = b"".join(self._lines), []
        try:
            view = memoryview(data)
            while view:  # an unbuffered write may write less than asked
                view = view[self._file.write(view) or 0 :]
        except OSError as error:
            raise self._refused(error) from error

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._file.close()

    def _refused(self, error: OSError) -> ObjectSaveException:
        return ObjectSaveException(
            f"cannot write the report file {self._path!r}: {error.strerror or error}"
        )


class Runner:
    """Runs steps in batches on an executor and collects their entries.

    A batch is handed over when it is full, or at once while a worker is
    idle, so that a small tree is spread over the workers and a large one
    goes in batches. At most QUEUED_PER_WORKER batches per worker wait."""

    def __init__(
        self,
        engine: Engine,
        job: Job,
        executor: Executor,
        workers: int,
        callback: ProgressCallback | None = None,
        on_entry: EntryCallback | None = None,
        *,
        in_processes: bool = False,
        report_file: ReportFile | None = None,
    ) -> None:
        self._engine, self._job, self._executor = engine, job, executor
        self._workers = workers
        self._callback = SerialCallback(callback) if callback is not None else None
        self._on_entry = on_entry
        # Workers in other processes cannot call back into this one: the
        # bytes of each entry are reported here when it is done.
        self._in_processes = in_processes
        self._batcher = Batcher(BATCH_STEPS, BATCH_BYTES)
        self._running: dict[Future[list[ReportEntry]], Batch] = {}
        self._report_file = report_file
        self.tally = Tally()

    def add(self, step: Step) -> None:
        for batch in self._batcher.add(step):
            self._submit(batch)
        if len(self._batcher) and self._idle():
            rest = self._batcher.flush()
            if rest is not None:
                self._submit(rest)

    def record(self, entry: ReportEntry) -> None:
        """An entry done, or decided without running anything."""
        self.tally.add(entry)
        if self._report_file is not None:
            self._report_file.write(entry.to_dict())
        moved = entry.action in TRANSFERS and entry.bytes and not self._job.dry_run
        if self._in_processes and self._callback is not None and moved:
            self._callback(entry.bytes)
        if self._on_entry is not None:
            self._on_entry(entry)

    def finish(self) -> list[ReportEntry]:
        """Run what is left, wait for every batch; the entries kept so far
        (see Tally)."""
        batch = self._batcher.flush()
        if batch is not None:
            self._submit(batch)
        while self._running:
            self._collect(wait(self._running).done)
        return self.tally.kept

    @property
    def failed(self) -> bool:
        """Whether an entry failed so far."""
        return bool(self.tally.counts[Action.FAILED])

    def conclude(self, summary: dict[str, Any]) -> None:
        """The run's end: summary (the report without its entries) is the
        report file's last line."""
        if self._report_file is not None:
            self._report_file.write(summary)
            self._report_file.flush()

    def abandon(self) -> None:
        """Stop: cancel the batches not started, wait for the others."""
        for future in self._running:
            future.cancel()
        wait(self._running)
        self._running.clear()

    def _idle(self) -> bool:
        self._collect({future for future in self._running if future.done()})
        return len(self._running) < self._workers

    def _submit(self, batch: Batch) -> None:
        while len(self._running) >= QUEUED_PER_WORKER * self._workers:
            self._collect(wait(self._running, return_when=FIRST_COMPLETED).done)
        callback = None if self._in_processes else self._callback
        future = self._executor.submit(run_batch, self._engine, self._job, batch, callback)
        self._running[future] = batch

    def _collect(self, done: set[Future[list[ReportEntry]]]) -> None:
        for future in done:
            batch = self._running.pop(future)
            try:
                entries = future.result()
            except Exception as error:  # the executor could not run the batch
                action = Action.UNVERIFIABLE if self._job.operation == CHECK else Action.FAILED
                entries = [
                    ReportEntry(step.key, action, step.evidence, 0, error, step.detail)
                    for step in batch.steps
                ]
            for entry in entries:
                self.record(entry)
