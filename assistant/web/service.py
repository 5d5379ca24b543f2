"""What the web page does, without Gradio: ask, open a passage, upload, remove, list.

Every action goes through the same `Assistant` (and so the same chain) as the CLI;
this layer adds only what a shared server needs: the readers-writer lock, the admin
password, and the checks on uploaded files.
"""

import hmac
import math
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from zhice.assistant.chain import Assistant
from zhice.assistant.errors import BadQuestionError
from zhice.assistant.types import Answer
from zhice.assistant.web import ADMIN_ENV, MAX_UPLOAD_MB
from zhice.assistant.web.guard import Throttle, too_many
from zhice.assistant.web.render import context_html, scan_html
from zhice.index.pipeline import IngestSummary, index_files
from zhice.index.store import FileRecord
from zhice.ingest.errors import ZhiceError
from zhice.ingest.loaders import SUPPORTED_SUFFIXES

# answer mode (chain.MODES) -> what the settings radio calls it; the page offers the
# modes it was given an Assistant for.
ANSWER_MODES = {
    "extractive": "抽取式：直接摘录原文句子（不需要语言模型）",
    "llm": "大模型：由语言模型组织答案，引用逐句核对",
}


class AdminError(ZhiceError):
    """Document management asked for without (the right) admin password."""


class UploadError(ZhiceError):
    """An uploaded file that is not taken: too big, no usable name, nothing chosen."""


