"""Output files: written under a hidden temporary name in the same folder, then renamed.

Every output of every command goes through `atomic_path` (files) or `temporary_dir` (model
directories), so the guarantees are the same everywhere:

- a failing or interrupted run leaves the previous output (or none), never a half-written one;
- temporaries are named ``.<name>.<pid>.<random>.partial``: hidden, and no glob of outputs
  (``*.tsv``, ``*.fa``) matches them; those of runs that no longer exist (kill -9) are removed by
  the next run writing the same output;
- a character device, a FIFO or a socket (``/dev/null``, ``<(...)``) and ``-`` (stdout) are
  written through, never replaced by a regular file;
- an OSError while writing names the user's path, not the temporary.

`refuse_overlaps` refuses outputs that are, or lie inside, an input (or another output).
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from genomix.errors import GenomixError

STDOUT = "-"
PARTIAL = ".partial"


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_stream(path: str | Path) -> bool:
    """True for ``-`` (stdout) and for an existing character device, FIFO or socket."""
    if str(path) == STDOUT:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _stream_path(path: Path) -> Path:
    """Where a stream output is opened: ``/dev/stdout`` for ``-``, else the path itself."""
    return Path("/dev/stdout") if str(path) == STDOUT else path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_leftovers(path: Path) -> list[Path]:
    """Delete the temporaries of `path` left by processes that no longer run; return them.

    A temporary's name carries the writer's process id, so a concurrent run's temporary (its
    process alive) is left alone.
    """
    removed = []
    prefix = f".{path.name}."
    for leftover in path.parent.glob(f"{glob.escape(prefix)}*{PARTIAL}*"):
        pid = leftover.name[len(prefix) :].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def _prepare(path: Path) -> None:
    """Create `path`'s folder and remove dead runs' temporaries; errors name `path`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GenomixError(f"{path}: cannot create its folder ({error.strerror})") from None
    remove_leftovers(path)


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def _cannot_write(path: Path, error: OSError) -> GenomixError:
    return GenomixError(f"{path}: cannot write ({error.strerror or error})")


@contextmanager
def temporary_file(path: str | Path, *, suffix: str = "") -> Iterator[Path]:
    """Yield a new hidden temporary beside `path` (ending in `suffix`), removed with the files
    named after it (an index, ``.fai``) when the block ends; OSErrors on it name `path`."""
    path = Path(path)
    _prepare(path)
    try:
        handle, name = tempfile.mkstemp(
            prefix=_temporary_prefix(path), suffix=PARTIAL + suffix, dir=path.parent
        )
    except OSError as error:
        raise _cannot_write(path, error) from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
    except OSError as error:
        if error.filename is not None and str(error.filename).startswith(str(temporary)):
            raise _cannot_write(path, error) from error
        raise
    finally:
        for made in (temporary, *temporary.parent.glob(f"{glob.escape(temporary.name)}.*")):
            made.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds.

    For ``-`` and an existing device, FIFO or socket, yields the path itself (written through).
    An OSError on the temporary is raised as a GenomixError naming `path`. The temporary's name
    ends in `suffix` (``path.suffix`` for writers that pick the format by file name, as
    pybigtools does).
    """
    path = Path(path)
    if is_stream(path):
        yield _stream_path(path)
        return
    if path.is_dir():
        raise GenomixError(f"{path}: is a folder; give a file name")
    with temporary_file(path, suffix=suffix) as temporary:
        yield temporary
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes it private (0600)
        os.replace(temporary, path)


@contextmanager
def output_lock(path: str | Path) -> Iterator[None]:
    """Hold `path` as this run's output: a second run asking for it fails at once.

    The lock is ``flock`` on a hidden ``.<name>.lock`` (released by the kernel even after
    kill -9), removed on release; a lock file removed under a waiter is retaken.
    """
    path = Path(path)
    if is_stream(path):
        yield
        return
    _prepare(path)
    lock = path.with_name(f".{path.name}.lock")
    while True:
        try:
            descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise _cannot_write(path, error) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise GenomixError(
                f"{path}: another genomix run is writing it now; wait for it to finish"
            ) from None
        try:
            current = os.stat(lock).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(descriptor)  # the holder removed this lock file as we took it: take the new one
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(descriptor)


@contextmanager
def temporary_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty hidden folder beside `path` (removed when the block ends, unless renamed)."""
    path = Path(path)
    _prepare(path)
    try:
        staging = Path(
            tempfile.mkdtemp(prefix=_temporary_prefix(path), suffix=PARTIAL, dir=path.parent)
        )
    except OSError as error:
        raise _cannot_write(path, error) from None
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_writable(path: str | Path) -> None:
    """Refuse early when `path` could not be written: its folder cannot be created or written.

    Probes the nearest folder that exists by creating (and removing) a hidden temporary there,
    so it also holds for root and read-only file systems, where permission bits say nothing;
    it creates no folder.
    """
    path = Path(path)
    if is_stream(path):
        return
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise GenomixError(f"{path}: cannot create its folder ({existing} is not a folder)")
    try:
        tempfile.TemporaryDirectory(prefix=_temporary_prefix(path), dir=existing).cleanup()
    except OSError as error:
        raise _cannot_write(path, error) from None


def _overlap(out: Path, path: Path) -> str | None:
    """How output `out` collides with `path`: the same file, one inside the other; or None."""
    if out.exists() and path.exists() and os.path.samefile(out, path):
        return "is"
    real_out, real_path = Path(os.path.realpath(out)), Path(os.path.realpath(path))
    if real_out == real_path:
        return "is"
    if real_path in real_out.parents:
        return "lies inside"
    if real_out in real_path.parents:
        return "would replace the folder of"
    return None


def refuse_overlaps(
    outputs: Sequence[tuple[str, Path]],
    inputs: Sequence[tuple[str, Path]],
    *,
    folders: Sequence[tuple[str, Path]] = (),
) -> None:
    """Raise GenomixError when an output is an input, lies in one, or holds one; or two outputs
    overlap. Items are (what, path), e.g. ``("--out", Path("x.tsv"))``; streams are not compared.
    `folders` are output folders that files are written into: one may hold an input or an
    output (it is not replaced), but may not be one or lie inside one.
    """
    outputs = [(what, path) for what, path in outputs if not is_stream(path)]
    for index, (what, out) in enumerate(outputs):
        for other, path in inputs:
            how = None if is_stream(path) else _overlap(out, path)
            if how is not None:
                raise GenomixError(
                    f"{out}: {what} {how} the input {path} ({other}), which writing it would "
                    "change; give another output path"
                )
        for other, path in outputs[index + 1 :]:
            if _overlap(out, path) is not None:
                raise GenomixError(f"{out}: {what} and {other} ({path}) are the same output")
    for what, folder in folders:
        for role, paths in (("input", inputs), ("output", outputs)):
            for other, path in paths:
                how = None if is_stream(path) else _overlap(folder, path)
                if how in ("is", "lies inside"):
                    raise GenomixError(
                        f"{folder}: {what} {how} the {role} {path} ({other}), which writing "
                        "into it would change; give another folder"
                    )


def write_tsv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` as TSV (gzip when `path` ends in .gz), atomically."""
    path = Path(path)
    with atomic_path(path) as temporary:
        frame.to_csv(
            temporary,
            sep="\t",
            index=False,
            float_format="%.6g",
            compression="gzip" if path.suffix == ".gz" else None,
        )
    return path
