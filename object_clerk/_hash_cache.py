"""A local digest cache, like git's index: what hashing a local file gave
(its ETags in the part layouts computed, its full-object checksums), kept
in one SQLite file the user names, so that a re-sync or a re-check of an
unchanged tree need not read its files again.

An entry is keyed by the tree root's absolute path and the file's key
under it, and holds the file's state when it was hashed: size,
modification and change times in ns, inode and device. It is used only
while the file's state is exactly that, and only when that state is older
than the time the entry was recorded by more than the file system's
timestamp granularity: a file written within the same tick as it was
hashed could change again with no change of state (git's "racily clean"
entries), so it is hashed again. Each row carries a checksum of its own
fields; a row that fails it is ignored, and a cache file that is not a
sound cache of this version is moved aside (with a warning) and rebuilt,
never trusted.

HashCache is the picklable description of a cache (its path): each thread
of each process opens its own connection (WAL mode, a busy timeout), so
that runs on threads, on processes and two runs at once share the file
safely. A cache that fails while in use is left alone for the rest of the
run in that process (with a warning): the files are hashed instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from object_clerk.exceptions import ObjectClerkConfigurationException

logger = logging.getLogger("object_clerk.hash_cache")

# Bumped whenever the table or the meaning of a digest name changes: a
# cache of another version is rebuilt.
SCHEMA_VERSION = "1"
# A file whose modification or change time is this close to (or after)
# the time its entry was recorded is hashed again: the coarsest common
# file system timestamp (FAT's 2 s) and some clock skew of a network file
# system are within it.
RACY_WINDOW_NS = 2_000_000_000
# How long a connection waits for another run's write to finish.
BUSY_TIMEOUT_SECONDS = 30.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # root and key are bytes (file names need not be UTF-8); state holds
    # size, mtime_ns, ctime_ns, inode and device as decimal text (each may
    # be beyond SQLite's 64-bit integers); digests is JSON name -> value.
    "CREATE TABLE IF NOT EXISTS files (root BLOB NOT NULL, key BLOB NOT NULL, "
    "state TEXT NOT NULL, recorded_ns INTEGER NOT NULL, digests TEXT NOT NULL, "
    "checksum TEXT NOT NULL, PRIMARY KEY (root, key)) WITHOUT ROWID",
)


@dataclass(frozen=True)
class FileState:
    """What identifies one version of a file's content, short of reading it."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, stat: os.stat_result) -> FileState:
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev)

    def text(self) -> str:
        return f"{self.size} {self.mtime_ns} {self.ctime_ns} {self.inode} {self.device}"

    @classmethod
    def parse(cls, text: str) -> FileState:
        size, mtime, ctime, inode, device = (int(part) for part in text.split(" "))
        return cls(size, mtime, ctime, inode, device)


