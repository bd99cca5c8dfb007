"""The command line: ``object-clerk`` (and ``python -m object_clerk``).

Argument parsing and output only; every verified operation is the
library's. The endpoint comes from --endpoint-url or AWS_ENDPOINT_URL, the
credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (never from an
argument, so that the secret is in no process list or shell history);
without them, or with --profile or --region, from the AWS configuration as
the aws command line reads it (ObjectClerk.from_aws_config). The clerk's
own variables (MULTIPART_THRESHOLD, S3_*_CONFIG) apply as they do in the
library.

Exit status: 0 when everything was done and verified; 1 when the operation
failed (a missing object or bucket, refused credentials, retries exhausted,
a verification failure, a local file system fault, a sync with failed
entries, a check with differences); 2 when the command was called wrongly
(usage, configuration, a malformed location or bucket name, a file that
cannot be uploaded); 130 when interrupted. Every failure is one line, in
words, never a traceback.

The sections below: the entry point and its failures; logging; parsing;
the connection; locations; output; then the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from object_clerk import __version__
from object_clerk.clerk import DEFAULT_WORKERS, ObjectClerk
from object_clerk.exceptions import (
    ListingOrderError,
    ObjectClerkBadAnswerException,
    ObjectClerkConfigurationException,
    ObjectClerkConnectionException,
    ObjectClerkException,
    ObjectClerkServerAuthException,
    ObjectClerkServerInternalException,
    ObjectExistsException,
    ObjectNotFoundException,
    ObjectSaveException,
    ObjectSourceChangedException,
    ObjectVerificationException,
    public_name,
    store_error_code,
)
from object_clerk.locations import SCHEME, names_no_file, unfit_local_name
from object_clerk.typing import (
    CHECK_ACTIONS,
    SYNC_ACTIONS,
    Action,
    CheckReport,
    IncompleteUpload,
    ReportEntry,
    SyncReport,
)

PROG = "object-clerk"
OK, FAILED, USAGE = 0, 1, 2
INTERRUPTED = 130  # 128 + SIGINT, as shells report it
BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away
MAX_CAUSES = 16  # a chain of causes may loop back on itself
# An object streamed to stdout is read whole into memory up to this size,
# and through a private temporary file beyond it (constant memory).
STREAM_IN_MEMORY = 16 * 1024 * 1024
# S3's rule for a bucket name as botocore checks it (an ARN aside): refused
# here as a malformed location, before a request that would fail anyway.
BUCKET_NAME = re.compile(r"[a-zA-Z0-9.\-_]{1,255}")


class UsageError(Exception):
    """A command line that cannot be run as given."""


# -- the entry point and its failures --------------------------------------------


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one command; the exit status."""
    env = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with a usage message on errors
    args.environ = env
    out = Output(
        json_output=args.json, quiet=args.quiet, verbose=args.verbose, progress=args.progress
    )
    secret = env.get("AWS_SECRET_ACCESS_KEY", "")
    with logged(out, secret) as out.retries:
        status = _run(args, env, out)
        out.summary()
    return status


def _run(args: argparse.Namespace, env: Mapping[str, str], out: Output) -> int:
    clerk: ObjectClerk | None = None
    try:
        clerk = make_clerk(args, env)
        return int(args.run(clerk, args, out))
    except KeyboardInterrupt:
        out.interrupted()
        return INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return BROKEN_PIPE
    except UsageError as error:
        return out.error(str(error), USAGE, "UsageError", "")
    except (ObjectClerkException, OSError) as error:
        message = explain(error, out.subject, clerk, out.local)
        return out.error(message, exit_status(error), public_name(error), store_error_code(error))
    except Exception as error:  # a fault of this program: still one line
        logging.getLogger("object_clerk.cli").debug("internal error", exc_info=True)
        return out.error(f"internal error: {error!r}", FAILED, public_name(error), "")


def _quiet_stdout() -> None:
    """After a closed pipe: nothing more reaches stdout, not even Python's
    flush at exit (which would print a traceback)."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def exit_status(error: BaseException) -> int:
    """2 where the command was called wrongly (the configuration, or a file
    given to upload that cannot be: not a file, or the source destroyed by its
    own operation); 1 where the operation failed."""
    if isinstance(error, ObjectClerkConfigurationException):
        return USAGE
    if type(error) is ObjectSaveException and _local_fault(error) is None:
        return USAGE
    return FAILED


def _causes(error: BaseException) -> Iterator[BaseException]:
    """error, then its causes (explicit or not), at most MAX_CAUSES."""
    seen: BaseException | None = error
    for _ in range(MAX_CAUSES):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _local_fault(error: BaseException) -> OSError | None:
    """The local file system's failure behind error, if it is one: an
    OSError naming a path, or a disk that is full, failing or read-only (a
    connection's failure is an OSError too, but names no file)."""
    for cause in _causes(error):
        if not isinstance(cause, OSError) or isinstance(cause, ConnectionError):
            continue
        if cause.filename is not None or cause.errno in DISK_FAULTS:
            return cause
    return None


DISK_FAULTS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})


def _store_answer(error: BaseException) -> dict[str, Any]:
    """The store's answer behind error ({} when none): Error.Code/Message."""
    for cause in _causes(error):
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            return dict(response.get("Error", {}))
    return {}


LOCAL_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "not permitted",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EEXIST: "exists already, and is not a directory",
    errno.EISDIR: "is a directory",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EIO: "input/output error (a failing disk?)",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "too many symbolic links",
    errno.ENOTEMPTY: "the directory is not empty",
    errno.EXDEV: "on another file system",
}

AUTH_REASONS = {
    "InvalidAccessKeyId": "the store does not know the access key (AWS_ACCESS_KEY_ID)",
    "SignatureDoesNotMatch": "the store refused the secret key (AWS_SECRET_ACCESS_KEY): "
    "it does not match the access key",
    "RequestTimeTooSkewed": "the store refused the request: this machine's clock is too far "
    "from the store's",
    "ExpiredToken": "the session token has expired",
    "InvalidToken": "the session token is not valid",
}

# botocore's way of saying what the store said, kept only as the store's
# words: "An error occurred (404) when calling the HeadObject operation
# (reached max retries: 0): Not Found".
_BOTOCORE_WORDS = re.compile(
    r"An error occurred \(([^)]*)\) when calling the \w+ operation"
    r"(?: \(reached max retries: \d+\))?: "
)