class WebService:
    """The shared state of one server: the assistants (one per answer mode) over one
    index, and the lock that keeps searches and changes apart.

    >>> service = WebService({"extractive": Assistant.open(Path("idx"))}, admin_password="s3cret")
    >>> service.ask("示范区有多少个？").answer
    """

    def __init__(self, assistants: Mapping[str, Assistant], admin_password: str | None = None,
                 max_upload_mb: float = MAX_UPLOAD_MB, throttle: Throttle | None = None):
        if not assistants:
            raise ValueError("need at least one assistant")
        unknown = set(assistants) - set(ANSWER_MODES)
        if unknown:
            raise ValueError(f"unknown answer modes {sorted(unknown)}; known: {list(ANSWER_MODES)}")
        self.assistants = dict(assistants)
        self.index = next(iter(self.assistants.values())).index
        if any(a.index is not self.index for a in self.assistants.values()):
            raise ValueError("the assistants must share one open index")
        self.admin_password = admin_password or None
        self.max_upload_bytes = int(max_upload_mb * 1024 * 1024)
        self.max_upload_mb = max_upload_mb
        self.throttle = throttle or Throttle("admin password")
        # the index makes searches safe against a change being applied; this only
        # serialises the changes themselves (one ingest or removal at a time)
        self._changing = threading.Lock()

    @property
    def management(self) -> bool:
        """Whether uploading and removing documents is switched on."""
        return self.admin_password is not None

    # asking -------------------------------------------------------------------------
    def ask(self, question: str, k: int = 5, mode: str = "extractive",
            history: Sequence[str] = (), since: int | None = None,
            issuer: str | None = None) -> Answer:
        """The chain's answer; BadQuestionError (a ZhiceError) for bad input. `since`
        and `issuer` narrow it to the documents that state such a date or issuer."""
        return self._assistant(mode).ask(question, k=passages(k), history=list(history),
                                         since=since, issuer=issuer or None)

    def _assistant(self, mode: str) -> Assistant:
        assistant = self.assistants.get(mode)
        if assistant is None:
            raise ZhiceError(f"unknown answer mode {mode!r}; choose one of {list(self.assistants)}")
        return assistant

    def stream(self, question: str, k: int = 5, mode: str = "extractive",
               history: Sequence[str] = (), since: int | None = None,
               issuer: str | None = None) -> Iterator[str | Answer]:
        """`Assistant.stream` of the mode: the answer text so far while a model writes
        it, then the checked Answer."""
        return self._assistant(mode).stream(question, k=passages(k), history=list(history),
                                            since=since, issuer=issuer or None)

    def document_context(self, source: str, start: object, end: object,
                         quotes: Sequence[str] = ()) -> str:
        """The passage `start:end` of `source` marked in its document text, as HTML.

        Anyone who can open the page can call this, as they can ask: the documents
        of a page without a password are readable by whoever reaches it (README)."""
        title = self._title(source)
        text = self.index.file_text(str(source))
        if text is None:
            raise _not_indexed(source)
        start, end = _whole(start, "start"), _whole(end, "end")
        if not 0 <= start <= end <= len(text):
            raise ZhiceError(f"{source} 没有第 {start} 到 {end} 个字符的段落")
        return context_html(title, str(source), text, start, end,
                            tuple(str(q) for q in quotes[:20]))

    def page_image(self, source: str, page: object) -> str:
        """The scanned image of page `page` of `source` (one OCR read), as HTML for the
        viewer; a line saying so when the index keeps none. The browser names a source
        and a page; the index maps them to the image it keeps (no path comes from it).
        Readable by whoever can ask, as `document_context` is."""
        page = _whole(page, "page")
        title = self._title(source)
        jpeg = self.index.page_image(str(source), page) if page >= 1 else None
        return scan_html(title, str(source), page, jpeg)

    def _title(self, source: str) -> str:
        """The title of an indexed document; ZhiceError when it is not indexed."""
        title = self.index.titles().get(str(source))
        if title is None:
            raise _not_indexed(source)
        return title

    def documents(self) -> list[FileRecord]:
        return self.index.files()

    # managing -----------------------------------------------------------------------
    def check_admin(self, password: str | None, client: str = "local") -> None:
        """AdminError unless management is on and `password` is right; a `client`
        that keeps guessing waits longer after each wrong one (guard.Throttle)."""
        if not self.management:
            raise AdminError(
                f"文档管理未开启：启动时设置环境变量 {ADMIN_ENV} 或参数 --admin-password")
        wait = self.throttle.wait(client)
        if wait > 0:
            raise AdminError(too_many(wait))
        if not password or not hmac.compare_digest(password.encode(),
                                                   self.admin_password.encode()):
            self.throttle.failed(client)
            raise AdminError("管理密码不对：上传和删除文档需要启动时设置的管理密码")
        self.throttle.succeeded(client)

    def upload(self, files: Sequence[tuple[str, Path]], password: str | None,
               progress: Callable[[int, int, str], None] | None = None,
               client: str = "local",
               pages: Callable[[str, int, int], None] | None = None) -> IngestSummary:
        """Ingest uploaded files, given as (name the browser sent, where it is now);
        `progress(files done, files, source)` after each, `pages(source, read, to read)`
        as OCR reads a scan.

        Only the base name is kept as the source name; each file is copied into a
        private temporary folder under that name and ingested from there.
        """
        self.check_admin(password, client)
        if not files:
            raise UploadError("没有选择文件：先选择要上传的文档")
        with tempfile.TemporaryDirectory(prefix="zhice-upload-") as tmp:
            paths: list[Path] = []
            for name, path in files:
                source = upload_name(name)
                size = Path(path).stat().st_size
                if size > self.max_upload_bytes:
                    raise UploadError(
                        f"{source} 有 {size / 1024 / 1024:.1f} MB，超过每个文件 "
                        f"{self.max_upload_mb:g} MB 的上限；请拆分或压缩后再上传")
                target = Path(tmp) / source
                if target.exists():
                    raise UploadError(f"同名文件上传了两次：{source}；每个名字只上传一次")
                shutil.copyfile(path, target)
                paths.append(target)
            done = 0

            def each(source: str, result) -> None:
                nonlocal done
                done += 1
                if progress:
                    progress(done, len(paths), source)

            if progress:
                progress(0, len(paths), paths[0].name)
            with self._changing:
                # the temporary copy is gone afterwards: record where the file came from
                return index_files(self.index, paths, each,
                              origin=lambda path: f"web upload: {path.name}", pages=pages)

    def remove(self, source: str, password: str | None, client: str = "local") -> None:
        self.check_admin(password, client)
        if not source:
            raise UploadError("先选择要删除的文档")
        with self._changing, self.index.writing():
            if not self.index.remove(source):
                raise _not_indexed(source)


def _not_indexed(source: object) -> ZhiceError:
    return ZhiceError(f"{source} 不在索引里（可能已被删除）")


def passages(k: object) -> int:
    """The number of passages asked for, as the chain takes it (the API and the page
    slider send numbers, strings or floats); BadQuestionError when it is none."""
    try:
        return _whole(k, "k")
    except ZhiceError:
        raise BadQuestionError(f"k must be a whole number between 1 and 50; got {k!r}",
                               zh=f"参考段落数 k 应是 1 到 50 之间的整数，收到的是 {k!r}") from None


def _whole(value: object, what: str) -> int:
    """`value` as an int when it is a whole number (5, 5.0, "5"); else ZhiceError."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number != int(number):
        raise ZhiceError(f"{what} 应是整数，收到的是 {value!r}")
    return int(number)


def upload_name(name: str) -> str:
    """The source name for an uploaded file: its base name only, never a path
    ("../../etc/passwd" is "passwd"), without control characters or leading dots."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    if not base:
        raise UploadError(f"文件名 {name!r} 不能用作文档名；请改名后再上传")
    if len(base) > 200:  # keep the suffix: it decides the format
        stem, suffix = Path(base).stem, Path(base).suffix[:20]
        base = stem[: 200 - len(suffix)] + suffix
    return base


def supported_formats() -> str:
    return "、".join(SUPPORTED_SUFFIXES)
