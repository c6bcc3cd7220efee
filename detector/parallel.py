"""Scanning in N worker processes, each with its own ``Detector``; reports come back in input order.

>>> from detector.parallel import scan_parallel
>>> for report in scan_parallel(["a.jpg", "b.jpg"], workers=2):  # doctest: +SKIP
...     print(report.path, report.decision)

Why processes: OCR and the logo stages are CPU-bound torch, FAISS and OpenCV code that scales poorly
with threads inside one process, so on a machine with C cores, C workers with one thread each scan a
folder faster than one process with C threads. Each worker holds its own models (~1.4-1.8 GB of RSS
with the default stages and a CUDA build of torch; BENCHMARKS.md, "Upload hook and service").

How it behaves:

* Workers are started with ``spawn``: a fresh interpreter, never a fork of a process that may hold
  torch's thread pools and locks. Each builds ONE detector with ``factory()`` and warms it up before it
  takes work. The first worker starts alone, so one-time work (the CNN index of a new catalog, which
  is built and saved on first use) is done once rather than raced by N processes.
* Torch, FAISS, OpenCV and OpenMP run ``threads`` threads per worker: 1 unless the config sets
  ``ocr.threads``, because N workers × all cores each would oversubscribe the machine.
* Each worker has its own pipe (a shared queue could be left locked by a worker killed mid-read) and
  at most two images assigned: one it analyses, one waiting so it never idles on the pipe. At most
  ``ahead`` images (default 8 per worker) are submitted and not yet yielded, so memory stays flat
  whatever the number of paths, and one slow image holds up at most that many finished reports.
* A worker that cannot start (``ModelError``: missing weights) makes ``start()`` raise that error.
  A ``ModelError`` or a bug while scanning is raised in the parent too (the single-process scan raises
  it as well). A worker that dies (kill -9, the out-of-memory killer, a crash in native code) costs
  only the image it was analysing: that image gets an ``ok: false`` report saying so, the images
  queued behind it go to the other workers and a fresh worker takes its place. More than
  ``max_deaths`` deaths in one pool raise ``WorkerError``: the machine is short of memory for that
  many workers.
* Workers ignore SIGINT: Ctrl-C reaches the whole process group, and it is the parent's to act on.
  A ``KeyboardInterrupt`` in the parent (or any exception, or an abandoned ``scan``) closes the pool,
  terminating the workers.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from detector.config import Config
from detector.errors import DetectorError, WorkerError
from detector.types import ImageReport

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from detector.pipeline import Detector

__all__ = ["DetectorFactory", "ScanPool", "scan_parallel"]

#: Images assigned to one worker at a time: the one it analyses and the next, already in its pipe.
PER_WORKER = 2


@dataclasses.dataclass(frozen=True)
class DetectorFactory:
    """Builds the detector a worker scans with; picklable, so it crosses to the worker process."""

    config: Config | None = None
    catalog: str | Path | None = None

    def __call__(self) -> Detector:
        from detector.pipeline import Detector

        return Detector(config=self.config, catalog=self.catalog)


def scan_parallel(
    paths: Iterable[str | Path],
    *,
    workers: int,
    config: Config | None = None,
    catalog: str | Path | None = None,
    factory: Callable[[], Detector] | None = None,
    threads: int | None = None,
) -> Iterator[ImageReport]:
    """Reports for image files, in input order, from ``workers`` processes (see the module doc).

    Like ``Detector.scan_paths``: the same records apart from ``timings_ms``. ``factory`` (a picklable
    callable returning a ``Detector``) replaces the one built from ``config`` and ``catalog``.
    """
    with ScanPool(workers, config=config, catalog=catalog, factory=factory, threads=threads) as pool:
        yield from pool.scan(paths)


@dataclasses.dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    tasks: deque[int] = dataclasses.field(default_factory=deque)  # assigned, oldest first: its working order
    ready: bool = False  # models loaded; until then a death is not the fault of any image
    broken: bool = False  # its pipe failed: it is dying, assign nothing more


class ScanPool:
    """``workers`` processes, each with one detector; ``scan(paths)`` yields reports in input order.

    Use it as a context manager: entering starts the workers and waits until every one has loaded its
    models (raising the first start-up error); leaving stops them. ``config``/``catalog`` build the
    detectors, or ``factory`` does (a picklable callable returning a ``Detector``). ``threads``: threads
    per worker (default ``config.ocr.threads``, else 1).
    """

    def __init__(
        self,
        workers: int,
        *,
        config: Config | None = None,
        catalog: str | Path | None = None,
        factory: Callable[[], Detector] | None = None,
        threads: int | None = None,
        ahead: int | None = None,
        max_deaths: int | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if factory is None:
            config = config or Config()
            threads = threads or config.ocr.threads or 1
            # The OCR sets torch's thread count from its config when it loads: make that the worker's.
            config = dataclasses.replace(config, ocr=dataclasses.replace(config.ocr, threads=threads))
            root = getattr(catalog, "root", catalog)  # a loaded Catalog crosses as its folder
            factory = DetectorFactory(config, root)
        self.workers = workers
        self.factory = factory
        self.threads = threads or 1
        self.ahead = max(ahead or 8 * workers, workers)
        self.max_deaths = workers + 2 if max_deaths is None else max_deaths
        self.deaths = 0
        #: Which implementation ran each stage, as the first worker to load reported it.
        self.stages: dict[str, str] = {}
        self._workers: list[_Worker] = []

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # After an error or Ctrl-C nobody waits for a busy worker to finish its image.
        self.close(wait_s=5.0 if exc_type is None else 0.0)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the workers and wait until all have loaded their models; a start-up error is raised."""
        if self._workers:
            return
        self.deaths = 0
        try:
            self._workers.append(self._spawn())
            self._await_ready()  # alone first: one-time work (a new catalog's CNN index) is done once
            self._workers += [self._spawn() for _ in range(self.workers - 1)]
            self._await_ready()
        except BaseException:
            self.close(wait_s=0.0)
            raise

    def close(self, wait_s: float = 5.0) -> None:
        """Stop the workers: ask them to exit, give them ``wait_s`` seconds, then terminate (and kill)."""
        workers, self._workers = self._workers, []
        for w in workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in workers:
            w.process.join(wait_s / max(len(workers), 1))
            if w.process.is_alive():
                w.process.terminate()
        for w in workers:
            w.process.join(2.0)
            if w.process.is_alive():
                w.process.kill()  # SIGTERM ignored or stuck in native code
                w.process.join(2.0)
            w.conn.close()

    def _spawn(self) -> _Worker:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=_worker_main, args=(child, self.factory, self.threads), name="detector-scan", daemon=True
        )
        # Ignored while the child starts, so a Ctrl-C during its interpreter start-up (before it can
        # ignore SIGINT itself) leaves no traceback; an ignored signal stays ignored across exec.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            process.start()
        finally:
            if previous is not None:  # None: a handler Python did not install, which it cannot restore
                signal.signal(signal.SIGINT, previous)
        child.close()  # the parent keeps only its end: the worker's death then reads as EOF
        return _Worker(process, parent)

    def _await_ready(self) -> None:
        from multiprocessing.connection import wait

        while not all(w.ready for w in self._workers):
            starting = [w for w in self._workers if not w.ready]
            wait([w.conn for w in starting] + [w.process.sentinel for w in starting])
            for w in starting:
                alive = self._drain(w, {}) and w.process.is_alive()  # a "failed" message raises its error
                if not alive:
                    w.process.join(1.0)  # its exit code, for the message
                    raise WorkerError(f"a worker process died while loading the models ({_death(w)})")

    # ------------------------------------------------------------------ scanning

    def scan(self, paths: Iterable[str | Path]) -> Iterator[ImageReport]:
        """Reports for ``paths``, in their order; starts the pool if needed. One scan at a time."""
        self.start()
        finished = False
        try:
            yield from self._scan(iter(paths))
            finished = True
        finally:
            if not finished:  # an error, Ctrl-C or an abandoned iterator: replies still in flight are stale
                self.close(wait_s=0.0)

    def _scan(self, paths: Iterator[str | Path]) -> Iterator[ImageReport]:
        from multiprocessing.connection import wait

        submitted: dict[int, str | Path] = {}  # submitted and not yet yielded, by index
        done: dict[int, ImageReport] = {}
        retry: deque[int] = deque()  # assigned to a worker that died before analysing them
        next_in = next_out = 0
        exhausted = False
        while True:
            # Hand out work: first what a dead worker left, then new paths within the look-ahead.
            while (w := self._free_worker()) is not None:
                if retry:
                    i = retry.popleft()
                elif not exhausted and next_in - next_out < self.ahead:
                    path = next(paths, None)
                    if path is None:
                        exhausted = True
                        continue
                    i, next_in = next_in, next_in + 1
                    submitted[i] = path
                else:
                    break
                self._assign(w, i, submitted[i], retry)
            if next_out in done:
                submitted.pop(next_out)
                next_out += 1
                yield done.pop(next_out - 1)
                continue
            if exhausted and next_out == next_in:
                return
            by_handle: dict[Any, _Worker] = {}
            for w in self._workers:
                by_handle[w.conn] = by_handle[w.process.sentinel] = w
            for handle in wait(list(by_handle)):
                w = by_handle[handle]
                if w not in self._workers:
                    continue  # its pipe and its sentinel both woke us; it is buried already
                if not (self._drain(w, done) and w.process.is_alive()):
                    self._bury(w, submitted, done, retry)

    def _free_worker(self) -> _Worker | None:
        """The least busy worker that can take another image, ready ones first; None when all are full."""
        free = [w for w in self._workers if len(w.tasks) < PER_WORKER and not w.broken]
        return min(free, key=lambda w: (len(w.tasks), not w.ready), default=None)

    def _assign(self, w: _Worker, i: int, path: str | Path, retry: deque[int]) -> None:
        try:
            w.conn.send((i, path))
        except OSError:  # it died; its sentinel will say so. The image goes to another worker.
            w.broken = True
            retry.appendleft(i)
            return
        w.tasks.append(i)

    def _drain(self, w: _Worker, done: dict[int, ImageReport]) -> bool:
        """Read every message the worker has sent; False once its pipe is closed (it has exited)."""
        while True:
            try:
                if not w.conn.poll():
                    return True
                kind, *body = w.conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                return False  # closed, or cut in the middle of a message by the worker's death
            if kind == "ready":
                w.ready = True
                self.stages = self.stages or body[0]
            elif kind == "report":
                i, report = body
                w.tasks.remove(i)
                done[i] = report
            else:  # "failed": it could not start; "error": a ModelError or a bug on an image
                exc, remote_tb = body
                if isinstance(exc, DetectorError):
                    raise exc  # a setup problem: its message says what to do, like the single-process scan
                raise exc from _RemoteTraceback(remote_tb)

    def _bury(
        self, w: _Worker, submitted: dict[int, str | Path], done: dict[int, ImageReport], retry: deque[int]
    ) -> None:
        """A worker died: fail the image it was analysing, requeue the rest, start a replacement."""
        w.process.join(1.0)  # its exit code
        self._drain(w, done)  # what it wrote just before it died is still in the pipe
        self._workers.remove(w)
        w.conn.close()
        self.deaths += 1
        why = _death(w)
        if w.ready and w.tasks:
            # It takes its images in order and had reported the ones before: the first is the one it was on.
            i = w.tasks.popleft()
            done[i] = ImageReport.failed(
                str(submitted[i]), f"the worker process died while analysing this image ({why}); it was not analysed"
            )
        waiting = sorted([*retry, *w.tasks])  # in input order: the earliest holds up the output
        retry.clear()
        retry.extend(waiting)
        if self.deaths > self.max_deaths:
            raise WorkerError(
                f"{self.deaths} worker processes died during this scan (the last: {why}); "
                f"the machine may be short of memory for {self.workers} workers: try fewer"
            )
        self._workers.append(self._spawn())


