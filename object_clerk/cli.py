"""The command line: ``object-clerk`` (and ``python -m object_clerk``).

Argument parsing and output only; every operation is the library's. The
endpoint comes from --endpoint-url or AWS_ENDPOINT_URL, the credentials
from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (never from an argument,
so that the secret is in no process list or shell history), and the
clerk's own variables (MULTIPART_THRESHOLD, S3_*_CONFIG) apply as they do
in the library.

Exit status: 0 when everything was done and verified; 1 when a check found
differences, a sync had failures, or the store or the local disk failed
(connection, server errors, a verification that kept failing, a full disk);
2 for a usage or configuration error, or input that cannot be used (a
missing object or bucket, refused credentials, an empty file): a one-line
message, no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from object_clerk import __version__
from object_clerk.clerk import DEFAULT_WORKERS, ObjectClerk
from object_clerk.exceptions import (
    ObjectClerkConfigurationException,
    ObjectClerkException,
    ObjectClerkServerAuthException,
    ObjectNotFoundException,
    ObjectSaveException,
    public_name,
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
# Failures that mean the input or the configuration is wrong, not the store.
INPUT_ERRORS = (
    ObjectClerkConfigurationException,
    ObjectNotFoundException,
    ObjectClerkServerAuthException,
    ObjectSaveException,
)


# Local storage that failed rather than refused: the operation failed (1),
# the command line was right (not 2).
STORAGE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO})
MAX_CAUSES = 16


class UsageError(Exception):
    """A command line that cannot be run as given."""


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one command; the exit status."""
    env = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with a usage message on errors
    out = Output(json_output=args.json, quiet=args.quiet)
    try:
        clerk = make_clerk(args, env)
        return int(args.run(clerk, args, out))
    except UsageError as error:
        return out.error(str(error), USAGE, "UsageError")
    except INPUT_ERRORS as error:
        status = FAILED if _local_storage_failed(error) else USAGE
        return out.error(str(error), status, public_name(error))
    except ObjectClerkException as error:
        return out.error(str(error), FAILED, public_name(error))
    except KeyboardInterrupt:
        return 130


def _local_storage_failed(error: BaseException) -> bool:
    """Whether error comes from a disk that is full or failing (in its
    causes): a failed operation, not input that cannot be used."""
    seen: BaseException | None = error
    for _ in range(MAX_CAUSES):  # a chain may loop back on itself
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno in STORAGE_FAILURES:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# -- parsing -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Verified, retried S3 object operations, for objects and whole datasets.",
        epilog=(
            "The endpoint is --endpoint-url or AWS_ENDPOINT_URL; the credentials are "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Exit status: 0 done and verified, "
            "1 differences or failures, 2 usage or configuration error."
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

    ls = command("ls", "list the objects under s3://bucket[/prefix]", run_ls)
    ls.add_argument("location", metavar="s3://BUCKET[/PREFIX]")

    info = command("info", "show an object's headers", run_info)
    info.add_argument("location", metavar="s3://BUCKET/KEY")

    put = command("put", "upload a file, verified", run_put)
    put.add_argument("local", metavar="LOCAL")
    put.add_argument("location", metavar="s3://BUCKET/KEY")
    put.add_argument(
        "--resume",
        action="store_true",
        help="continue an unfinished upload of the same file, and keep this one's parts "
        "in the store if it fails",
    )

    get = command("get", "download an object to a file, verified and atomically", run_get)
    get.add_argument("location", metavar="s3://BUCKET/KEY")
    get.add_argument("local", metavar="LOCAL")

    cp = command("cp", "copy an object (server-side between s3:// locations), verified", run_cp)
    cp.add_argument("source", metavar="SRC")
    cp.add_argument("destination", metavar="DST")

    mv = command("mv", "move an object: copy, verify, then delete the source", run_mv)
    mv.add_argument("source", metavar="s3://BUCKET/KEY")
    mv.add_argument("destination", metavar="s3://BUCKET/KEY")

    rm = command("rm", "delete an object", run_rm)
    rm.add_argument("location", metavar="s3://BUCKET/KEY")

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
    _add_workers(sync)
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

    check = command("check", "compare DST with SRC entry by entry, writing nothing", run_check)
    check.add_argument("source", metavar="SRC")
    check.add_argument("destination", metavar="DST")
    _add_workers(check)
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


def _add_workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=_positive,
        default=DEFAULT_WORKERS,
        help=f"entries worked on at once (default: {DEFAULT_WORKERS})",
    )


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