def explain(
    error: BaseException, subject: str, clerk: ObjectClerk | None = None, local: str = ""
) -> str:
    """What went wrong, in words for people, naming subject (the location or
    path the command was working on) where the error names nothing better,
    and local (the file written or read) for a fault on a name relative to
    its directory (a temporary file's)."""
    code = store_error_code(error)
    answer = _store_answer(error)
    local_fault = _local_fault(error)
    about = subject or "the request"
    if local_fault is not None and not isinstance(error, ObjectClerkConnectionException):
        return local_problem(local_fault, local)
    if isinstance(error, ObjectNotFoundException):
        if code == "NoSuchBucket":
            return f"no such bucket {answer.get('BucketName') or _bucket_of(subject)}"
        if code == "NoSuchUpload":
            return f"no such multipart upload for {about} (completed or aborted meanwhile)"
        if subject.startswith(SCHEME) and clerk is not None and _bucket_missing(clerk, subject):
            return f"no such bucket {_bucket_of(subject)}"
        return f"no such object {about}"
    if isinstance(error, ObjectClerkServerAuthException):
        return AUTH_REASONS.get(code, f"access denied to {about}")
    if isinstance(error, ObjectClerkConnectionException):
        return f"cannot reach the store for {about}, retries exhausted: {_root_words(error)}"
    if isinstance(error, ObjectClerkServerInternalException):
        return f"the store kept failing for {about} ({code}), retries exhausted"
    if isinstance(error, ObjectExistsException):
        return f"{about} exists already: left as it is"
    if isinstance(error, ObjectSourceChangedException):
        return f"{about}: the source changed while it was copied or read: {_last_words(error)}"
    if isinstance(error, ObjectVerificationException):
        # The library's message names the object as bucket/key: said once.
        words = _last_words(error).removeprefix(f"{subject.removeprefix(SCHEME)}: ")
        return f"{about}: verification failed: {words}"
    if isinstance(error, (ObjectClerkBadAnswerException, ListingOrderError)):
        return f"{about}: the store's answer cannot be used: {_last_words(error)}"
    if isinstance(error, OSError):
        return f"{about}: {error.strerror or error}"
    if answer:
        words = answer.get("Message") or code
        return f"the store refused the request for {about}: {words} ({code})"
    return _last_words(error)


def _root_words(error: BaseException) -> str:
    """The first cause's own message (botocore's, without the library's
    operation prefix): what failed underneath."""
    return str(error.__cause__ or error)


def _last_words(error: BaseException) -> str:
    """The library's message without botocore's phrasing."""
    text = _BOTOCORE_WORDS.sub(lambda found: f"({found.group(1)}) ", str(error))
    return text.replace(" (reached max retries: 0)", "")


def local_problem(error: OSError, local: str = "") -> str:
    """A local file system failure: the path and what happened, in words.
    A bare name (a temporary file's, opened in its directory) is shown as
    local, the file the command was writing."""
    reason = LOCAL_REASONS.get(error.errno or 0) or (error.strerror or str(error)).lower()
    path = error.filename
    if error.filename2 is not None and error.errno in (errno.EISDIR, errno.ENOTDIR):
        path = error.filename2  # a rename's target is the name that matters
    name = "" if path is None else os.fsdecode(path)
    if local and os.sep not in name:
        name = local
    return f"{name}: {reason}" if name else reason


def _bucket_of(location: str) -> str:
    return location[len(SCHEME) :].partition("/")[0] if location.startswith(SCHEME) else location


def _bucket_missing(clerk: ObjectClerk, location: str) -> bool:
    """Whether the bucket of location does not exist: a HEAD answers a bare
    404 for a missing key and a missing bucket alike; one listing tells."""
    try:
        next(iter(clerk.list_objects(_bucket_of(location), max_keys=1)), None)
    except ObjectNotFoundException:
        return True
    except ObjectClerkException:
        return False
    return False


# -- logging --------------------------------------------------------------------

# The library's loggers (retries: "object_clerk.retry"), and at -vv the
# requests as urllib3 sends them; botocore's own loggers never print.
LIBRARY_LOGGER = "object_clerk"
RETRY_LOGGER = "object_clerk.retry"
REQUEST_LOGGER = "urllib3.connectionpool"
# What may carry a credential in a log line: an Authorization header's
# value, a presigned URL's signature or credential.
_SECRETS_IN_LOGS = re.compile(
    r"(?i)(authorization['\"]?\s*[:=]\s*b?['\"]?)[^'\"\n]+"
    r"|(x-amz-(?:signature|credential|security-token)=)[^&\s'\"]+"
)


class RetryCounter(logging.Handler):
    """Counts the retries the library logs, for the summary line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == RETRY_LOGGER:
            self.count += 1


class Redacted(logging.Filter):
    """Takes the secret key and any Authorization value out of a record
    before it is printed."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self.secret:
            text = text.replace(self.secret, "***")
        text = _SECRETS_IN_LOGS.sub(lambda m: f"{m.group(1) or m.group(2)}***", text)
        text = _BOTOCORE_WORDS.sub(lambda found: f"({found.group(1)}) ", text)
        record.msg, record.args = text, None
        return True


@contextlib.contextmanager
def logged(out: Output, secret: str) -> Iterator[RetryCounter]:
    """The library's log records for this run, redacted: retries counted
    always (one line at the end says how many), and printed to stderr with
    -v, with the library's other warnings, which print by default too; -v
    adds what the library says, -vv every request, -vvv botocore's own
    detail; --quiet prints none. Undone at the end (main may run again in
    one process)."""
    counter = RetryCounter()
    printer = logging.StreamHandler(sys.stderr)
    printer.setFormatter(logging.Formatter(f"{PROG}: %(name)s: %(message)s"))
    printer.addFilter(Redacted(secret))
    verbose = 0 if out.quiet else out.verbose
    if verbose == 0:  # retries summed up at the end rather than each shown
        printer.addFilter(lambda record: record.name != RETRY_LOGGER)
    library = logging.getLogger(LIBRARY_LOGGER)
    loggers = [(library, logging.INFO if verbose == 1 else logging.DEBUG)]
    if verbose >= 2:
        loggers.append((logging.getLogger(REQUEST_LOGGER), logging.DEBUG))
    if verbose >= 3:
        loggers.append((logging.getLogger("botocore"), logging.DEBUG))
        # Its signing steps print the request's signature: not even that.
        loggers.append((logging.getLogger("botocore.auth"), logging.WARNING))
    saved = [(logger, logger.level, logger.propagate) for logger, _ in loggers]
    library.addHandler(counter)
    for logger, level in loggers:
        logger.setLevel(level if verbose else logging.WARNING)
        logger.propagate = False  # no other handler prints it, nor Python's last resort
        if not out.quiet:
            logger.addHandler(printer)
    try:
        yield counter
    finally:
        library.removeHandler(counter)
        for logger, level, propagate in saved:
            logger.removeHandler(printer)
            logger.setLevel(level)
            logger.propagate = propagate


