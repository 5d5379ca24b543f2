"""Page images kept with the index (index/pages.py): bytes per page and encoding time at
several sizes and JPEG qualities, and whether the kept image is still legible, measured
as the character accuracy OCR reaches when it reads the kept image instead of the page.

Pages: the five scanned pages of zhice.eval.scans rendered as `zhice ingest` renders a
PDF page for OCR; the same pages with a scanner's grey paper and noise (clean drawn
pages compress better than real scans); and a phone photo of a page.

Other processes share the machine: the load average is printed beside the timings.

    python benchmarks/page_image_bench.py > benchmarks/results/page_images.txt
"""

import os
import platform
import sys
import time
from datetime import UTC, datetime

import numpy as np

from zhice.eval.scans import char_accuracy, photograph, scan_pages, scan_pdf
from zhice.ingest import ocr
from zhice.ingest.ocr import PAGE_IMAGE_QUALITY, PAGE_IMAGE_SIDE, OcrEngine, page_jpeg

SIDES = (1000, PAGE_IMAGE_SIDE, 1400)
QUALITIES = (70, PAGE_IMAGE_QUALITY, 90)


def load_average() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def rendered(images) -> list:
    """Each image put into a PDF and rendered back as ingest renders a page for OCR."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(scan_pdf(images))
    try:
        return [ocr._render(document[i]) for i in range(len(document))]
    finally:
        document.close()


def noisy(image, seed: int):
    """A page as an office scanner gives it: off-white paper, sensor noise."""
    from PIL import Image, ImageFilter

    paper = Image.new("RGB", image.size, (236, 232, 222))
    page = Image.blend(image.convert("RGB"), paper, 0.12).filter(ImageFilter.GaussianBlur(0.6))
    noise = np.random.default_rng(seed).normal(0, 6, (image.size[1], image.size[0], 1))
    return Image.fromarray(np.clip(np.asarray(page) + noise, 0, 255).astype(np.uint8))


def decoded(jpeg: bytes):
    import cv2

    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def sizes(name: str, pages: list) -> None:
    print(f"\n## {name}: KB per page (mean of {len(pages)} pages) and ms to encode one")
    print("  side  " + "".join(f"   q{q:<3}          " for q in QUALITIES) + "  PNG")
    for side in SIDES:
        row = []
        for quality in QUALITIES:
            started = time.perf_counter()
            kept = [page_jpeg(image, 0, side, quality) for image in pages]
            ms = (time.perf_counter() - started) * 1000 / len(pages)
            mark = "*" if (side, quality) == (PAGE_IMAGE_SIDE, PAGE_IMAGE_QUALITY) else " "
            row.append(f"{np.mean([len(j) for j in kept]) / 1024:6.1f} KB {ms:4.0f} ms{mark}  ")
        png = np.mean([len(_png(ocr.fit(image, side))) for image in pages]) / 1024
        print(f"  {side:4d}  " + "".join(row) + f"{png:6.1f} KB")
    print(f"  ({load_average()}; * = what zhice keeps)")


def _png(image) -> bytes:
    import cv2

    return cv2.imencode(".png", image)[1].tobytes()


def legibility(name: str, pages: list, truths: list[str], engine: OcrEngine) -> None:
    print(f"\n## {name}: OCR's character accuracy on the page as ingest reads it, and on "
          f"the kept image ({PAGE_IMAGE_SIDE} px, q{PAGE_IMAGE_QUALITY})")
    for n, (image, truth) in enumerate(zip(pages, truths), 1):
        started = time.process_time()
        page = engine.read(image)
        reading = time.process_time() - started
        started = time.process_time()
        jpeg = page_jpeg(image, page.rotation)
        keeping = time.process_time() - started
        kept = engine.read(decoded(jpeg))
        print(f"  page {n}: read from the page {char_accuracy(page.text, truth):.4f}, from "
              f"the kept image {char_accuracy(kept.text, truth):.4f}; keeping it took "
              f"{keeping * 1000:.0f} CPU-ms, {keeping / reading:.1%} of OCR's "
              f"{reading:.2f} CPU-s  ({load_average()})")


def main() -> None:
    started = time.perf_counter()
    print(f"# Page images kept with the index, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}, {load_average()}")
    scans = scan_pages()
    clean = rendered([p.image for p in scans])
    dirty = rendered([noisy(p.image, n) for n, p in enumerate(scans)])
    photo = ocr._decode_image(photograph(scans[-1].image), "photo.jpg")
    sizes("Drawn scan pages (white paper)", clean)
    sizes("The same pages with scanner paper and noise", dirty)
    sizes("A phone photo of a page (JPEG q75, grey paper)", [photo])
    engine = OcrEngine().load()
    truths = [p.text for p in scans]
    legibility("Drawn scan pages", clean, truths, engine)
    legibility("The same pages with scanner paper and noise", dirty, truths, engine)
    print(f"\n# done in {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