@dataclass(frozen=True)
class HashCache:
    """The cache file at path (absolute). racy_window_ns: see RACY_WINDOW_NS.
    Picklable: each process opens the file itself."""

    path: Path
    racy_window_ns: int = RACY_WINDOW_NS

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> HashCache:
        """The cache at a path as the user gives it."""
        if isinstance(path, bytes) or not isinstance(path, str | os.PathLike):
            raise TypeError(f"hash_cache must be a str or a path, not {type(path).__name__}")
        if not os.fspath(path):
            raise ObjectClerkConfigurationException("the hash cache path is empty")
        return cls(Path(os.path.abspath(path)))

    def refuse_inside(self, root: Path, role: str) -> None:
        """Refuse a cache inside a tree it describes: a sync would upload
        it, or delete it, or download over it."""
        cache, tree = self.path.resolve(), root.resolve()
        if cache == tree or cache.is_relative_to(tree):
            raise ObjectClerkConfigurationException(
                f"the hash cache {str(self.path)!r} is inside the {role} {str(root)!r}: "
                "keep it beside the tree, not in it"
            )

    def prepare(self) -> None:
        """Make the file a sound, empty or filled cache of this version
        before a run uses it: one that is not (torn, garbage, another
        schema) is moved aside with a warning and made anew. Under a lock,
        so that two runs starting at once do not both rebuild it."""
        if self.path.is_dir():
            raise ObjectClerkConfigurationException(
                f"the hash cache {str(self.path)!r} is a directory"
            )
        _forget(self.path)
        try:
            with _locked(self.path):
                problem = _soundness_problem(self.path)
                if problem is not None:
                    aside = self.path.with_name(self.path.name + ".corrupt")
                    logger.warning(
                        "the hash cache %s is %s: ignored, moved to %s and rebuilt",
                        self.path,
                        problem,
                        aside,
                    )
                    os.replace(self.path, aside)
                    for suffix in ("-wal", "-shm"):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(f"{self.path}{suffix}")
                    _create(self.path)
        except (OSError, sqlite3.Error) as error:
            raise ObjectClerkConfigurationException(
                f"the hash cache {str(self.path)!r} cannot be used: {error}"
            ) from error

    def entry(self, root: Path, key: str, path: Path) -> CacheEntry:
        """The cache's entry for the file at path, key under root, as the
        file is now (stat taken here, after the time an entry would be
        recorded at)."""
        started_ns = time.time_ns()
        state = FileState.of(path.stat())
        entry = CacheEntry(self, _root_name(root), _name_of_key(key), state, started_ns)
        connection = _connection(self)
        if connection is None:
            return entry
        try:
            row = connection.execute(
                "SELECT state, recorded_ns, digests, checksum FROM files WHERE root=? AND key=?",
                (entry.root, entry.key),
            ).fetchone()
        except sqlite3.Error as error:
            _give_up(self, error)
            return entry
        if row is not None:
            entry.known = self._trusted(entry, *row)
        return entry

    def _trusted(
        self, entry: CacheEntry, state: str, recorded_ns: int, digests: str, checksum: str
    ) -> dict[str, str]:
        """The digests of a row, when they are of the file as it is now."""
        typed = isinstance(state, str) and isinstance(digests, str) and isinstance(recorded_ns, int)
        if not typed or checksum != _row_checksum(
            entry.root, entry.key, state, recorded_ns, digests
        ):
            _warn_once(self, "an entry of the hash cache %s fails its checksum: ignored")
            return {}
        try:
            recorded = FileState.parse(state)
            found = json.loads(digests)
        except ValueError:
            return {}
        if not usable(recorded, recorded_ns, entry.state, self.racy_window_ns):
            return {}
        if not isinstance(found, dict):
            return {}
        return {name: value for name, value in found.items() if isinstance(value, str)}


def usable(recorded: FileState, recorded_ns: int, now: FileState, racy_window_ns: int) -> bool:
    """Whether digests recorded at recorded_ns (ns since the epoch, taken
    before the file was read) of a file in state recorded are of the file
    in state now: the same state in every field, and that state older than
    the recording by more than racy_window_ns. A file written within one
    timestamp tick of its hashing may have been written again after it in
    the same tick, its state unchanged (a "racily clean" entry)."""
    if recorded != now:
        return False  # another version of the file, or another file
    return max(now.mtime_ns, now.ctime_ns) < recorded_ns - racy_window_ns


@dataclass
class CacheEntry:
    """One file's digests: those the cache holds for it as it is now
    (known), and those computed during this run (computed), recorded by
    save() if the file did not change meanwhile."""

    cache: HashCache
    root: bytes
    key: bytes
    state: FileState
    started_ns: int
    known: dict[str, str] = field(default_factory=dict)
    computed: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.known.get(name)

    def put(self, name: str, value: str) -> None:
        self.computed[name] = value

    def save(self, path: Path) -> None:
        """Record the digests computed, with those known, if the file at
        path is still in the state it had before it was read."""
        if not self.computed:
            return
        try:
            if FileState.of(path.stat()) != self.state:
                return  # changed while it was read: what was computed is of no version
        except OSError:
            return
        connection = _connection(self.cache)
        if connection is None:
            return
        digests = json.dumps({**self.known, **self.computed}, sort_keys=True)
        state = self.state.text()
        checksum = _row_checksum(self.root, self.key, state, self.started_ns, digests)
        try:
            connection.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                (self.root, self.key, state, self.started_ns, digests, checksum),
            )
        except sqlite3.Error as error:
            _give_up(self.cache, error)