# -- parsing -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Verified, retried S3 object operations, for objects and whole datasets.",
        epilog=(
            "The endpoint is --endpoint-url or AWS_ENDPOINT_URL; the credentials are "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Exit status: 0 done and verified, "
            "1 the operation failed (or differences found), 2 the command was called "
            "wrongly, 130 interrupted."
        ),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_common(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, suppress=True)

    def command(name: str, help: str, run: Callable[..., int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(run=run)
        return sub

    ls = command(
        "ls",
        "list the buckets, or one level under s3://bucket[/prefix] (PRE for a common "
        "prefix), or everything under it with --recursive",
        run_ls,
    )
    ls.add_argument("location", metavar="s3://BUCKET[/PREFIX]", nargs="?")
    ls.add_argument("-r", "--recursive", action="store_true", help="every object under it")
    _add_sizes(ls)
    ls.add_argument("--summarize", action="store_true", help="end with the totals")

    du = command("du", "count the objects and bytes under s3://bucket[/prefix]", run_du)
    du.add_argument("location", metavar="s3://BUCKET[/PREFIX]")
    _add_sizes(du)

    info = command("info", "show what the store keeps about an object", run_info)
    info.add_argument("location", metavar="s3://BUCKET/KEY")

    put = command("put", "upload a file, verified", run_put)
    put.add_argument("local", metavar="LOCAL", help='a file, or "-" for standard input')
    put.add_argument("location", metavar="s3://BUCKET/KEY")
    put.add_argument(
        "--resume",
        action="store_true",
        help="continue an unfinished upload of the same file, and keep this one's parts "
        "in the store if it fails",
    )
    _add_object_headers(put)

    get = command(
        "get",
        "download an object to a file, verified and atomically (LOCAL '-': to stdout)",
        run_get,
    )
    get.add_argument("location", metavar="s3://BUCKET/KEY")
    get.add_argument("local", metavar="LOCAL")

    cat = command("cat", "write an object to stdout, verified", run_cat)
    cat.add_argument("location", metavar="s3://BUCKET/KEY")

    cp = command("cp", "copy an object (server-side between s3:// locations), verified", run_cp)
    cp.add_argument("source", metavar="SRC")
    cp.add_argument("destination", metavar="DST")

    mv = command("mv", "move an object: copy, verify, then delete the source", run_mv)
    mv.add_argument("source", metavar="s3://BUCKET/KEY")
    mv.add_argument("destination", metavar="s3://BUCKET/KEY")

    rm = command("rm", "delete an object, or every object under a prefix", run_rm)
    rm.add_argument("location", metavar="s3://BUCKET/KEY")
    rm.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="delete every object under s3://bucket/prefix/ (the prefix names a directory)",
    )
    rm.add_argument("--dry-run", action="store_true", help="list what would go, delete nothing")

    presign = command(
        "presign", "print a URL that downloads the object without credentials", run_presign
    )
    presign.add_argument("location", metavar="s3://BUCKET/KEY")
    presign.add_argument(
        "--expires-in",
        type=_positive,
        default=3600,
        metavar="SECONDS",
        help="how long the URL works (default: 3600; at most 604800, a week)",
    )

    sync = command(
        "sync",
        "make DST hold what SRC holds (a directory or s3://bucket/prefix each), "
        "transferring only what differs on evidence",
        run_sync,
    )
    sync.add_argument("source", metavar="SRC")
    sync.add_argument("destination", metavar="DST")
    sync.add_argument(
        "--delete",
        action="store_true",
        help="remove entries of DST absent from SRC, once every transfer succeeded",
    )
    sync.add_argument("--dry-run", action="store_true", help="decide and report, write nothing")
    sync.add_argument(
        "--max-delete",
        type=int,
        metavar="N",
        help="with --delete: when more than N entries would be deleted, delete none",
    )
    _add_filters(sync)
    _add_workers(sync)
    _add_hash_cache(sync)
    _add_report(sync)

    uploads = command(
        "uploads", "list the unfinished multipart uploads under s3://bucket[/prefix]", run_uploads
    )
    uploads.add_argument("location", metavar="s3://BUCKET[/PREFIX]")

    abort = command(
        "abort-uploads",
        "abort the unfinished multipart uploads under s3://bucket[/prefix] begun long enough "
        "ago, freeing their parts",
        run_abort_uploads,
    )
    abort.add_argument("location", metavar="s3://BUCKET[/PREFIX]")
    abort.add_argument(
        "--older-than",
        type=_non_negative,
        default=24.0,
        metavar="HOURS",
        help="only uploads begun at least this many hours ago (default: 24; younger ones "
        "may still be under way)",
    )
    abort.add_argument("--dry-run", action="store_true", help="list what would go, abort nothing")

    check = command("check", "compare DST with SRC entry by entry, writing nothing", run_check)
    check.add_argument("source", metavar="SRC")
    check.add_argument("destination", metavar="DST")
    _add_filters(check)
    _add_workers(check)
    _add_hash_cache(check)
    _add_report(check)
    return parser


def _add_common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options every command takes, before or after its name (on the
    subcommands their defaults are suppressed, not to override the main
    parser's values)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--endpoint-url",
        default=default(None),
        help="the S3 endpoint, e.g. http://127.0.0.1:8080 (default: AWS_ENDPOINT_URL)",
    )
    group.add_argument(
        "--profile",
        default=default(None),
        help="the AWS profile to take the credentials, region and endpoint from "
        "(default: AWS_PROFILE, else the keys and endpoint variables, else the default profile)",
    )
    group.add_argument(
        "--region",
        default=default(None),
        help="the region to sign requests for (default: the AWS configuration's, else us-east-1)",
    )
    group.add_argument(
        "--ca-bundle",
        default=default(None),
        help="CA certificate bundle for https (default: AWS_CA_BUNDLE, else the system's)",
    )
    group.add_argument(
        "--no-verify-ssl",
        action="store_true",
        default=default(False),
        help="do not verify the endpoint's TLS certificate",
    )
    group.add_argument(
        "--retry-tries",
        type=int,
        default=default(5),
        help="attempts per request in all, -1 for ever (default: 5)",
    )
    group.add_argument(
        "--retry-delay",
        type=_non_negative,
        default=default(1.0),
        help="seconds to wait after the first failure (default: 1)",
    )
    group.add_argument(
        "--retry-backoff",
        type=_non_negative,
        default=default(2.0),
        help="multiplier of the wait after each failure (default: 2)",
    )
    group.add_argument(
        "--retry-max-delay",
        type=_non_negative,
        default=default(30.0),
        help="the longest wait in seconds (default: 30)",
    )
    group.add_argument(
        "--retry-jitter",
        type=_non_negative,
        default=default(0.0),
        help="seconds added to the wait after each failure (default: 0)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON document (for sync and check: the report)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="print nothing but errors",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="say what is going on: -v each retry and the store's error codes, "
        "-vv every request too (never a credential)",
    )
    group.add_argument(
        "--progress",
        action="store_true",
        default=default(False),
        help="show a progress bar on stderr even when it is no terminal",
    )


def _add_filters(parser: argparse.ArgumentParser) -> None:
    """--include and --exclude, repeatable: as the library's include= and
    exclude= (a key matching an --exclude is left out unless it matches an
    --include)."""
    for name, role in (("exclude", "leave out"), ("include", "take back, after --exclude,")):
        parser.add_argument(
            f"--{name}",
            action="append",
            metavar="PATTERN",
            help=f"{role} keys matching PATTERN (fnmatch, relative to SRC and DST; "
            '"*" matches "/" too); repeatable',
        )


def _add_hash_cache(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hash-cache",
        metavar="PATH",
        help="keep local files' digests in this file (outside both trees) between runs: "
        "unchanged files are not read again",
    )


def _add_workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=_positive,
        default=DEFAULT_WORKERS,
        help=f"entries worked on at once (default: {DEFAULT_WORKERS})",
    )


