"""The images of the pages OCR read, kept with the index (index/pages.py): found by a
document's name and page, gone with its file (removed, replaced, swept after a failed
ingest), carried by a rebuild and a migrate, and the same in Milvus Lite; scans made
here, ingested into a real index, keep images of their own pages, and text PDFs none."""

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.index.test_index import share_segmenter
from tests.ingest.test_ocr import text_pdf
from zhice.assistant.cli import main
from zhice.eval.scans import photograph, scan_pages, scan_pdf
from zhice.index.index import ZhiceIndex
from zhice.index.pages import PageImages
from zhice.index.pipeline import index_files
from zhice.index.rebuild import IndexRebuild
from zhice.ingest.chunker import ChunkedDocument, chunk_document
from zhice.ingest.types import LoadedDocument, PageImage, content_hash

SHA = {name: content_hash(name) for name in ("v1", "v2", "v3")}  # stand-ins for file hashes


@pytest.fixture(autouse=True)
def _fast_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    share_segmenter(monkeypatch)


def jpeg(label: str, size: tuple[int, int] = (300, 420)) -> bytes:
    """A real JPEG of a page with `label` drawn on it."""
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((20, 20), label, fill="black")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def scanned_doc(source: str, images: dict[int, bytes] | None = None,
                pages: tuple[int, ...] = (1, 2)) -> ChunkedDocument:
    """A two-page document whose `pages` OCR read; `images` what it kept of them (None:
    as a document ingested before images were kept)."""
    text = f"{source}的第一页。各部门要认真贯彻落实。\n\n{source}的第二页。市财政每年安排专项资金。"
    kept = tuple(PageImage(p, data) for p, data in sorted((images or {}).items()))
    return chunk_document(LoadedDocument(source, text, page_starts=(0, text.index("\n\n") + 2),
                                         ocr_pages=pages, page_images=kept))


def open_index(directory: Path) -> ZhiceIndex:
    return ZhiceIndex.open(directory, embedder="fake", create=True)


# --- the embedded store -----------------------------------------------------------


def test_images_are_found_by_name_and_page_and_go_with_their_file(tmp_path: Path):
    one, two, three = jpeg("v1 p1"), jpeg("v1 p2"), jpeg("v2 p1")
    with open_index(tmp_path / "idx") as index:
        index.add(scanned_doc("扫描件.pdf", {1: one, 2: two}), SHA["v1"], "扫描件.pdf")
        index.add(chunk_document(LoadedDocument("文字.txt", "一段文字。")), SHA["v3"], "文字.txt")
        assert (index.page_image("扫描件.pdf", 1), index.page_image("扫描件.pdf", 2)) == (one, two)
        assert index.page_image("扫描件.pdf", 3) is None
        assert index.page_image("文字.txt", 1) is None
        assert index.page_image("没有的.pdf", 1) is None
        assert (tmp_path / "idx" / "pages" / SHA["v1"] / "1.jpg").read_bytes() == one

        # a changed file: its new images replace the old ones
        index.add(scanned_doc("扫描件.pdf", {1: three}, pages=(1,)), SHA["v2"], "扫描件.pdf")
        assert index.page_image("扫描件.pdf", 1) == three
        assert index.page_image("扫描件.pdf", 2) is None
        assert [p.name for p in (tmp_path / "idx" / "pages").iterdir()] == [SHA["v2"]]

        index.remove("扫描件.pdf")
        assert index.page_image("扫描件.pdf", 1) is None
        assert list((tmp_path / "idx" / "pages").iterdir()) == []


def test_an_index_without_scans_has_no_image_folder(tmp_path: Path):
    with open_index(tmp_path / "idx") as index:
        index.add(chunk_document(LoadedDocument("文字.txt", "一段文字。")), SHA["v1"], "文字.txt")
    assert not (tmp_path / "idx" / "pages").exists()


def test_identical_files_under_two_names_share_their_images(tmp_path: Path):
    image = jpeg("shared")
    with open_index(tmp_path / "idx") as index:
        index.add(scanned_doc("甲.pdf", {1: image}, (1,)), SHA["v1"], "甲.pdf")
        index.add(scanned_doc("乙.pdf", {1: image}, (1,)), SHA["v1"], "乙.pdf")
        index.remove("甲.pdf")
        assert index.page_image("乙.pdf", 1) == image
        index.remove("乙.pdf")
        assert not index.pages.holds(SHA["v1"])


def test_images_of_an_ingest_that_failed_are_swept_by_the_next_writer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    kept = jpeg("kept")
    with open_index(tmp_path / "idx") as index:
        index.add(scanned_doc("甲.pdf", {1: kept}, (1,)), SHA["v1"], "甲.pdf")
        with monkeypatch.context() as m:
            def fail(*_):
                raise OSError("the disk went away")

            m.setattr(index.store, "insert_file", fail)
            with pytest.raises(OSError):
                index.add(scanned_doc("乙.pdf", {1: jpeg("orphan")}, (1,)), SHA["v2"], "乙.pdf")
        # written before the rows that failed: nothing refers to them, nobody sees them
        assert index.pages.holds(SHA["v2"]) and index.page_image("乙.pdf", 1) is None
        (tmp_path / "idx" / "pages" / SHA["v1"] / ".2.jpg.0badf00d.tmp").write_bytes(b"half")
        with index.writing():
            pass
        pages = tmp_path / "idx" / "pages"
        assert sorted(str(p.relative_to(pages)) for p in pages.rglob("*")) == [
            SHA["v1"], f"{SHA['v1']}/1.jpg"]
        assert index.page_image("甲.pdf", 1) == kept


