"""Every file is read under a time and memory budget, in a process of its own: a hostile
or unlucky file (a zip bomb, a page nested 50,000 levels deep) is named with the reason
and skipped, and the batch, or the web server, goes on.

    doc = load_within_budget("corpus/纲要.pdf")   # what load() gives, or a LoadError:
    # "纲要.pdf: still reading after 120 s, so it was skipped; split the file, or ..."

Pages read by OCR are budgeted one by one: a page takes seconds (2-6 s here, on one
thread), so a 300-page scan needs far more than the whole budget of a file, and honestly
so. Once OCR begins, each page has ZHICE_OCR_PAGE_SECONDS from the page before (the
first also loads the models) in place of the file's budget: a long scan goes on for as
long as it moves (its progress reaches the caller), and a page OCR gets stuck on still
stops it. A limit per page bounds what one page may cost, whatever the number of
pages; a limit per file would refuse long scans or let a stuck page hang for as long
as the longest scan might take. The file's budget still bounds the rest: parsing,
and finding the pages that need OCR.

How: a reading process, started on first use (`python -c`, so nothing of the caller's
comes with it), imports the parsers once and forks a child for each file. It has one
thread, so fork is safe there, where it is not in a caller with threads (the web
server); a child costs a few milliseconds. The child sets its memory limit and loads;
the caller waits as long as the budget allows, else kills the reading process with its
child and starts another for the next file.

Not multiprocessing's forkserver, which would do the same: its children run the
caller's main script again, for every file (Python 3.11 ignores a "__main__" preload),
which costs a second a file under a script that imports faiss and breaks any script
without an `if __name__ == "__main__":` guard.
"""

import atexit
import contextlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import LoadError, ZhiceError
from .loaders import load
from .ocr import PageProgress
from .types import LoadedDocument

# A 1,000-page PDF of plain text reads in ~15 s here, a 5 MB web page in ~13 s: two
# minutes leaves room for slow machines and frees an upload slot before long. 0 lifts it.
LOAD_SECONDS = 120.0
# Of address space (RLIMIT_AS), the parsers' own ~75 MB included; a 20 MB web page, the
# largest upload, takes ~900 MB to read. 0 lifts it.
LOAD_MEGABYTES = 2048
# Ten times the slowest page in benchmarks/results/ocr.txt (6 s, on a busy machine).
OCR_PAGE_SECONDS = 60.0
SECONDS_VARIABLE = "ZHICE_LOAD_SECONDS"
MEGABYTES_VARIABLE = "ZHICE_LOAD_MB"
PAGE_SECONDS_VARIABLE = "ZHICE_OCR_PAGE_SECONDS"
_PRELOAD = ("bs4", "docx", "pypdf", "charset_normalizer")  # none of them starts a thread
_OUT_OF_MEMORY = "out of memory"
_FRAME = struct.Struct(">Q")  # each message: its length, then its tag and its pickle
_PAGES, _DONE = b"p", b"d"  # (pages read, pages to read) as OCR goes; the outcome


@dataclass(frozen=True)
class LoadBudget:
    """What reading one file may take: seconds of wall-clock time, megabytes of memory
    (the reading process's address space), and seconds for each page OCR reads, counted
    from the page before. 0 lifts a limit."""

    seconds: float = LOAD_SECONDS
    megabytes: int = LOAD_MEGABYTES
    page_seconds: float = OCR_PAGE_SECONDS

    @classmethod
    def from_environment(cls) -> "LoadBudget":
        """The defaults, or ZHICE_LOAD_SECONDS, ZHICE_LOAD_MB and ZHICE_OCR_PAGE_SECONDS
        where they are set."""
        return cls(_setting(SECONDS_VARIABLE, LOAD_SECONDS, float),
                   _setting(MEGABYTES_VARIABLE, LOAD_MEGABYTES, int),
                   _setting(PAGE_SECONDS_VARIABLE, OCR_PAGE_SECONDS, float))


def _setting(name: str, default, kind: type):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        number = -1
    if number < 0:
        unit = "seconds" if kind is float else "megabytes"
        raise ZhiceError(f"{name} must be a number of {unit}, or 0 for no limit; it is {value!r}")
    return number


