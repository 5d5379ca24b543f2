"""OCR benchmark on scanned pages of known text (zhice.eval.scans): character accuracy
per kind of page and seconds per page as `zhice ingest` reads them; accuracy and time
at several detector sizes (ingest/ocr.py DETECT_SIDE); pages per second on the 2
cores, one file per core; and the questions of the scan answered from it and from the
same documents as text, with the default embedder.

Other processes share the machine: the load average is printed beside every timing,
and the throughput rounds interleave one and two workers, so compare within a round.

    python benchmarks/ocr_bench.py > benchmarks/results/ocr.txt
"""

import multiprocessing
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from zhice.assistant.chain import Assistant
from zhice.eval.scans import (
    QUESTIONS,
    char_accuracy,
    photograph,
    plan_text,
    scan_pages,
    scan_pdf,
)
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files
from zhice.ingest.loaders import load
from zhice.ingest.ocr import DETECT_SIDE, OCR_SIDE, OcrEngine, read_image

DETECT_SIDES = (2000, DETECT_SIDE, 960)
ROUNDS = 2


def load_average() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def bgr(image):
    import numpy as np

    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def accuracy(pages, pdf: Path) -> None:
    print(f"\n## Accuracy per kind of page: the 5-page scan read as `zhice ingest` reads it "
          f"(pages rendered to {OCR_SIDE} px, text found at {DETECT_SIDE} px, one thread)")
    times = []
    cpu = time.process_time()
    started = time.perf_counter()
    doc = load(pdf, progress=lambda done, total: times.append(
        (time.perf_counter(), time.process_time())))
    ends = [*doc.page_starts[1:], len(doc.text)]
    scores = []
    for n, (page, start, end) in enumerate(zip(pages, doc.page_starts, ends)):
        (wall0, cpu0), (wall1, cpu1) = times[n], times[n + 1]
        score = char_accuracy(doc.text[start:end], page.text)
        scores.append(score)
        print(f"  page {n + 1} {page.kind:<34} accuracy {score:.4f}  {len(page.text):4d} chars  "
              f"{wall1 - wall0:5.2f} s ({cpu1 - cpu0:5.2f} CPU-s)  {load_average()}")
    print(f"  all 5 pages: mean accuracy {sum(scores) / len(scores):.4f}, lowest {min(scores):.4f};"
          f" {time.perf_counter() - started:.1f} s, {time.process_time() - cpu:.1f} CPU-s "
          f"(models loaded in the first page's time)")
    engine = OcrEngine().load()
    for n, page in ((2, pages[1]), (5, pages[4])):
        cpu = time.process_time()
        read = read_image(photograph(page.image), "photo.jpg", engine)
        print(f"  photo of page {n} (JPEG q75, grey paper, stored sideways with EXIF): accuracy "
              f"{char_accuracy(read.text, page.text):.4f}  {time.process_time() - cpu:.2f} "
              f"CPU-s  {load_average()}")


def detector_sizes(pages) -> None:
    print("\n## Detector sizes: the longer side of the copy text is found on (crops for the "
          "recogniser always come from the 2000 px page)")
    images = [bgr(p.image) for p in pages]
    for side in DETECT_SIDES:
        engine = OcrEngine(detect_side=side).load()
        scores, cpu = [], time.process_time()
        for page, image in zip(pages, images):
            scores.append(char_accuracy(engine.read(image).text, page.text))
        cpu = time.process_time() - cpu
        print(f"  {side:4d} px: accuracy per page {' '.join(f'{s:.4f}' for s in scores)}  "
              f"{cpu / len(pages):.2f} CPU-s a page  {load_average()}"
              + ("  <- DETECT_SIDE" if side == DETECT_SIDE else ""))


def _read(pdf: str) -> int:
    return len(load(pdf).ocr_pages)


def throughput(pdf: Path) -> None:
    print("\n## Pages per second on the 2 cores: whole files, one OCR thread each, 1 or 2 "
          "files at once (separate processes, as two ingests would)")
    context = multiprocessing.get_context("spawn")
    for r in range(1, ROUNDS + 1):
        rates = {}
        for workers in (1, 2):
            before = load_average()
            with context.Pool(workers) as pool:
                pool.apply(_read, (str(pdf),))  # imports, once per process
                started = time.perf_counter()
                pages = sum(pool.map(_read, [str(pdf)] * workers))
                seconds = time.perf_counter() - started
            rates[workers] = pages / seconds
            print(f"  round {r}, {workers} file(s) at once: {pages} pages in {seconds:5.1f} s = "
                  f"{rates[workers]:.3f} pages/s  ({before} before, {load_average()} after)")
        print(f"  round {r}: two files at once read {rates[2] / rates[1]:.2f} x the pages/s of one")


def questions(pdf: Path) -> None:
    print("\n## Questions on the scan, answered from it and from the same documents as text "
          "(default embedder, extractive answers)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "scan").mkdir()
        (tmp / "text").mkdir()
        (tmp / "scan" / pdf.name).write_bytes(pdf.read_bytes())
        (tmp / "text" / "数字政府.txt").write_text(plan_text(), encoding="utf-8")
        for kind in ("scan", "text"):
            with ZhiceIndex.open(tmp / f"{kind}-index", create=True) as index:
                summary = index_files(index, [tmp / kind])
            print(f"  {kind} ingest: {summary.line()}")
        with Assistant.open(tmp / "scan-index") as scanned, \
                Assistant.open(tmp / "text-index") as typed:
            facts = scanned.index.store.facts()[pdf.name]
            print(f"  what the scan states about itself, read from OCR's text: "
                  f"{facts.summary() or '(nothing)'}; OCR pages {list(facts.ocr_pages)}")
            for question, expected, page in QUESTIONS:
                print(f"  Q: {question} (answer holds {expected}, on page {page})")
                for name, assistant in (("scan", scanned), ("text", typed)):
                    result = assistant.ask(question).to_dict()
                    cited = [(c["page"], c.get("ocr", False)) for c in result["citations"]]
                    print(f"    {name}: holds it: {expected in result['answer']}; cites (page, "
                          f"ocr) {cited}; {result['answer'][:70]}")


def main() -> None:
    started = datetime.now(UTC)
    print(f"# python benchmarks/ocr_bench.py > benchmarks/results/ocr.txt "
          f"({started:%Y-%m-%d %H:%M} UTC)")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}; shared with other jobs: see the load averages")
    pages = scan_pages()
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "数字政府.pdf"
        pdf.write_bytes(scan_pdf([p.image for p in pages]))
        accuracy(pages, pdf)
        detector_sizes(pages)
        throughput(pdf)
        questions(pdf)
    print(f"\n# done in {(datetime.now(UTC) - started).total_seconds() / 60:.1f} min")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
