"""Several output files written in the background, then renamed into place together.

An index run rewrites a few large files (``repodata.json``, its ``.zst`` twin,
``channeldata.json``). Each is compressed, written and fsynced in a worker thread while the caller
goes on (all of these release the GIL, and concurrent fsyncs on one filesystem share its journal
commits); only once every file is safely on disk are they renamed, in the order they were staged.
On any error no file is renamed and every temporary file is removed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .atomic import holds, settle, temporary_beside

__all__ = ["Staging", "staged"]

#: what a staged file's content is: its bytes, or a function computing them in the worker
Content = bytes | Callable[[], bytes]


class Staging:
    """Files staged by :meth:`put`; see :func:`staged`."""

    def __init__(self, pool: concurrent.futures.Executor) -> None:
        self._pool = pool
        self._staged: list[tuple[Path, concurrent.futures.Future[Path | None]]] = []

    def put(self, path: str | os.PathLike[str], content: Content, *,
            if_changed: bool = False) -> None:
        """Write ``content`` to a temporary file beside ``path``, to be renamed onto it.

        With ``if_changed``, a ``path`` that already holds exactly that content is left alone
        (its mtime too, so HTTP caches stay valid).
        """
        target = Path(path)
        self._staged.append((target, self._pool.submit(_write, target, content, if_changed)))

    def _temporaries(self) -> list[tuple[Path, Path | None]]:
        """Wait for every write; the temporaries of the ones that succeeded. Re-raises the
        first failure after removing them all."""
        done: list[tuple[Path, Path | None]] = []
        failure: BaseException | None = None
        for target, future in self._staged:
            try:
                done.append((target, future.result()))
            except BaseException as exc:  # re-raised below, once the others are cleaned up
                failure = failure or exc
                # interrupted while waiting (not a failed write): let the write end, so that
                # its temporary file is removed with the others
                with contextlib.suppress(BaseException):
                    done.append((target, future.result()))
        if failure is not None:
            _remove(tmp for _, tmp in done)
            raise failure
        return done

    def _commit(self) -> None:
        done = self._temporaries()
        for i, (target, tmp) in enumerate(done):
            if tmp is None:
                continue
            try:
                os.replace(tmp, target)
            except BaseException:
                _remove(rest for _, rest in done[i:])
                raise

    def _discard(self) -> None:
        try:
            done = self._temporaries()
        except BaseException:  # the temporaries are gone already; the caller's error wins
            return
        _remove(tmp for _, tmp in done)


@contextlib.contextmanager
def staged(workers: int = 4) -> Iterator[Staging]:
    """A :class:`Staging` whose files are renamed into place when the block ends normally, and
    discarded when it raises."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                               thread_name_prefix="cwb-stage") as pool:
        staging = Staging(pool)
        try:
            yield staging
        except BaseException:
            staging._discard()
            raise
        staging._commit()


def _write(target: Path, content: Content, if_changed: bool) -> Path | None:
    """Write one staged file and fsync it; its temporary path, or ``None`` when unchanged."""
    data = content() if callable(content) else content
    if if_changed and holds(target, data):
        return None
    fh, tmp = temporary_beside(target)
    try:
        with fh:
            fh.write(data)
            settle(fh, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _remove(paths: Iterable[Path | None]) -> None:
    for tmp in paths:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
