"""The images of the pages OCR read, kept beside an index so that a citation of such a
page can show the page itself (the chat page's 查看扫描原页, `zhice show-page`).

    images = PageImages(Path("idx/pages"))
    images.put(sha256, doc.page_images)     # before the file's rows are committed
    images.get(sha256, 3)                   # the JPEG, or None
    images.sweep(keep=indexed_sha256s)      # a writer: what no indexed file refers to

One folder per file version, named by the SHA-256 of the file's bytes (what every store
records as its version): `<root>/<sha256>/<page>.jpg`. A store writes a file's images
before it commits the file's rows and finds them through the SHA-256 it has committed,
so a reader never sees the images of a version it does not see, and a failed or killed
ingest leaves at most images that nothing refers to: the next writer sweeps them away.
Identical files under two names share one folder, removed when neither is indexed.
Every image is written to a temporary file and renamed into place (atomic.py).
"""

import os
import re
import shutil
from collections.abc import Iterable, Mapping
from contextlib import suppress
from pathlib import Path

from zhice.ingest.facts import DocumentFacts
from zhice.ingest.types import PageImage

from .atomic import TEMP_SUFFIX, atomic_write
from .errors import storage_failed

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SUFFIX = ".jpg"


class PageImages:
    """The page-image folder of one index (see the module's docstring). Nothing is
    created until an image is written: an index without scans has no folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def put(self, sha256: str, images: Iterable[PageImage]) -> None:
        """Keep a file version's page images; a failed write (a full disk) is
        IndexStorageError, and nothing stored before it is lost."""
        images = list(images)
        folder = self._folder(sha256)
        if not images or folder is None:
            return  # a version the store does not name by its SHA-256 keeps none
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for image in images:
                atomic_write(folder / f"{int(image.page)}{_SUFFIX}",
                             lambda f, data=image.jpeg: f.write(data))
        except OSError as e:
            raise storage_failed(self.root, e) from e

    def fill(self, sha256: str, images: Iterable[PageImage]) -> bool:
        """Keep the images an unchanged file version lacks (it was ingested before
        they were kept); whether there were any."""
        missing = [image for image in images if not self.has(sha256, image.page)]
        self.put(sha256, missing)
        return bool(missing) and self._folder(sha256) is not None

    def get(self, sha256: str, page: int) -> bytes | None:
        """The JPEG of `page` (1-based) of a file version, or None when none is kept."""
        path = self._path(sha256, page)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError:  # none kept, or not readable: either way there is nothing to show
            return None

    def has(self, sha256: str, page: int) -> bool:
        path = self._path(sha256, page)
        return path is not None and path.is_file()

    def all(self, sha256: str) -> list[PageImage]:
        """Every kept page image of a file version, by page (a rebuild or migrate copies
        them)."""
        folder = self._folder(sha256)
        if folder is None:
            return []
        pages = sorted(int(p.stem) for p in folder.glob(f"*{_SUFFIX}") if p.stem.isdigit())
        return [PageImage(page, data) for page in pages
                if (data := self.get(sha256, page)) is not None]

    def holds(self, sha256: str) -> bool:
        """Whether any image of a file version is kept."""
        folder = self._folder(sha256)
        return folder is not None and folder.is_dir()

    def drop(self, sha256: str) -> None:
        """Forget a file version's images."""
        folder = self._folder(sha256)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def sweep(self, keep: Iterable[str]) -> None:
        """Remove the images of every file version not in `keep`, and what a killed
        write left. Only a writer (holding the index's write lock) may sweep."""
        keep = set(keep)
        with suppress(OSError):  # what cannot be cleaned now is cleaned by a later writer
            for entry in self.root.iterdir() if self.root.is_dir() else ():
                if entry.is_dir() and entry.name in keep:
                    for left in entry.glob(f"*{TEMP_SUFFIX}"):
                        left.unlink(missing_ok=True)
                elif entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def lacking(self, hashes: Mapping[str, str],
                facts: Mapping[str, DocumentFacts]) -> set[str]:
        """The sources (of `hashes`: source -> SHA-256) with pages OCR read, by their
        `facts`, whose images are not kept: ingested before images were kept, or into
        another machine's folder. An ingest reads them again for their images."""
        return {source for source, sha in hashes.items()
                if (read := facts.get(source)) is not None and read.ocr_pages
                and self._count(sha) < len(read.ocr_pages)}

    def _count(self, sha256: str) -> int:
        """How many page images of a file version are kept: one listing, not a look
        at each page (an index may hold thousands of scanned pages)."""
        folder = self._folder(sha256)
        if folder is None:
            return 0
        try:
            return sum(name.endswith(_SUFFIX) for name in os.listdir(folder))
        except OSError:
            return 0

    def _path(self, sha256: str, page: int) -> Path | None:
        """Where an image is, for a well-formed version and page only: the names come
        from a browser, and must not reach any other file."""
        folder = self._folder(sha256)
        if folder is None or isinstance(page, bool) or not isinstance(page, int) or page < 1:
            return None
        return folder / f"{page}{_SUFFIX}"

    def _folder(self, sha256: object) -> Path | None:
        """A file version's folder, for a well-formed SHA-256 only: names come from a
        browser and from stores, and must not reach any other folder."""
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            return None
        return self.root / sha256