# -- the clerk -----------------------------------------------------------------


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
    environment name."""
    url = args.endpoint_url or env.get("AWS_ENDPOINT_URL")
    if not url:
        raise UsageError("no endpoint: give --endpoint-url or set AWS_ENDPOINT_URL")
    host, port, use_ssl = parse_endpoint(url)
    missing = [name for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not env.get(name)]
    if missing:
        raise UsageError(f"no credentials: set {' and '.join(missing)}")
    verify: bool | str | None = args.ca_bundle or env.get("AWS_CA_BUNDLE") or None
    if args.no_verify_ssl:
        verify = False
    return ObjectClerk(
        host=host,
        port=port,
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        retry_delay=args.retry_delay,
        retry_backoff=args.retry_backoff,
        retry_jitter=args.retry_jitter,
        retry_max_delay=args.retry_max_delay,
        retry_tries=args.retry_tries,
        use_ssl=use_ssl,
        verify=verify,
    )


def split_object(text: str, *, key_required: bool = True) -> tuple[str, str]:
    """bucket and key of "s3://bucket/key"."""
    if text[: len(SCHEME)].lower() != SCHEME:
        raise UsageError(f"{text!r} is not an s3://bucket/key location")
    bucket, _, key = text[len(SCHEME) :].partition("/")
    if not bucket:
        raise UsageError(f"{text!r} names no bucket")
    if key_required and (not key or key.endswith("/")):
        raise UsageError(f"{text!r} names no object key")
    return bucket, key


def is_store(text: str) -> bool:
    return text[: len(SCHEME)].lower() == SCHEME


# -- output --------------------------------------------------------------------


class Output:
    """Where results go: lines for people on stdout (errors on stderr), or
    one JSON document on stdout; --quiet keeps only errors."""

    def __init__(self, json_output: bool, quiet: bool, stdout: IO[str] | None = None) -> None:
        self.json, self.quiet = json_output, quiet
        self._out = stdout or sys.stdout

    def line(self, text: str) -> None:
        if not (self.json or self.quiet):
            print(printable(text), file=self._out)

    def problem(self, text: str) -> None:
        """A failed entry: on stderr, even with --quiet, but not in --json
        mode, where the document says it."""
        if not self.json:
            print(printable(text), file=sys.stderr)

    def document(self, value: Any) -> None:
        if self.json:
            json.dump(value, self._out, indent=2, ensure_ascii=False, default=str)
            self._out.write("\n")

    def error(self, message: str, status: int, kind: str) -> int:
        # One line: a newline the message holds (in a key) is escaped too.
        print(f"{PROG}: error: {printable(message.strip() or kind)}", file=sys.stderr)
        self.document({"ok": False, "error": {"type": kind, "message": message}})
        return status

    @contextlib.contextmanager
    def progress(self, total: int | None) -> Iterator[Any]:
        """A tqdm bar on a terminal (where tqdm is installed), else None."""
        bar = None
        if not (self.json or self.quiet) and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                pass  # no bar: the same work, the same output
            else:
                bar = tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr)
        try:
            yield bar
        finally:
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
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# -- commands --------------------------------------------------------------------


def run_ls(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    bucket, prefix = split_object(args.location, key_required=False)
    objects = []
    for entry in clerk.list_objects(bucket, prefix=prefix or None):
        record = {
            "key": entry["Key"],
            "size": entry["Size"],
            "etag": str(entry.get("ETag", "")).strip('"'),
            "last_modified": str(entry.get("LastModified", "")),
        }
        if out.json:
            objects.append(record)
        else:
            out.line(f"{record['last_modified'][:19]}  {record['size']:>12}  {record['key']}")
    out.document({"ok": True, "bucket": bucket, "prefix": prefix, "objects": objects})
    return OK


def run_info(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    bucket, key = split_object(args.location)
    headers = clerk.get_object_info(bucket, key)
    for name, value in sorted(headers.items()):
        out.line(f"{name}: {value}")
    out.document({"ok": True, "bucket": bucket, "key": key, "headers": headers})
    return OK


def run_put(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    _upload(clerk, Path(args.local), args.location, out, resume=args.resume)
    return OK


def run_uploads(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    bucket, prefix = split_object(args.location, key_required=False)
    found = clerk.list_incomplete_uploads(bucket, prefix or None)
    for upload in found:
        out.line(f"{upload.initiated}  {upload.parts:>5} parts  {upload.bytes:>12}  {upload.key}")
    out.document({"ok": True, "bucket": bucket, "uploads": [_upload_record(u) for u in found]})
    return OK


def run_abort_uploads(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    bucket, prefix = split_object(args.location, key_required=False)
    older_than = timedelta(hours=args.older_than)
    aborted = clerk.abort_incomplete_uploads(bucket, prefix or None, older_than=older_than)
    for upload in aborted:
        out.line(f"aborted {upload.key} ({upload.parts} parts, {human_size(upload.bytes)})")
    out.line(f"{len(aborted)} unfinished uploads aborted")
    out.document({"ok": True, "bucket": bucket, "aborted": [_upload_record(u) for u in aborted]})
    return OK


def _upload_record(upload: IncompleteUpload) -> dict[str, Any]:
    return {
        "key": upload.key,
        "upload_id": upload.upload_id,
        "initiated": str(upload.initiated),
        "parts": upload.parts,
        "bytes": upload.bytes,
    }


def run_get(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    _download(clerk, args.location, args.local, out)
    return OK


def run_cp(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    source, destination = args.source, args.destination
    if not is_store(source) and not is_store(destination):
        raise UsageError("cp needs an s3:// location on one side at least")
    if not is_store(source):
        _upload(clerk, Path(source), destination, out)
    elif not is_store(destination):
        _download(clerk, source, destination, out)
    else:
        src_bucket, src_key = split_object(source)
        dst_bucket, dst_key = _object_destination(destination, src_key.rsplit("/", 1)[-1])
        with out.progress(None) as bar:
            clerk.copy_object(
                src_bucket,
                src_key,
                dst_bucket,
                dst_key,
                callback=bar.update if bar is not None else None,
            )
        _done(out, "copied", source, f"{SCHEME}{dst_bucket}/{dst_key}")
    return OK


def run_mv(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    src_bucket, src_key = split_object(args.source)
    dst_bucket, dst_key = _object_destination(args.destination, src_key.rsplit("/", 1)[-1])
    clerk.move_object(src_bucket, src_key, dst_bucket, dst_key)
    _done(out, "moved", args.source, f"{SCHEME}{dst_bucket}/{dst_key}")
    return OK


def run_rm(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    bucket, key = split_object(args.location)
    clerk.delete_object(bucket, key)
    _done(out, "deleted", args.location, None)
    return OK


def run_sync(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    with out.progress(None) as bar:
        report = clerk.sync(
            args.source,
            args.destination,
            delete=args.delete,
            dry_run=args.dry_run,
            workers=args.workers,
            callback=bar.update if bar is not None else None,
            on_entry=_counting(bar),
            report_path=args.report,
        )
    _print_sync(report, out)
    return OK if report.ok else FAILED


def run_check(clerk: ObjectClerk, args: argparse.Namespace, out: Output) -> int:
    with out.progress(None) as bar:
        report = clerk.check(
            args.source,
            args.destination,
            workers=args.workers,
            on_entry=_counting(bar),
            report_path=args.report,
        )
    _print_check(report, out)
    return OK if report.ok else FAILED


def _upload(
    clerk: ObjectClerk, path: Path, location: str, out: Output, resume: bool = False
) -> None:
    bucket, key = _object_destination(location, path.name)
    size = path.stat().st_size if path.is_file() else None
    with out.progress(size) as bar:
        callback = bar.update if bar is not None else None
        clerk.upload_object(path, bucket, key, callback=callback, resume=resume)
    # What the store holds: the file may have changed since it was measured.
    stored = int(clerk.get_object_info(bucket, key)["content-length"])
    _done(out, "uploaded", str(path), f"{SCHEME}{bucket}/{key}", stored)


def _download(clerk: ObjectClerk, location: str, local: str, out: Output) -> None:
    """Download to the file local names, or into the directory it names
    (one that exists, or any ending in "/") under the key's last name."""
    bucket, key = split_object(location)
    path = Path(local)
    if path.is_dir() or local.endswith(("/", os.sep)):
        path = path / _file_name(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with out.progress(None) as bar:
        clerk.download_object(bucket, key, path, callback=bar.update if bar is not None else None)
    _done(out, "downloaded", location, str(path), path.stat().st_size)


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


def _counting(bar: Any) -> Callable[[ReportEntry], None] | None:
    """Counts the entries done on the progress bar, beside its bytes."""
    if bar is None:
        return None
    done = [0]

    def count(entry: ReportEntry) -> None:
        done[0] += 1
        bar.set_postfix_str(f"{done[0]} files", refresh=False)

    return count


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


def _print_sync(report: SyncReport, out: Output) -> None:
    out.document(report.to_dict())
    for entry in report.entries:
        if entry.action == Action.FAILED:
            out.problem(f"failed      {entry.key}: {entry.error}")
        elif entry.action != Action.SKIPPED:
            action = WOULD[entry.action] if report.dry_run else entry.action
            why = f"{entry.evidence}: {entry.detail}" if entry.detail else entry.evidence
            size = f" ({human_size(entry.bytes)})" if entry.bytes else ""
            out.line(f"{action:<11} {entry.key}{size} [{why}]")
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
    for entry in report.entries:
        if entry.action != Action.SAME:
            why = f"{entry.evidence}: {entry.detail}" if entry.detail else entry.evidence
            out.line(f"{entry.action:<12} {entry.key} [{why}]")
    totals = report.totals
    counts = ", ".join(f"{totals[action]} {action}" for action in CHECK_ACTIONS if totals[action])
    verdict = "the same" if report.ok else "DIFFERENT"
    out.line(f"{report.source} and {report.destination} are {verdict}: {counts or 'empty'}")
    _print_left_out(report.entries_left_out, out)


def _print_left_out(left_out: int, out: Output) -> None:
    if left_out:
        out.line(f"{left_out} entries that were ok are not listed (--report FILE lists them)")