def _add_sizes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-H",
        "--human-readable",
        action="store_true",
        help="sizes in KiB, MiB, GiB... rather than bytes",
    )


def _add_object_headers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--content-type", help="the object's Content-Type")
    parser.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="user metadata (x-amz-meta-KEY), once per pair",
    )
    parser.add_argument("--storage-class", help="e.g. STANDARD, STANDARD_IA")


def _add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="write every entry to FILE as it is done, one JSON object a line, then the "
        "totals (past 10,000 entries, the printed report names only those not ok)",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value}")
    return value


def metadata_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """--metadata KEY=VALUE options as a dict."""
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--metadata {pair!r} is not KEY=VALUE")
        metadata[key] = value
    return metadata


# -- the connection ---------------------------------------------------------------


def parse_endpoint(url: str) -> tuple[str, int, bool]:
    """host, port and use_ssl of an endpoint URL such as https://s3.example:8443."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UsageError(f"the endpoint URL {url!r} is not valid: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"the endpoint URL {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise UsageError(f"the endpoint URL {url!r} names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise UsageError(f"the endpoint URL {url!r} must be scheme://host[:port] only")
    use_ssl = parts.scheme == "https"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host, port or (443 if use_ssl else 80), use_ssl


def make_clerk(args: argparse.Namespace, env: Mapping[str, str]) -> ObjectClerk:
    """A clerk for the endpoint and credentials the command line and the
    environment name; without an endpoint and both keys there, or with
    --profile or --region, the one the AWS configuration of this process
    (its environment, ~/.aws/config and ~/.aws/credentials) gives."""
    retries = {
        "retry_delay": args.retry_delay,
        "retry_backoff": args.retry_backoff,
        "retry_jitter": args.retry_jitter,
        "retry_max_delay": args.retry_max_delay,
        "retry_tries": args.retry_tries,
    }
    if uses_aws_config(args, env):
        return ObjectClerk.from_aws_config(
            args.profile,
            endpoint_url=args.endpoint_url or env.get("AWS_ENDPOINT_URL") or None,
            region=args.region,
            verify=tls_verify(args, env),
            **retries,
        )
    url, access_key, secret_key, verify = connection_options(args, env)
    host, port, use_ssl = parse_endpoint(url)
    return ObjectClerk(
        host=host,
        port=port,
        access_key=access_key,
        secret_key=secret_key,
        use_ssl=use_ssl,
        verify=verify,
        **retries,
    )


def uses_aws_config(args: argparse.Namespace, env: Mapping[str, str]) -> bool:
    """Whether the connection comes from the AWS configuration: asked for
    (--profile, --region), or an endpoint or a key is not in the environment."""
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    url = args.endpoint_url or env.get("AWS_ENDPOINT_URL")
    return bool(args.profile or args.region or not url or not all(env.get(k) for k in keys))


def tls_verify(args: argparse.Namespace, env: Mapping[str, str]) -> bool | str | None:
    """False (--no-verify-ssl), a CA bundle, or None for the system's."""
    if args.no_verify_ssl:
        return False
    return args.ca_bundle or env.get("AWS_CA_BUNDLE") or None


def connection_options(
    args: argparse.Namespace, env: Mapping[str, str]
) -> tuple[str, str, str, bool | str | None]:
    """The endpoint URL, access key, secret key and TLS verification the
    command line and the environment give (when not the AWS configuration)."""
    url = args.endpoint_url or env.get("AWS_ENDPOINT_URL")
    if not url:
        raise UsageError("no endpoint: give --endpoint-url or set AWS_ENDPOINT_URL")
    missing = [name for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not env.get(name)]
    if missing:
        raise UsageError(f"no credentials: set {' and '.join(missing)}")
    return url, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], tls_verify(args, env)


def plain_client(args: argparse.Namespace, env: Mapping[str, str]) -> Any:
    """A boto3 client on the same connection, for what the library does not
    offer: presigned URLs, the list of buckets, the checksums of a HEAD.
    botocore retries it (the same number of attempts); its failures are
    turned into the library's exceptions by store_errors."""
    import boto3
    from botocore.config import Config

    attempts = 20 if args.retry_tries == -1 else args.retry_tries  # botocore has no "for ever"
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": attempts, "mode": "standard"},
    )
    if uses_aws_config(args, env):
        session = boto3.session.Session(profile_name=args.profile)
        return session.client(
            "s3",
            endpoint_url=args.endpoint_url or env.get("AWS_ENDPOINT_URL") or None,
            region_name=args.region or session.region_name or "us-east-1",
            verify=tls_verify(args, env),
            config=config,
        )
    url, access_key, secret_key, verify = connection_options(args, env)
    parse_endpoint(url)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=url.rstrip("/"),
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",  # the library's: the same signatures
        verify=verify,
        config=config,
    )