def test_a_scan_indexed_before_images_were_kept_gains_them_when_added_again(tmp_path: Path):
    image = jpeg("p1")
    with open_index(tmp_path / "idx") as index:
        index.add(scanned_doc("甲.pdf", None, (1,)), SHA["v1"], "甲.pdf")
        index.add(chunk_document(LoadedDocument("文字.txt", "一段文字。")), SHA["v2"], "文字.txt")
        assert index.lacking_page_images() == {"甲.pdf"}
        result = index.add(scanned_doc("甲.pdf", {1: image}, (1,)), SHA["v1"], "甲.pdf")
        assert (result.status, result.chunks) == ("updated", 0)
        assert index.page_image("甲.pdf", 1) == image and index.lacking_page_images() == set()
        again = index.add(scanned_doc("甲.pdf", {1: image}, (1,)), SHA["v1"], "甲.pdf")
        assert again.status == "unchanged"


def test_a_rebuild_carries_the_images_of_its_documents(tmp_path: Path):
    one, two = jpeg("p1"), jpeg("p2")
    with open_index(tmp_path / "idx") as index:
        index.add(scanned_doc("甲.pdf", {1: one, 2: two}), SHA["v1"], "甲.pdf")
        index.pages.put(SHA["v2"], [PageImage(1, jpeg("orphan"))])  # a killed ingest's
    with IndexRebuild(tmp_path / "idx") as rebuild:
        rebuild.run()
    with ZhiceIndex.open(tmp_path / "idx") as index:
        assert (index.page_image("甲.pdf", 1), index.page_image("甲.pdf", 2)) == (one, two)
        assert not index.pages.holds(SHA["v2"])
        assert index.files()[0].facts.ocr_pages == (1, 2)


@pytest.mark.parametrize(("version", "page"), [
    ("../" * 3 + "etc", 1), (SHA["v1"].upper(), 1), (SHA["v1"] + "/..", 1), ("", 1),
    (SHA["v1"], 0), (SHA["v1"], -1), (SHA["v1"], True), (SHA["v1"], "1"), (SHA["v1"], 1.0),
    (None, 1),
])
def test_names_that_are_no_version_and_page_reach_no_file(tmp_path: Path, version, page):
    images = PageImages(tmp_path / "pages")
    images.put(SHA["v1"], [PageImage(1, b"kept")])
    (tmp_path / "etc.jpg").write_bytes(b"secret")
    assert images.get(version, page) is None
    assert images.get(SHA["v1"], 1) == b"kept"


# --- Milvus Lite ------------------------------------------------------------------


@pytest.mark.slow
def test_milvus_keeps_images_beside_its_file_and_a_migrate_copies_them(tmp_path: Path):
    pytest.importorskip("milvus_lite")
    from zhice.index.migrate import migrate
    from zhice.index.milvus_spec import parse_milvus
    from zhice.index.stores import open_index as open_any

    one, two = jpeg("v1"), jpeg("v2")
    where = f"milvus:{tmp_path / 'lite.db'}"
    with open_any(where, embedder="fake", create=True) as index, index.writing():
        index.add(scanned_doc("甲.pdf", {1: one}, (1,)), SHA["v1"], "甲.pdf")
        index.add(scanned_doc("乙.pdf", {1: one}, (1,)), SHA["v1"], "乙.pdf")
        index.add(scanned_doc("丙.pdf", None, (1,)), SHA["v3"], "丙.pdf")
    folder = tmp_path / "lite.db.pages"
    with open_any(where) as index:
        assert index.page_image("甲.pdf", 1) == one and index.page_image("乙.pdf", 2) is None
        assert index.lacking_page_images() == {"丙.pdf"}
        with index.writing():
            index.add(scanned_doc("甲.pdf", {1: two}, (1,)), SHA["v2"], "甲.pdf")
            index.remove("乙.pdf")
        assert index.page_image("甲.pdf", 1) == two and index.page_image("乙.pdf", 1) is None
        assert sorted(p.name for p in folder.iterdir()) == [SHA["v2"]]

    with open_index(tmp_path / "idx") as index:
        index.add(scanned_doc("甲.pdf", {1: one, 2: two}), SHA["v1"], "甲.pdf")
    migrate(tmp_path / "idx", parse_milvus(f"milvus:{tmp_path / 'copy.db'}"))
    with open_any(f"milvus:{tmp_path / 'copy.db'}") as index:
        assert (index.page_image("甲.pdf", 1), index.page_image("甲.pdf", 2)) == (one, two)


# --- scans made here, through the whole ingest --------------------------------------


