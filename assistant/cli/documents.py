"""`zhice ingest`, `zhice remove`, `zhice list`, `zhice show-page`."""

import argparse
import json
import sys
import threading
from pathlib import Path

from zhice.assistant.cli.common import (
    UsageError,
    add_embedder_argument,
    add_index_argument,
    index_dir,
)

# chunk_document's defaults, shown in --help; a rebuild takes what the index recorded
CHUNK_SIZE, OVERLAP = 400, 80


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    add_index_argument(p)
    if command == "ingest":
        what = p.add_mutually_exclusive_group(required=True)
        what.add_argument("paths", nargs="*", type=Path, default=[], metavar="PATH",
                          help="files or folders (txt, md, html, pdf, docx; scans and "
                          "png/jpg images by OCR)")
        what.add_argument("--rebuild", action="store_true",
                          help="make the index again from the texts its database stores "
                          "(when it is damaged), with the embedder and chunk size it "
                          "recorded; the old one is replaced once the new one is whole")
        add_embedder_argument(p)
        p.add_argument("--chunk-size", type=int, default=None, metavar="N",
                       help=f"target characters per chunk (default {CHUNK_SIZE}; with "
                       "--rebuild, what the index was ingested with)")
        p.add_argument("--overlap", type=int, default=None, metavar="N",
                       help=f"characters of whole sentences repeated between chunks (default "
                       f"{OVERLAP}; with --rebuild, what the index was ingested with)")
        p.add_argument("--store", default=None, metavar="STORE",
                       help="where a new index lives: embedded (default: SQLite, FAISS and "
                       "BM25 in the --index folder), milvus:PATH.db (Milvus Lite) or "
                       "milvus://HOST:PORT[/NAME] (a Milvus server); recorded in the index")
        p.add_argument("--workers", type=int, default=1, metavar="N",
                       help="processes that load, chunk and embed files side by side "
                       "(default 1)")
    elif command == "remove":
        p.add_argument("sources", nargs="+", metavar="SOURCE",
                       help="document names as `zhice list` shows them")
    elif command == "list":
        p.add_argument("--json", action="store_true", help="one JSON array of documents")
    elif command == "show-page":
        p.add_argument("source", metavar="SOURCE", help="a document name as `zhice list` "
                       "shows it")
        p.add_argument("page", type=int, metavar="PAGE", help="a page OCR read (1-based)")
        p.add_argument("--out", type=Path, required=True, metavar="FILE",
                       help="where to write the page's image (JPEG)")


def run(args: argparse.Namespace) -> int:
    return {"ingest": _ingest, "remove": _remove, "list": _list,
            "show-page": _show_page}[args.command](args)


def _check_chunking(size: int, overlap: int) -> None:
    if not 0 <= overlap < size <= 4000:
        raise UsageError(
            f"need 0 <= --overlap < --chunk-size <= 4000; got --overlap {overlap}, "
            f"--chunk-size {size}"
        )


def _ingest(args: argparse.Namespace) -> int:
    if args.rebuild:
        return _rebuild(args)
    from zhice.index.pipeline import collect, index_files
    from zhice.index.stores import open_index, parse_store

    size = CHUNK_SIZE if args.chunk_size is None else args.chunk_size
    overlap = OVERLAP if args.overlap is None else args.overlap
    _check_chunking(size, overlap)
    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers must be between 1 and 64; got {args.workers}")
    parse_store(args.store)  # a typo is told before any file is read
    files, failures = collect(args.paths)
    if not files:
        for failure in failures:
            print(f"zhice: skipped {failure.reason}", file=sys.stderr)
        raise UsageError("nothing to ingest: no readable file (txt, md, html, pdf, docx, png, "
                         "jpg) among the given paths")
    with open_index(index_dir(args), embedder=args.embedder, create=True,
                    store=args.store) as index:
        with _Progress(len(files)) as progress:
            summary = index_files(index, args.paths, progress, size, overlap,
                                  workers=args.workers, pages=progress.pages)
        index.record_chunking(size, overlap)
    for failure in summary.failures:
        print(f"zhice: skipped {failure.reason}", file=sys.stderr)
    print(f"ingested into {index_dir(args)}: {summary.line()}")
    return 2 if summary.failures else 0


def _rebuild(args: argparse.Namespace) -> int:
    from zhice.index.rebuild import IndexRebuild
    from zhice.index.stores import recorded_store

    directory = index_dir(args)
    if recorded_store(directory) is not None:
        raise UsageError(f"--rebuild remakes an embedded index from its SQLite database; "
                         f"{directory} lives in Milvus, which keeps its own copies")
    with IndexRebuild(directory, embedder=args.embedder) as rebuild:
        recorded_size, recorded_overlap = rebuild.recorded_chunking()
        size = next(v for v in (args.chunk_size, recorded_size, CHUNK_SIZE) if v is not None)
        overlap = next(v for v in (args.overlap, recorded_overlap, OVERLAP) if v is not None)
        _check_chunking(size, overlap)
        with _Progress(len(rebuild.documents)) as progress:
            summary = rebuild.run(size, overlap, progress)
    for lost in summary.lost:
        print(f"zhice: could not recover {lost}", file=sys.stderr)
    if summary.kept:
        print(f"zhice: the old index is kept at {summary.kept}; delete it when done with it",
              file=sys.stderr)
    print(f"rebuilt {directory} from its stored texts: {summary.line()}")
    return 2 if summary.lost else 0