@contextlib.contextmanager
def store_errors(what: str) -> Iterator[None]:
    """botocore's failures of a plain client as the library's exceptions,
    by their meaning, so that they are explained like any other."""
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

    try:
        yield
    except ParamValidationError as error:
        raise UsageError(f"{what}: {str(error).splitlines()[-1]}") from None
    except ClientError as error:
        code = store_error_code(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        kind: type[ObjectClerkException] = ObjectClerkException
        if code in ("NoSuchBucket", "NoSuchKey", "404") or status == 404:
            kind = ObjectNotFoundException
        elif code in AUTH_REASONS or code == "AccessDenied" or status in (401, 403):
            kind = ObjectClerkServerAuthException
        elif status is not None and status >= 500:
            kind = ObjectClerkServerInternalException
        raise kind(f"{what}: {error}") from error
    except BotoCoreError as error:
        raise ObjectClerkConnectionException(f"{what}: {error}") from error


# -- locations --------------------------------------------------------------------


def split_object(text: str, *, key_required: bool = True) -> tuple[str, str]:
    """bucket and key of "s3://bucket/key"; a malformed one is a usage error."""
    if not is_store(text):
        raise UsageError(f"{text!r} is not an s3://bucket/key location")
    bucket, _, key = text[len(SCHEME) :].partition("/")
    if not bucket:
        raise UsageError(f"{text!r} names no bucket")
    check_bucket_name(bucket)
    if key_required and (not key or key.endswith("/")):
        raise UsageError(f"{text!r} names no object key")
    return bucket, key


def check_bucket_name(bucket: str) -> None:
    if not BUCKET_NAME.fullmatch(bucket):
        raise UsageError(
            f"invalid bucket name {bucket!r}: letters, digits, '.', '-' and '_' only, 255 at most"
        )


def check_locations(*texts: str) -> None:
    """The bucket names of the s3:// locations among texts, checked before
    anything is asked of the store."""
    for text in texts:
        if is_store(text):
            split_object(text, key_required=False)


def is_store(text: str) -> bool:
    return text[: len(SCHEME)].lower() == SCHEME


def directory_prefix(prefix: str) -> str:
    """A prefix as a directory, as sync takes it: "data" holds data/x, not data2."""
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


# -- output --------------------------------------------------------------------


class Output:
    """Where results go: lines for people on stdout (problems and notes on
    stderr), or one JSON document on stdout; --quiet keeps only errors.
    subject is what the command works on, for messages."""

    def __init__(
        self,
        json_output: bool,
        quiet: bool,
        verbose: int = 0,
        progress: bool = False,
        stdout: IO[str] | None = None,
    ) -> None:
        self.json, self.quiet, self.verbose = json_output, quiet, verbose
        self.force_progress = progress
        self._out = stdout
        self.subject = ""  # the location or path the command works on
        self.local = ""  # the local file it writes or reads
        self.bar: Any = None
        # What an interrupted command says it did, and what it was doing.
        self.done = 0
        self.doing = ""
        self.retries: RetryCounter | None = None
        self._summed_up = False

    @property
    def stdout(self) -> IO[str]:
        return self._out or sys.stdout

    def line(self, text: str) -> None:
        if not (self.json or self.quiet):
            self._print(printable(text), self.stdout)

    def problem(self, text: str) -> None:
        """A failed entry: on stderr, even with --quiet, but not in --json
        mode, where the document says it."""
        if not self.json:
            self._print(printable(text), sys.stderr)

    def note(self, text: str) -> None:
        """A remark on stderr, for people only."""
        if not (self.json or self.quiet):
            self._print(f"{PROG}: {printable(text)}", sys.stderr)

    def _print(self, text: str, stream: IO[str]) -> None:
        if self.bar is not None:
            self.bar.write(text, file=stream)
        else:
            print(text, file=stream, flush=True)

    def document(self, value: Any) -> None:
        if self.json:
            json.dump(value, self.stdout, indent=2, ensure_ascii=False, default=str)
            self.stdout.write("\n")

    def summary(self) -> None:
        """The retries of the run in one line (once; each one is shown with -v)."""
        count = 0 if self.retries is None else self.retries.count
        if count and not self._summed_up:
            self._summed_up = True
            hint = "" if self.verbose else " (-v shows each)"
            self.note(f"retried {count} failed requests{hint}")

    def error(self, message: str, status: int, kind: str, code: str) -> int:
        """One line on stderr, the last (the store's error code with -v); in
        --json mode the document too, code included."""
        text = message.strip() or kind
        if self.verbose and code:
            text += f" [{kind}, store code {code}]"
        self.bar = None
        self.summary()
        # One line: a newline the message holds (in a key) is escaped too.
        print(f"{PROG}: error: {printable(text)}", file=sys.stderr, flush=True)
        error: dict[str, Any] = {"type": kind, "message": message}
        if code:
            error["code"] = code
        self.document({"ok": False, "error": error})
        return status

    def interrupted(self) -> None:
        """After Ctrl-C: what was done; the library leaves nothing half-written."""
        self.bar = None
        done = f"{self.done} entries done, " if self.doing else ""
        print(
            f"{PROG}: interrupted: {done}nothing half-written; run the same command "
            "again to finish",
            file=sys.stderr,
            flush=True,
        )

    def wants_progress(self) -> bool:
        return not (self.json or self.quiet) and (self.force_progress or sys.stderr.isatty())

    @contextlib.contextmanager
    def progress(self, total: int | None, unit: str = "B") -> Iterator[Any]:
        """A tqdm bar on a terminal or with --progress (where tqdm is
        installed), else None. Lines printed meanwhile go above it."""
        bar = None
        if self.wants_progress():
            try:
                from tqdm import tqdm
            except ImportError:
                pass  # no bar: the same work, the same output
            else:
                bytes_unit = unit == "B"  # else a count of files
                bar = tqdm(
                    total=total,
                    unit=unit,
                    unit_scale=bytes_unit,
                    unit_divisor=1024 if bytes_unit else 1000,
                    file=sys.stderr,
                    dynamic_ncols=True,
                )
        self.bar = bar
        try:
            yield bar
        finally:
            self.bar = None
            if bar is not None:
                bar.close()


# What a terminal would obey rather than show: control characters (C0, DEL
# and C1), and lone surrogates (the bytes of a local file name that are not
# UTF-8), which cannot be printed; and the backslash that starts an escape.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\\\ud800-\udfff]")


def printable(text: str) -> str:
    r"""text as a terminal shows it, not as one obeys it: a key holding ESC,
    CR or a newline must not rewrite the screen nor forge a line of output.
    Control characters become \xNN, lone surrogates \uNNNN and a backslash
    \\, as in a Python string literal, so that the text can be read back
    exactly; the JSON output holds the text as it is."""
    return _UNPRINTABLE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def size_text(size: int, human: bool) -> str:
    return human_size(size) if human else str(size)


def _callback(bar: Any) -> Callable[[int], object] | None:
    return bar.update if bar is not None else None


# -- commands: listing and reading -------------------------------------------------


def run_ls(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    if args.location is None:
        return _list_buckets(args, out)
    bucket, prefix = split_object(args.location, key_required=False)
    out.subject = args.location
    human = args.human_readable
    objects: list[dict[str, Any]] = []
    prefixes: list[str] = []
    if args.recursive:
        entries: Iterable[tuple[str, dict[str, Any]]] = (
            ("object", entry) for entry in clerk.list_objects(bucket, prefix=prefix or None)
        )
    else:
        entries = _one_level(clerk, bucket, prefix)
    # One level shows names below the prefix's directory, as aws-cli does.
    shown_from = 0 if args.recursive else len(prefix) - len(prefix.rpartition("/")[2])
    count = total = 0
    for kind, entry in entries:
        if kind == "prefix":
            prefixes.append(entry["Prefix"])
            out.line(f"{'PRE':>31} {entry['Prefix'][shown_from:]}")
            continue
        record = _object_record(entry)
        count, total = count + 1, total + record["size"]
        if out.json:
            objects.append(record)
        when = record["last_modified"][:19]
        out.line(f"{when:<19} {size_text(record['size'], human):>11} {record['key'][shown_from:]}")
    if args.summarize:
        out.line("")
        out.line(f"Total Objects: {count}")
        out.line(f"   Total Size: {size_text(total, human)}")
    document: dict[str, Any] = {"ok": True, "bucket": bucket, "prefix": prefix, "objects": objects}
    if not args.recursive:
        document["prefixes"] = prefixes
    out.document({**document, "totals": {"objects": count, "bytes": total}})
    return OK


def _object_record(entry: Mapping[str, Any]) -> dict[str, Any]:
    modified = entry.get("LastModified")
    return {
        "key": entry["Key"],
        "size": entry["Size"],
        "etag": str(entry.get("ETag", "")).strip('"'),
        "last_modified": modified.isoformat(sep=" ") if modified else "",
    }


def _one_level(
    clerk: ObjectClerk, bucket: str, prefix: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """One level under prefix, as the store groups it by "/": each common
    prefix ("prefix", {"Prefix"}) and object ("object", {...}), in key order."""
    for entry in clerk.list_level(bucket, prefix or None):
        yield ("prefix", entry) if "Prefix" in entry else ("object", entry)


def _list_buckets(args: argparse.Namespace, out: Output) -> int:
    client = plain_client(args, args.environ)
    with store_errors("list the buckets"):
        buckets = client.list_buckets().get("Buckets", [])
    for bucket in buckets:
        created = bucket.get("CreationDate")
        out.line(f"{str(created)[:19]:<19} {bucket['Name']}")
    out.document(
        {
            "ok": True,
            "buckets": [
                {"name": b["Name"], "created": str(b.get("CreationDate", ""))} for b in buckets
            ],
        }
    )
    return OK


def run_du(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    bucket, prefix = split_object(args.location, key_required=False)
    prefix = directory_prefix(prefix)  # as sync and rm --recursive take it
    out.subject = args.location
    count = total = 0
    for entry in clerk.list_objects(bucket, prefix=prefix or None):
        count, total = count + 1, total + int(entry["Size"])
    out.line(f"{size_text(total, args.human_readable)}  {count} objects  {args.location}")
    out.document({"ok": True, "bucket": bucket, "prefix": prefix, "objects": count, "bytes": total})
    return OK


# Headers that say what the object is, by the name of its record's field;
# the rest (server, date, request ids) say how this answer came.
INFO_FIELDS = {
    "content-length": "size",
    "etag": "etag",
    "content-type": "content_type",
    "last-modified": "last_modified",
    "x-amz-storage-class": "storage_class",
    "content-encoding": "content_encoding",
    "content-language": "content_language",
    "content-disposition": "content_disposition",
    "cache-control": "cache_control",
    "expires": "expires",
    "x-amz-version-id": "version_id",
    "x-amz-mp-parts-count": "parts",
    "x-amz-server-side-encryption": "encryption",
}
META_PREFIX = "x-amz-meta-"
CHECKSUM_PREFIX = "x-amz-checksum-"


def object_record(headers: Mapping[str, str]) -> dict[str, Any]:
    """An object's HEAD answer as what the object is: size, etag,
    content type, last modified, storage class, metadata, checksums."""
    record: dict[str, Any] = {
        "size": int(headers.get("content-length", 0)),
        "etag": headers.get("etag", "").strip('"'),
        "content_type": headers.get("content-type", ""),
        "last_modified": headers.get("last-modified", ""),
        "storage_class": "STANDARD",  # S3 names it only when it is another
    }
    for name, field in INFO_FIELDS.items():
        if name in headers and field not in ("size", "etag"):
            record[field] = headers[name]
    record["metadata"] = {
        name[len(META_PREFIX) :]: value
        for name, value in sorted(headers.items())
        if name.startswith(META_PREFIX)
    }
    record["checksums"] = {
        name[len(CHECKSUM_PREFIX) :]: value
        for name, value in sorted(headers.items())
        if name.startswith(CHECKSUM_PREFIX) and name != "x-amz-checksum-type"
    }
    return record


def run_info(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    bucket, key = split_object(args.location)
    out.subject = args.location
    record = object_record(clerk.get_object_info(bucket, key))
    record["checksums"] = record["checksums"] or _checksums(args, bucket, key, record["etag"])
    out.line(f"{'location':<15} {args.location}")
    for name, value in record.items():
        if isinstance(value, dict):
            for inner, text in value.items():
                out.line(f"{name + '.' + inner:<15} {text}")
        else:
            out.line(f"{name:<15} {value}")
    out.document({"ok": True, "bucket": bucket, "key": key, **record})
    return OK


def _checksums(args: argparse.Namespace, bucket: str, key: str, etag: str) -> dict[str, str]:
    """The full-object checksums the store keeps, which it tells only a HEAD
    that asks (ChecksumMode), and the library's get_object_info does not;
    none if the object was replaced since (another ETag)."""
    client = plain_client(args, args.environ)
    try:
        with store_errors(f"head {SCHEME}{bucket}/{key}"):
            answer = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ObjectClerkException:
        return {}  # the record stands without them
    headers = answer["ResponseMetadata"]["HTTPHeaders"]
    if headers.get("etag", "").strip('"') != etag:
        return {}
    checksums: dict[str, str] = object_record(headers)["checksums"]
    return checksums


def run_get(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    if args.local == "-":
        return _to_stdout(clerk, args.location, out)
    _download(clerk, args.location, args.local, out)
    return OK


def run_cat(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    return _to_stdout(clerk, args.location, out)


def _to_stdout(clerk: ObjectClerk, location: str, out: Output) -> int:
    """The object on stdout, verified before its first byte is written (what
    reached stdout cannot be taken back): read whole when small, else
    downloaded to a private temporary file, then copied out of it."""
    if out.json:
        raise UsageError("--json cannot be used when the object goes to stdout")
    bucket, key = split_object(location)
    out.subject = location
    size = int(clerk.get_object_info(bucket, key)["content-length"])
    sink = sys.stdout.buffer
    with out.progress(size) as bar:
        if size <= STREAM_IN_MEMORY:
            sink.write(clerk.get_object(bucket, key, callback=_callback(bar)))
        else:
            with tempfile.TemporaryDirectory(prefix="object-clerk-") as private:  # mode 0700
                path = Path(private, "object")
                clerk.download_object(bucket, key, path, callback=_callback(bar))
                with path.open("rb") as held:
                    shutil.copyfileobj(held, sink, 1024 * 1024)
    sink.flush()
    return OK


# -- commands: writing objects ------------------------------------------------------


def run_put(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    headers: dict[str, Any] = {"metadata": metadata_pairs(args.metadata) or None}
    if args.content_type:
        headers["content_type"] = args.content_type
    if args.storage_class:
        headers["storage_class"] = args.storage_class
    if args.local == "-":
        return _put_stdin(clerk, args.location, out, args.resume, headers)
    _upload(clerk, Path(args.local), args.location, out, resume=args.resume, headers=headers)
    return OK


def _put_stdin(
    clerk: ObjectClerk, location: str, out: Output, resume: bool, headers: Mapping[str, Any]
) -> int:
    """Standard input uploaded as it arrives (in parts past the threshold),
    verified against the ETag of the bytes read."""
    bucket, key = split_object(location)
    out.subject = f"{SCHEME}{bucket}/{key}"
    with out.progress(None) as bar:
        clerk.upload_object(
            sys.stdin.buffer,
            bucket,
            key,
            callback=_callback(bar),
            resume=resume,
            allow_empty=True,
            **headers,
        )
    stored = int(clerk.get_object_info(bucket, key)["content-length"])
    _done(out, "uploaded", "standard input", f"{SCHEME}{bucket}/{key}", stored)
    return OK


def run_cp(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    source, destination = args.source, args.destination
    if not is_store(source) and not is_store(destination):
        raise UsageError("cp needs an s3:// location on one side at least")
    check_locations(source, destination)
    if not is_store(source):
        _upload(clerk, Path(source), destination, out)
    elif not is_store(destination):
        _download(clerk, source, destination, out)
    else:
        src_bucket, src_key = split_object(source)
        dst_bucket, dst_key = _object_destination(destination, src_key.rsplit("/", 1)[-1])
        out.subject = source
        size = _size_for_progress(clerk, out, src_bucket, src_key)
        with out.progress(size) as bar:
            clerk.copy_object(src_bucket, src_key, dst_bucket, dst_key, callback=_callback(bar))
        _done(out, "copied", source, f"{SCHEME}{dst_bucket}/{dst_key}")
    return OK


def run_mv(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    src_bucket, src_key = split_object(args.source)
    dst_bucket, dst_key = _object_destination(args.destination, src_key.rsplit("/", 1)[-1])
    out.subject = args.source
    clerk.move_object(src_bucket, src_key, dst_bucket, dst_key)
    _done(out, "moved", args.source, f"{SCHEME}{dst_bucket}/{dst_key}")
    return OK


def run_rm(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    if not args.recursive:
        if args.dry_run:
            raise UsageError("--dry-run goes with --recursive")
        bucket, key = split_object(args.location)
        out.subject = args.location
        clerk.delete_object(bucket, key)
        _done(out, "deleted", args.location, None)
        return OK
    bucket, prefix = split_object(args.location, key_required=False)
    prefix = directory_prefix(prefix)
    out.subject, out.doing = f"{SCHEME}{bucket}/{prefix}", "rm"
    verb = "would delete" if args.dry_run else "deleted"
    keys, total = [], 0
    # What is deleted is exactly what was listed: an object written under
    # the prefix meanwhile is not touched.
    for entry in clerk.list_objects(bucket, prefix=prefix or None):
        key = entry["Key"]
        out.subject = f"{SCHEME}{bucket}/{key}"
        if not args.dry_run:
            clerk.delete_object(bucket, key)
            out.done += 1
        keys.append(key)
        total += int(entry["Size"])
        out.line(f"{verb} {SCHEME}{bucket}/{key}")
    out.line(f"{verb} {len(keys)} objects ({human_size(total)})")
    out.document(
        {
            "ok": True,
            "operation": "delete",
            "dry_run": args.dry_run,
            "bucket": bucket,
            "prefix": prefix,
            "keys": keys,
            "objects": len(keys),
            "bytes": total,
        }
    )
    return OK


def run_presign(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    """A presigned GET URL, signed here: it is no request to the store."""
    bucket, key = split_object(args.location)
    if args.expires_in > 604800:
        raise UsageError(f"--expires-in {args.expires_in}: a week (604800 seconds) at most")
    client = plain_client(args, args.environ)
    with store_errors(f"presign {args.location}"):
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=args.expires_in
        )
    if not out.quiet and not out.json:
        print(url, file=out.stdout, flush=True)  # as it is: escaping would break the URL
    out.document({"ok": True, "url": url, "expires_in": args.expires_in})
    return OK


def _upload(
    clerk: ObjectClerk,
    path: Path,
    location: str,
    out: Output,
    resume: bool = False,
    headers: Mapping[str, Any] | None = None,
) -> None:
    bucket, key = _object_destination(location, path.name)
    out.subject = out.local = str(path)
    if not path.is_file():
        why = "is a directory (sync uploads a directory)" if path.is_dir() else "is no file"
        if not path.exists():
            why = "no such file"
        raise UsageError(f"{path}: {why}")
    size = path.stat().st_size
    with out.progress(size) as bar:
        clerk.upload_object(
            path,
            bucket,
            key,
            callback=_callback(bar),
            resume=resume,
            allow_empty=True,
            **(headers or {}),
        )
    # What the store holds: the file may have changed since it was measured.
    out.subject = f"{SCHEME}{bucket}/{key}"
    stored = int(clerk.get_object_info(bucket, key)["content-length"])
    _done(out, "uploaded", str(path), f"{SCHEME}{bucket}/{key}", stored)


def _download(clerk: ObjectClerk, location: str, local: str, out: Output) -> None:
    """Download to the file local names, or into the directory it names
    (one that exists, or any ending in "/") under the key's last name."""
    bucket, key = split_object(location)
    path = Path(local)
    if path.is_dir() or local.endswith(("/", os.sep)):
        path = path / _file_name(key)
    out.subject, out.local = location, str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = _size_for_progress(clerk, out, bucket, key)
    with out.progress(size) as bar:
        clerk.download_object(bucket, key, path, callback=_callback(bar))
    _done(out, "downloaded", location, str(path), path.stat().st_size)


def _size_for_progress(clerk: ObjectClerk, out: Output, bucket: str, key: str) -> int | None:
    """The object's size as the bar's total: one HEAD, only when a bar shows."""
    if not out.wants_progress():
        return None
    return int(clerk.get_object_info(bucket, key)["content-length"])


def _file_name(key: str) -> str:
    """The last part of key as the name of a file in a directory; refused
    where it is none (".", ".." or too long), which would otherwise write
    the directory's own path or its parent's."""
    name = key.rsplit("/", 1)[-1]
    unfit = unfit_local_name(name)
    if names_no_file(name) or unfit:
        why = f": {unfit}" if unfit else ""
        raise UsageError(
            f"the key {key!r} ends in no file name{why}; give the file to write, not a directory"
        )
    return name


def _object_destination(location: str, name: str) -> tuple[str, str]:
    """bucket and key of a destination; one ending in "/" (or a bare bucket)
    takes the source's name, as cp does into a directory."""
    bucket, key = split_object(location, key_required=False)
    if not key or key.endswith("/"):
        key += name
    return bucket, key


def _done(out: Output, what: str, source: str, target: str | None, size: int | None = None) -> None:
    size_text = "" if size is None else f" ({human_size(size)})"
    target_text = "" if target is None else f" to {target}"
    verified = "" if what == "deleted" else ", verified"
    out.line(f"{what} {source}{target_text}{size_text}{verified}")
    document: dict[str, Any] = {"ok": True, "operation": what, "source": source}
    if target is not None:
        document["destination"] = target
    if size is not None:
        document["bytes"] = size
    out.document(document)


# -- commands: unfinished uploads ----------------------------------------------------


def run_uploads(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    bucket, prefix = split_object(args.location, key_required=False)
    out.subject = args.location
    found = clerk.list_incomplete_uploads(bucket, prefix or None)
    for upload in found:
        out.line(f"{upload.initiated}  {upload.parts:>5} parts  {upload.bytes:>12}  {upload.key}")
    out.document({"ok": True, "bucket": bucket, "uploads": [_upload_record(u) for u in found]})
    return OK


def run_abort_uploads(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    bucket, prefix = split_object(args.location, key_required=False)
    out.subject = args.location
    older_than = timedelta(hours=args.older_than)
    if args.dry_run:
        # The library's rule: begun at least older_than ago.
        cutoff = datetime.now(UTC) - older_than
        found = clerk.list_incomplete_uploads(bucket, prefix or None)
        chosen = [upload for upload in found if upload.initiated <= cutoff]
    else:
        chosen = clerk.abort_incomplete_uploads(bucket, prefix or None, older_than=older_than)
    verb = "would abort" if args.dry_run else "aborted"
    for upload in chosen:
        out.line(f"{verb} {upload.key} ({upload.parts} parts, {human_size(upload.bytes)})")
    out.line(f"{verb} {len(chosen)} unfinished uploads")
    records = [_upload_record(u) for u in chosen]
    out.document({"ok": True, "bucket": bucket, "dry_run": args.dry_run, "aborted": records})
    return OK


def _upload_record(upload: IncompleteUpload) -> dict[str, Any]:
    return {
        "key": upload.key,
        "upload_id": upload.upload_id,
        "initiated": str(upload.initiated),
        "parts": upload.parts,
        "bytes": upload.bytes,
    }


# -- commands: sync and check --------------------------------------------------------


def run_sync(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    check_locations(args.source, args.destination)
    out.subject, out.doing = args.destination, "sync"
    local = None if is_store(args.destination) else Path(args.destination)
    if local is not None and is_store(args.source) and not args.dry_run:
        out.subject = str(local)
        local.mkdir(parents=True, exist_ok=True)  # one that cannot be made fails here, once
        out.subject = args.destination
    with out.progress(None) as bar:
        report = clerk.sync(
            args.source,
            args.destination,
            delete=args.delete,
            dry_run=args.dry_run,
            workers=args.workers,
            callback=_callback(bar),
            on_entry=_sync_entry_printer(out, args.dry_run, local),
            include=args.include,
            exclude=args.exclude,
            max_delete=args.max_delete,
            hash_cache=args.hash_cache,
            report_path=args.report,
        )
    _print_sync(report, out)
    return OK if report.ok else FAILED


def run_check(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    check_locations(args.source, args.destination)
    out.subject, out.doing = args.destination, "check"
    with out.progress(None, unit=" files") as bar:
        report = clerk.check(
            args.source,
            args.destination,
            workers=args.workers,
            on_entry=_check_entry_printer(out, bar),
            include=args.include,
            exclude=args.exclude,
            hash_cache=args.hash_cache,
            report_path=args.report,
        )
    _print_check(report, out)
    return OK if report.ok else FAILED


WOULD = {
    Action.UPLOADED: "would upload",
    Action.DOWNLOADED: "would download",
    Action.COPIED: "would copy",
    Action.DELETED: "would delete",
}
TO_DO = {
    Action.UPLOADED: "to upload",
    Action.DOWNLOADED: "to download",
    Action.COPIED: "to copy",
    Action.DELETED: "to delete",
}


def _sync_entry_printer(
    out: Output, dry_run: bool, local: Path | None
) -> Callable[[ReportEntry], None]:
    """Prints each entry as it is done (failures on stderr), and counts the
    files on the progress bar beside its bytes."""

    def printed(entry: ReportEntry) -> None:
        out.done += 1
        if out.bar is not None:
            out.bar.set_postfix_str(f"{out.done} files", refresh=False)
        if entry.action == Action.FAILED:
            out.problem(f"failed      {entry.key}: {entry_failure(entry, local)}")
        elif entry.action != Action.SKIPPED:
            action = WOULD[entry.action] if dry_run else entry.action
            why = f"{entry.evidence}: {entry.detail}" if entry.detail else entry.evidence
            size = f" ({human_size(entry.bytes)})" if entry.bytes else ""
            out.line(f"{action:<11} {entry.key}{size} [{why}]")

    return printed


def entry_failure(entry: ReportEntry, local: Path | None) -> str:
    """Why an entry failed, in words; for a local destination, a key that
    is a file in one place and a directory in another says so (a store may
    hold both "a" and "a/x"; a file system cannot)."""
    if local is not None and _file_and_directory(local, entry.key):
        return (
            "a file and a directory of the same name: the store holds both, this file system cannot"
        )
    if entry.error is None:
        return entry.detail or "failed"
    return explain(entry.error, entry.key)


def _file_and_directory(root: Path, key: str) -> bool:
    """Whether key's local path is a directory, or one of its parents (under
    root) a file: a key that cannot be a file because another is a directory."""
    path = root / key
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            return True
        for parent in path.relative_to(root).parents:
            found = root / parent
            if parent != Path(".") and found.exists() and not found.is_dir():
                return True
    return False


def _check_entry_printer(out: Output, bar: Any) -> Callable[[ReportEntry], None]:
    def printed(entry: ReportEntry) -> None:
        out.done += 1
        if bar is not None:
            bar.update(1)
        if entry.action != Action.SAME:
            why = f"{entry.evidence}: {entry.detail}" if entry.detail else entry.evidence
            out.line(f"{entry.action:<12} {entry.key} [{why}]")

    return printed


def _print_sync(report: SyncReport, out: Output) -> None:
    out.document(report.to_dict())
    totals = report.totals
    names = TO_DO if report.dry_run else {}
    counts = ", ".join(
        f"{totals[action]} {names.get(action, action)}" for action in SYNC_ACTIONS if totals[action]
    )
    prefix = "dry run, nothing written: " if report.dry_run else ""
    moved = "to transfer" if report.dry_run else "transferred"
    out.line(
        f"{prefix}{report.source} -> {report.destination}: {counts or 'nothing to do'}; "
        f"{human_size(totals['bytes'])} {moved}"
    )
    _print_left_out(report.entries_left_out, out)
    if report.deletions_withheld:
        out.problem(
            f"{report.deletions_withheld} entries not deleted at the destination: a transfer failed"
        )


def _print_check(report: CheckReport, out: Output) -> None:
    out.document(report.to_dict())
    totals = report.totals
    counts = ", ".join(f"{totals[action]} {action}" for action in CHECK_ACTIONS if totals[action])
    verdict = "the same" if report.ok else "DIFFERENT"
    out.line(f"{report.source} and {report.destination} are {verdict}: {counts or 'empty'}")
    _print_left_out(report.entries_left_out, out)


def _print_left_out(left_out: int, out: Output) -> None:
    if left_out:
        out.line(f"{left_out} entries that were ok are not listed (--report FILE lists them)")