def load_within_budget(path: Path | str, source: str | None = None,
                       budget: LoadBudget | None = None,
                       progress: PageProgress | None = None) -> LoadedDocument:
    """load(path, source) in a child process that may take `budget` (default: from the
    environment); a file that takes more is a LoadError naming it and the reason.
    `progress(pages read, pages to read)` is called, in this process, as OCR goes.
    Without fork (Windows) or without limits, the file is read in this process."""
    path = Path(path)
    source = source or path.name
    budget = budget or LoadBudget.from_environment()
    if not hasattr(os, "fork") or not (budget.seconds or budget.megabytes):
        return load(path, source, progress=progress)
    # absolute: the reading process stays in the directory it started in
    outcome = _READER.ask((os.path.abspath(path), source, budget), progress)
    if isinstance(outcome, LoadedDocument):
        return outcome
    if isinstance(outcome, ZhiceError):
        raise outcome
    if isinstance(outcome, _Late):
        if outcome.pages is None:
            raise LoadError(f"{source}: still reading after {budget.seconds:g} s, so it was "
                            f"skipped; split the file, or set {SECONDS_VARIABLE} higher")
        done, total = outcome.pages
        raise LoadError(f"{source}: OCR of page {done + 1} of the {total} to read took more "
                        f"than {budget.page_seconds:g} s, so the file was skipped; set "
                        f"{PAGE_SECONDS_VARIABLE} higher")
    if outcome == _OUT_OF_MEMORY:
        raise LoadError(f"{source}: needs more than {budget.megabytes:,} MB of memory to "
                        f"read, so it was skipped; split the file, or set {MEGABYTES_VARIABLE} "
                        "higher")
    _, code = outcome  # ("exit", code): the child died without an answer
    how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    raise LoadError(f"{source}: the reader stopped without an answer ({how}); open and "
                    "re-save the file, or download it again")


@dataclass(frozen=True)
class _Late:
    """The budget ran out; `pages`: (read, to read) when OCR had begun."""

    pages: tuple[int, int] | None


