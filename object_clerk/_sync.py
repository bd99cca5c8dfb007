"""Sync and check of whole datasets: a local directory tree or a store
prefix against another, entry by entry, on evidence.

The two sides are read as streams in key order (_tree), paired and
decided on (_sync_plan), and the steps that need work run on an executor
(_sync_run) while the listing goes on; the outcome is a report
(_sync_report). Deletions at the destination come last, and only when
every transfer succeeded.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from object_clerk._hash_cache import HashCache
from object_clerk._location import LocalTree, Location, parse_pair
from object_clerk._progress import ProgressCallback
from object_clerk._sync_plan import (
    COMPARE,
    EXTRA,
    NONE,
    TRANSFER,
    UNREADABLE,
    Step,
    check_action,
    plan,
    unfit_local_name,
)
from object_clerk._sync_report import Action, CheckReport, EntryCallback, ReportEntry, SyncReport
from object_clerk._sync_run import CHECK, SYNC, Job, ReportFile, Runner
from object_clerk._tree import Filters, Patterns, filtered, filters, items
from object_clerk.exceptions import ObjectClerkConfigurationException, ObjectSaveException

if TYPE_CHECKING:
    from object_clerk._engine import Engine

DEFAULT_WORKERS = 8


def sync(
    engine: Engine,
    source: object,
    destination: object,
    *,
    delete: bool = False,
    dry_run: bool = False,
    workers: int = DEFAULT_WORKERS,
    callback: ProgressCallback | None = None,
    executor: Executor | None = None,
    on_entry: EntryCallback | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
    max_delete: int | None = None,
    hash_cache: HashCache | None = None,
    report_path: str | os.PathLike[str] | None = None,
) -> SyncReport:
    """Make destination hold what source holds; see ObjectClerk.sync.
    on_entry, if given, is called (on the calling thread) with each entry
    of the report as it is decided; report_path, if given, is the report
    file each entry is written to (see _sync_run.ReportFile)."""
    _check_workers(workers)
    _check_max_delete(max_delete)
    taken = filters(include, exclude)
    src, dst = parse_pair(source, destination)
    job = Job(SYNC, src, dst, dry_run, _prepared(hash_cache, src, dst))
    extras: list[Step] = []
    withheld = 0
    with _running(engine, job, executor, workers, callback, on_entry, report_path) as runner:
        for step in _plan(engine, src, dst, taken):
            refused = _refused(step, dst)
            if refused is not None:
                runner.record(ReportEntry(step.key, Action.FAILED, NONE, 0, refused, step.detail))
            elif step.kind != EXTRA:
                runner.add(step)
            elif delete:
                extras.append(step)
        runner.finish()
        if runner.failed:
            withheld = len(extras)
        elif max_delete is not None and len(extras) > max_delete:
            _refuse_deletions(runner, extras, max_delete)
        else:
            for step in extras:
                runner.add(step)
            runner.finish()
        if isinstance(dst, LocalTree) and not dry_run:
            dst.root.mkdir(parents=True, exist_ok=True)  # there, even for an empty source
        tally = runner.tally
        report = SyncReport(
            str(src), str(dst), tally.kept, dry_run, withheld, tally.left_out, tally.totals()
        )
        runner.conclude(_summary(report.to_dict()))
    return report


def check(
    engine: Engine,
    source: object,
    destination: object,
    *,
    workers: int = DEFAULT_WORKERS,
    executor: Executor | None = None,
    on_entry: EntryCallback | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
    hash_cache: HashCache | None = None,
    report_path: str | os.PathLike[str] | None = None,
) -> CheckReport:
    """Compare destination with source without writing; see ObjectClerk.check."""
    _check_workers(workers)
    taken = filters(include, exclude)
    src, dst = parse_pair(source, destination)
    job = Job(CHECK, src, dst, hash_cache=_prepared(hash_cache, src, dst))
    with _running(engine, job, executor, workers, None, on_entry, report_path) as runner:
        for step in _plan(engine, src, dst, taken):
            if step.kind == COMPARE:
                runner.add(step)
            else:
                action = check_action(step, None)
                error = _refused(step, None)
                runner.record(ReportEntry(step.key, action, step.evidence, 0, error, step.detail))
        runner.finish()
        tally = runner.tally
        report = CheckReport(str(src), str(dst), tally.kept, tally.left_out, tally.totals())
        runner.conclude(_summary(report.to_dict()))
    return report


def _summary(document: dict[str, Any]) -> dict[str, Any]:
    """A report's last line in its report file: all of it but the entries."""
    return {name: value for name, value in document.items() if name != "entries"}