@functools.lru_cache(maxsize=64)
def _root_name(root: Path) -> bytes:
    """A tree's key in the cache: its absolute path, links resolved (asked
    once per root, not once per file)."""
    return os.fsencode(root.resolve())


def _name_of_key(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def _row_checksum(root: bytes, key: bytes, state: str, recorded_ns: int, digests: str) -> str:
    """A SHA-256 over every field of a row: a row damaged in any of them
    (a torn write, a flipped bit SQLite's own checks do not see) fails it."""
    # No field holds the separator: hex, decimal digits and spaces, and
    # JSON (which escapes every control character).
    fields = (SCHEMA_VERSION, root.hex(), key.hex(), state, str(recorded_ns), digests)
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on path's lock file beside it, held while it is
    checked and rebuilt."""
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _soundness_problem(path: Path) -> str | None:
    """Why the file at path is no sound cache of this version (None: it
    is one, or it does not exist, and is now an empty one)."""
    try:
        connection = _open(path)
    except sqlite3.Error as error:
        return f"unreadable ({error})"
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if not tables:
            _create_tables(connection)
            return None
        if {"meta", "files"} - tables:
            return "not a hash cache"
        version = connection.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
        if version is None or version[0] != SCHEMA_VERSION:
            return "of another version"
        checked = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if checked != ["ok"]:
            return f"damaged ({'; '.join(map(str, checked[:3]))})"
        return None
    except sqlite3.Error as error:
        return f"damaged ({error})"
    finally:
        connection.close()


def _create(path: Path) -> None:
    connection = _open(path)
    try:
        _create_tables(connection)
    finally:
        connection.close()


def _create_tables(connection: sqlite3.Connection) -> None:
    with connection:
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))


def _open(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode, in WAL mode (readers never wait for
    a writer), waiting for other writers rather than failing."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        # The cache may lose its last writes in a power cut: it is a cache.
        connection.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        connection.close()
        raise
    return connection


# Each thread's connections, by cache path, opened in the process that
# owns them (a forked child opens its own), with the run they were opened
# in: a new run (prepare) may have replaced the file.
_threads = threading.local()
_runs: dict[Path, int] = {}
_given_up: set[tuple[int, Path]] = set()
_given_up_lock = threading.Lock()


def _forget(path: Path) -> None:
    """A new run: connections opened before are reopened, a cache given up
    on is tried again."""
    with _given_up_lock:
        _runs[path] = _runs.get(path, 0) + 1
        _given_up.discard((os.getpid(), path))


def _connection(cache: HashCache) -> sqlite3.Connection | None:
    """This thread's connection to the cache, opened on first use."""
    pid = os.getpid()
    if (pid, cache.path) in _given_up:
        return None
    if getattr(_threads, "pid", None) != pid:
        _threads.pid, _threads.connections = pid, {}
    connections: dict[Path, tuple[int, sqlite3.Connection]] = _threads.connections
    run = _runs.get(cache.path, 0)
    opened = connections.get(cache.path)
    if opened is not None and opened[0] == run:
        return opened[1]
    if opened is not None:
        opened[1].close()
    try:
        connection = _open(cache.path)
    except sqlite3.Error as error:
        _give_up(cache, error)
        return None
    connections[cache.path] = (run, connection)
    return connection


def _give_up(cache: HashCache, error: sqlite3.Error) -> None:
    """Hash files instead of using a cache that failed, for the rest of
    this run in this process (warned once)."""
    with _given_up_lock:
        if (os.getpid(), cache.path) in _given_up:
            return
        _given_up.add((os.getpid(), cache.path))
    logger.warning("the hash cache %s failed (%s): files are hashed instead", cache.path, error)


_warned: set[tuple[int, int, Path, str]] = set()


def _warn_once(cache: HashCache, message: str) -> None:
    """A warning about cache's path, once per run in each process (a
    damaged cache would otherwise say it for every file)."""
    key = (os.getpid(), _runs.get(cache.path, 0), cache.path, message)
    with _given_up_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, cache.path)