class _Reader:
    """The caller's side of the reading process: one file at a time, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._owner = 0  # the pid that started it: a forked caller starts its own

    def ask(self, request: tuple, progress: PageProgress | None = None):
        """The child's outcome for `request` (path, source, budget), or _Late when the
        budget ran out first; progress frames go to `progress` on the way."""
        budget: LoadBudget = request[2]
        with self._lock:
            if self._owner != os.getpid():
                self._process = None  # a forked caller's copy of its parent's
            elif self._process is not None and self._process.poll() is not None:
                self._stop()  # it died between files
            if self._process is None:
                self._start()
            process = self._process
            try:
                _send(process.stdin.fileno(), pickle.dumps(request))
                deadline = time.monotonic() + budget.seconds if budget.seconds else None
                pages = None
                while (answer := _receive(process.stdout.fileno(), deadline)) is not None:
                    if answer[:1] == _DONE:
                        break
                    pages = pickle.loads(answer[1:])
                    if deadline is not None:  # the next page's budget, from now
                        deadline = (time.monotonic() + budget.page_seconds
                                    if budget.page_seconds else None)
                    if progress:
                        progress(*pages)
            except (EOFError, BrokenPipeError):
                self._stop()
                raise LoadError(f"{request[1]}: the reading process stopped without an "
                                "answer (out of memory?); try again") from None
            except BaseException:  # Ctrl+C mid-file: the reading process is out of step
                self._stop()
                raise
            if answer is None:
                self._stop()  # with the child still reading
                return _Late(pages)
            return pickle.loads(answer[1:])

    def _start(self) -> None:
        code = (f"import sys; sys.path[:] = {[str(entry) for entry in sys.path]!r}; "
                f"from {__name__} import _serve; _serve()")
        # its own session: Ctrl+C in a terminal is the caller's to handle, and killing
        # the group takes the child that is reading with it
        self._process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, start_new_session=True)
        if not self._owner:
            atexit.register(self._stop)
        self._owner = os.getpid()
        try:  # ready once the parsers are imported: that time is no file's
            _receive(self._process.stdout.fileno())
        except EOFError:
            self._stop()
            raise ZhiceError("zhice could not start the process that reads files (its "
                             "error is above); check the installation") from None

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or self._owner != os.getpid():
            return
        if process.poll() is None:  # not reaped, so the group is still its own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stdin.close()
        process.stdout.close()


_READER = _Reader()


def _send(fd: int, data: bytes) -> None:
    data = memoryview(_FRAME.pack(len(data)) + data)
    while data:
        data = data[os.write(fd, data):]


def _receive(fd: int, deadline: float | None = None) -> bytes | None:
    """The next message on fd; None if the deadline passes first, EOFError at the end."""
    parts: list[bytes] = []
    need = _FRAME.size
    header = True
    ready = select.poll()  # not select(): a web server's descriptors pass 1024
    ready.register(fd, select.POLLIN)
    while need:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not ready.poll(left * 1000):
                return None
        part = os.read(fd, min(need, 2**20))
        if not part:
            raise EOFError
        parts.append(part)
        need -= len(part)
        if not need and header:
            (need,), parts, header = _FRAME.unpack(b"".join(parts)), [], False
    return b"".join(parts)


# --- the reading process -----------------------------------------------------------


def _serve() -> None:
    """The reading process: a request on stdin, a child forked to load that file, its
    outcome on stdout; it ends when the caller closes stdin or goes away."""
    for name in _PRELOAD:
        __import__(name)  # once here, not in every child
    requests = sys.stdin.fileno()
    answers = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print() must not garble them
    _send(answers, b"ready")
    while True:
        try:
            path, source, budget = pickle.loads(_receive(requests))
        except EOFError:
            return
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _load_in_child(write_end, path, source, budget)
        os.close(write_end)
        answer = None
        try:
            with contextlib.suppress(EOFError):  # the child's end: closed, or died
                while (answer := _receive(read_end))[:1] != _DONE:
                    _send(answers, answer)  # progress, passed on as it comes
        except BrokenPipeError:  # the caller went away while the child read
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        finally:
            os.close(read_end)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        if code or answer is None or answer[:1] != _DONE:
            answer = _DONE + pickle.dumps(("exit", code))
        try:
            _send(answers, answer)
        except BrokenPipeError:  # the caller went away while the child read
            return


def _load_in_child(out: int, path: str, source: str, budget: LoadBudget) -> None:
    """The child's work, then its exit: load under the limits and write the document,
    the ZhiceError, or that memory ran out; and OCR's progress before them."""
    code = 1
    try:
        import logging
        import resource
        import warnings

        # A parser's warnings would print once per file here, each child being new (in
        # process, the caller's logging decides); whatever matters becomes a LoadError.
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        if budget.megabytes:
            _limit(resource.RLIMIT_AS, budget.megabytes * 2**20)
        if budget.seconds:  # the caller kills at its deadline; this only stops an orphan
            _limit(resource.RLIMIT_CPU, int(budget.seconds) + 2)

        def progress(done: int, total: int) -> None:
            if budget.seconds:  # the orphan's limit moves with the caller's deadline
                used = resource.getrusage(resource.RUSAGE_SELF)
                _limit(resource.RLIMIT_CPU, int(used.ru_utime + used.ru_stime
                                                 + budget.page_seconds) + 2
                       if budget.page_seconds else None)
            _send(out, _PAGES + pickle.dumps((done, total)))

        try:
            outcome = load(path, source, progress=progress)
        except MemoryError:
            outcome = _OUT_OF_MEMORY
        except ZhiceError as e:
            outcome = e
        try:
            answer = pickle.dumps(outcome)
        except MemoryError:  # a long text near the limit
            answer = pickle.dumps(_OUT_OF_MEMORY)
        _send(out, _DONE + answer)
        os.close(out)
        code = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _limit(which: int, value: int | None) -> None:
    """Set the soft limit to value (None: as high as the hard limit allows)."""
    import resource

    _, hard = resource.getrlimit(which)
    if value is None:
        value = hard
    elif hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    try:
        resource.setrlimit(which, (value, hard))
    except (ValueError, OSError):  # a platform that does not enforce it (macOS: RLIMIT_AS)
        pass