def _plan(engine: Engine, src: Location, dst: Location, taken: Filters) -> Iterator[Step]:
    """The steps for the keys both sides hold that the filters take: the
    filters apply to each side's entries before they are paired."""
    return plan(filtered(items(engine, src), taken), filtered(items(engine, dst), taken))


def _refuse_deletions(runner: Runner, extras: list[Step], max_delete: int) -> None:
    """Report every deletion a sync was to make, none made: more than
    max_delete of them may mean a wrong source (an empty or unmounted
    directory, a mistyped prefix) that would empty the destination."""
    error = ObjectSaveException(
        f"not deleted: the sync would delete {len(extras)} entries at the destination, more "
        f"than max_delete={max_delete}; none was deleted"
    )
    for step in extras:
        runner.record(ReportEntry(step.key, Action.FAILED, step.evidence, 0, error, step.detail))


def _check_max_delete(max_delete: object) -> None:
    if max_delete is None:
        return
    if not isinstance(max_delete, int) or isinstance(max_delete, bool):
        raise TypeError(f"max_delete must be an int or None, not {type(max_delete).__name__}")
    if max_delete < 0:
        raise ObjectClerkConfigurationException(f"max_delete must be at least 0, not {max_delete}")


def _prepared(cache: HashCache | None, *sides: Location) -> HashCache | None:
    """The hash cache a run uses: none without a local side (nothing to
    hash), else checked to be outside the local tree and made ready,
    before anything is read."""
    if cache is None or not any(isinstance(side, LocalTree) for side in sides):
        return None
    for side, role in zip(sides, ("source", "destination"), strict=True):
        if isinstance(side, LocalTree):
            cache.refuse_inside(side.root, role)
    cache.prepare()
    return cache


def _refused(step: Step, destination: Location | None) -> ObjectSaveException | None:
    """Why step cannot be done, decided before anything runs (so that a dry
    run says it too): a side's entry cannot be read, or a transfer to a
    local destination would need a file name no file system takes."""
    if step.kind == UNREADABLE:
        return ObjectSaveException(f"{step.key!r} cannot be read: {step.detail}")
    if step.kind == TRANSFER and isinstance(destination, LocalTree):
        unfit = unfit_local_name(step.key)
        if unfit:
            return ObjectSaveException(f"{step.key!r} cannot be a local file: {unfit}")
    return None


@contextlib.contextmanager
def _running(
    engine: Engine,
    job: Job,
    executor: Executor | None,
    workers: int,
    callback: ProgressCallback | None,
    on_entry: EntryCallback | None,
    report_path: str | os.PathLike[str] | None = None,
) -> Iterator[Runner]:
    """A runner on the given executor, or on a pool of workers threads of
    its own, shut down at the end. A ProcessPoolExecutor gets the engine,
    the job and each batch pickled (the engine makes its own client in each
    process); progress then comes entry by entry, as each one is done.
    When the planning fails (a listing refused), the batches not started
    are cancelled and the others waited for before the error goes on. The
    report file is opened before anything runs and closed at the end,
    whole lines on disk whatever happened."""
    report_file = None if report_path is None else ReportFile(report_path)
    owned = executor is None
    pool = ThreadPoolExecutor(workers, thread_name_prefix="object-clerk") if owned else executor
    assert pool is not None
    # Any executor but a thread pool may run batches in other processes (a
    # process pool, Dask's): they get no callback into this one.
    in_processes = not isinstance(pool, ThreadPoolExecutor)
    runner = Runner(
        engine,
        job,
        pool,
        workers,
        callback,
        on_entry,
        in_processes=in_processes,
        report_file=report_file,
    )
    try:
        yield runner
    except BaseException:
        runner.abandon()
        raise
    finally:
        if owned:
            pool.shutdown(wait=True)
        if report_file is not None:
            report_file.close()


def _check_workers(workers: object) -> None:
    if not isinstance(workers, int) or isinstance(workers, bool):
        raise TypeError(f"workers must be an int, not {type(workers).__name__}")
    if workers < 1:
        raise ObjectClerkConfigurationException(f"workers must be at least 1, not {workers}")