class _RemoteTraceback(Exception):
    """The worker's traceback, chained to an unexpected exception raised again in the parent."""

    def __str__(self) -> str:
        return f"in the worker process:\n{self.args[0]}"


def _death(w: _Worker) -> str:
    """Why a worker ended, in words: the signal that killed it, or its exit code."""
    code = w.process.exitcode
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = ": the out-of-memory killer, or kill -9" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"it exited with code {code}"


# ---------------------------------------------------------------------------------- the worker side


def _worker_main(conn: Connection, factory: Callable[[], Detector], threads: int) -> None:
    """A worker's life: load one detector, then scan what the parent sends until it sends None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to act on
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)  # read by the native libraries that load after this
    try:
        detector = factory()
        detector.warm_up()
        _set_threads(threads)
    except BaseException as exc:  # noqa: BLE001 - the parent decides; it must hear why
        conn.send(("failed", *_portable(exc)))
        return
    conn.send(("ready", detector.stages))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if task is None:
            return
        i, path = task
        try:
            message: tuple[Any, ...] = ("report", i, detector.scan_image(path, name=str(path)))
        except BaseException as exc:  # noqa: BLE001 - ModelError (setup) or a bug: raised in the parent
            message = ("error", *_portable(exc))
        try:
            conn.send(message)
        except OSError:
            return  # the parent is gone
        except Exception as exc:  # noqa: BLE001 - a report pickle cannot carry: a bug, raised in the parent
            conn.send(("error", *_portable(exc)))


def _set_threads(threads: int) -> None:
    """Pin the thread pools of the libraries the models loaded (some set their own count on load)."""
    if (torch := sys.modules.get("torch")) is not None:
        torch.set_num_threads(threads)  # the CNN embedder sets all cores when it is built
    if (faiss := sys.modules.get("faiss")) is not None:
        faiss.omp_set_num_threads(threads)
    if (cv2 := sys.modules.get("cv2")) is not None:
        cv2.setNumThreads(threads)


def _portable(exc: BaseException) -> tuple[BaseException, str]:
    """``exc`` (or a ``WorkerError`` with its text when it does not survive pickling) and its traceback."""
    import traceback

    tb = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - an exception with constructor arguments pickle cannot rebuild
        exc = WorkerError(f"{type(exc).__name__}: {exc}")
    return exc, tb