def similarity(kept: bytes, page) -> float:
    """How alike a kept image and a page image look: 1 - mean absolute difference of
    their grey thumbnails (0-1)."""
    import numpy as np

    def thumb(image):
        return np.asarray(image.convert("L").resize((60, 85)), np.float32) / 255

    return 1 - float(np.abs(thumb(Image.open(io.BytesIO(kept))) - thumb(page)).mean())


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory):
    """A folder with a two-page scan (its second page fed in sideways), a photographed
    page and a text PDF, ingested into an index; then the folder is deleted, as an
    upload's temporary copy is. (index folder, the pages as drawn, the upright pages)"""
    root = tmp_path_factory.mktemp("page-images")
    docs = root / "docs"
    docs.mkdir()
    drawn = scan_pages()
    (docs / "扫描件.pdf").write_bytes(scan_pdf([drawn[1].image, drawn[3].image]))
    (docs / "照片.jpg").write_bytes(photograph(drawn[4].image))
    (docs / "文字.pdf").write_bytes(text_pdf(["临江市人民政府关于加强政务公开工作的通知"]))
    with pytest.MonkeyPatch.context() as mp:
        share_segmenter(mp)
        with open_index(root / "idx") as index:
            summary = index_files(index, [docs])
    assert (summary.added, summary.failures) == (3, [])
    shutil.rmtree(docs)
    upright = [drawn[1].image, drawn[3].image.rotate(-90, expand=True), drawn[4].image]
    return root / "idx", drawn, upright


@pytest.mark.slow
def test_each_page_ocr_read_is_kept_as_a_legible_jpeg_of_that_page(scans):
    directory, _, upright = scans
    with ZhiceIndex.open(directory) as index:
        kept = [index.page_image("扫描件.pdf", 1), index.page_image("扫描件.pdf", 2),
                index.page_image("照片.jpg", 1)]
        assert index.page_image("扫描件.pdf", 3) is None
        text_pdf = index.file_hashes()["文字.pdf"]
        assert index.page_image("文字.pdf", 1) is None and not index.pages.holds(text_pdf)
    for n, data in enumerate(kept):
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and max(image.size) == 1200
        assert image.size[1] > image.size[0]  # upright, the sideways page too
        image.load()
        assert 20_000 < len(data) < 250_000
        own = similarity(data, upright[n])
        assert all(own > similarity(data, other) for i, other in enumerate(upright) if i != n)


@pytest.mark.slow
def test_a_changed_scan_replaces_its_images_and_zhice_remove_drops_them(scans, tmp_path,
                                                                        capsys):
    directory, drawn, _ = scans
    copy = tmp_path / "idx"
    shutil.copytree(directory, copy)
    with ZhiceIndex.open(copy) as index:
        old = index.file_hashes()["扫描件.pdf"]
    changed = tmp_path / "docs"
    changed.mkdir()
    (changed / "扫描件.pdf").write_bytes(scan_pdf([drawn[2].image]))
    assert main(["ingest", str(changed), "--index", str(copy)]) == 0
    out = tmp_path / "page.jpg"
    assert main(["show-page", "扫描件.pdf", "1", "--index", str(copy), "--out", str(out)]) == 0
    assert similarity(out.read_bytes(), drawn[2].image) > similarity(out.read_bytes(),
                                                                     drawn[1].image)
    with ZhiceIndex.open(copy) as index:
        new = index.file_hashes()["扫描件.pdf"]
        assert index.page_image("扫描件.pdf", 2) is None
        assert not index.pages.holds(old) and index.pages.holds(new)
    capsys.readouterr()
    assert main(["show-page", "扫描件.pdf", "2", "--index", str(copy), "--out", str(out)]) == 2
    assert "no image of page 2 of 扫描件.pdf is kept" in capsys.readouterr().err

    assert main(["remove", "扫描件.pdf", "--index", str(copy)]) == 0
    with ZhiceIndex.open(copy) as index:
        assert not index.pages.holds(new) and index.page_image("照片.jpg", 1) is not None
    capsys.readouterr()
    assert main(["show-page", "扫描件.pdf", "1", "--index", str(copy), "--out", str(out)]) == 2
    assert capsys.readouterr().err == ("zhice: 扫描件.pdf is not in the index; `zhice list` "
                                       "shows what is\n")


@pytest.mark.slow
def test_a_scan_ingested_before_images_were_kept_is_read_again_for_them(scans, tmp_path):
    directory, drawn, _ = scans
    copy = tmp_path / "idx"
    shutil.copytree(directory, copy)
    with ZhiceIndex.open(copy) as index:
        index.pages.drop(index.file_hashes()["照片.jpg"])  # as an older zhice left it
        assert index.lacking_page_images() == {"照片.jpg"}
        docs = tmp_path / "docs"
        docs.mkdir()
        (docs / "照片.jpg").write_bytes(photograph(drawn[4].image))
        summary = index_files(index, [docs / "照片.jpg"])
        assert (summary.added, summary.updated, summary.chunks) == (0, 1, 0)
        assert index.page_image("照片.jpg", 1) is not None
        assert index.lacking_page_images() == set()