def _remove(args: argparse.Namespace) -> int:
    from zhice.index.stores import open_index

    with open_index(index_dir(args)) as index:
        known = {f.source for f in index.files()}
        missing = [s for s in args.sources if s not in known]
        with index.writing():
            for source in args.sources:
                if source in known:
                    index.remove(source)
                    print(f"removed {source}")
    for source in missing:
        print(f"zhice: {source} is not in the index; `zhice list` shows what is", file=sys.stderr)
    return 2 if missing else 0


def _show_page(args: argparse.Namespace) -> int:
    """The kept image of a page OCR read, written to --out: to check the text against."""
    from zhice.index.stores import open_index

    with open_index(index_dir(args)) as index:
        jpeg = index.page_image(args.source, args.page)
        known = jpeg is not None or args.source in index.file_hashes()
    if not known:
        raise UsageError(f"{args.source} is not in the index; `zhice list` shows what is")
    if jpeg is None:
        raise UsageError(f"no image of page {args.page} of {args.source} is kept: OCR did not "
                         "read that page, or the file was ingested before page images were "
                         "kept (ingest it again)")
    try:
        args.out.write_bytes(jpeg)
    except OSError as e:
        raise UsageError(f"cannot write {args.out} ({e.strerror}); choose another --out") from e
    print(f"page {args.page} of {args.source}: {args.out} ({len(jpeg) / 1024:.0f} KB)")
    return 0


def _list(args: argparse.Namespace) -> int:
    from zhice.index.stores import list_documents

    files = list_documents(index_dir(args))
    if args.json:
        print(json.dumps([
            {"source": f.source, "title": f.title, "chunks": f.chunks,
             "duplicates": f.duplicates, "sha256": f.sha256, "path": f.path,
             "ingested_at": f.ingested_at, "facts": f.facts.to_dict()}
            for f in files], ensure_ascii=False))
        return 0
    if not files:
        print("the index is empty; add documents with: zhice ingest PATH")
        return 0
    width = max(len(f.source) for f in files)
    for f in files:
        stated = " · ".join(x for x in (*f.facts.doc_numbers, "、".join(f.facts.issuers),
                                        f.facts.date) if x)
        ocr = f"  [OCR: {len(f.facts.ocr_pages)} pages]" if f.facts.ocr_pages else ""
        print(f"{f.source:<{width}}  {f.chunks:>5} chunks  {f.title}"
              + (f"  ({stated})" if stated else "") + ocr)
    print(f"{len(files)} documents, {sum(f.chunks for f in files)} chunks")
    return 0


class _Progress:
    """A progress bar on a terminal (files, chunks, rate, time left), and one for the
    pages of a scan while OCR reads it; silent otherwise."""

    def __init__(self, total: int):
        self.total = total
        self.chunks = 0
        self._bar = None
        self._ocr = None  # the task of the scan being read, and its source
        self._ocr_source = ""
        self._lock = threading.Lock()  # pages() runs in the loading thread

    def __enter__(self) -> "_Progress":
        if sys.stderr.isatty() and self.total:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[what]}"), TimeRemainingColumn(),
                TextColumn("{task.fields[current]}"),
                console=Console(stderr=True), transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("ingest", total=self.total, what="files",
                                            current="")
        return self

    def pages(self, source: str, done: int, total: int) -> None:
        """OCR's progress on a scan (called from the loading thread)."""
        if self._bar is None:
            return
        with self._lock:
            if self._ocr is not None and done == 0:  # the next scan: its own rate and time
                self._drop_ocr()
            if self._ocr is None:
                self._ocr = self._bar.add_task("OCR", total=total, what="pages",
                                               current=source)
                self._ocr_source = source
            self._bar.update(self._ocr, total=total, completed=done, current=source)
            if done == total:
                self._drop_ocr()

    def _drop_ocr(self) -> None:
        self._bar.remove_task(self._ocr)
        self._ocr = None

    def __call__(self, source: str, result) -> None:
        if result:
            self.chunks += result.chunks
        with self._lock:
            if self._ocr is not None and self._ocr_source == source:  # failed half way
                self._drop_ocr()
        if self._bar is not None:
            task = self._bar.tasks[0]
            elapsed = task.elapsed or 1e-9
            self._bar.update(self._task, advance=1, current=source,
                             what=f"files · {self.chunks} chunks · "
                             f"{self.chunks / elapsed:.1f} chunks/s")

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

