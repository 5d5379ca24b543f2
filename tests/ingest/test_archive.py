"""Zip bombs and lying archives, as real .docx files made here: refused before unpacking."""

import io
import re
import struct
import time
import zipfile
from pathlib import Path

import docx
import pytest

from zhice.ingest.archive import MAX_PACKING_RATIO, MAX_UNPACKED_BYTES
from zhice.ingest.errors import LoadError
from zhice.ingest.loaders import load

MB = 2**20
EMPTY_PARAGRAPHS = b"<w:p/>" * (MB // 6)  # a MB of what Word writes for an empty line


def real_docx() -> bytes:
    document = docx.Document()
    document.add_heading("关于加快发展的意见", level=1)
    document.add_paragraph("坚持稳中求进。")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def padded_docx(megabytes: int, level: int = 6) -> bytes:
    """A real .docx whose document.xml gains `megabytes` of empty paragraphs, streamed
    in, so that neither this test nor the file holds them: a bomb shaped like the
    3.1 MB file that expanded to 3 GiB."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(real_docx())) as src, zipfile.ZipFile(
        out, "w", zipfile.ZIP_DEFLATED, compresslevel=level
    ) as dst:
        for item in src.infolist():
            content = src.read(item)
            if item.filename != "word/document.xml":
                dst.writestr(item, content)
                continue
            head, tail = content.split(b"<w:body>")
            with dst.open("word/document.xml", "w") as f:
                f.write(head + b"<w:body>")
                for _ in range(megabytes):
                    f.write(EMPTY_PARAGRAPHS)
                f.write(tail)
    return out.getvalue()


def load_error(path: Path) -> str:
    started = time.perf_counter()
    with pytest.raises(LoadError) as info:
        load(path)
    assert time.perf_counter() - started < 1  # refused from the directory, not by reading
    return str(info.value)


def test_a_real_docx_passes_the_checks(tmp_path):
    path = tmp_path / "意见.docx"
    path.write_bytes(padded_docx(0))
    assert load(path).text == "# 关于加快发展的意见\n\n坚持稳中求进。"


def test_a_docx_that_unpacks_past_the_total_is_refused_before_it_is_read(tmp_path):
    # 210 MB at 230x from level 1: under the ratio limit, over the total one. Before,
    # the docx reader unpacked it all and parsed 37 million paragraphs.
    path = tmp_path / "炸弹.docx"
    path.write_bytes(padded_docx(210, level=1))
    assert path.stat().st_size < 2 * MB
    with zipfile.ZipFile(path) as archive:
        total = sum(item.file_size for item in archive.infolist())  # its other parts too
    assert load_error(path) == (
        f"炸弹.docx: unpacks to {total / MB:.0f} MB, more than the "
        f"{MAX_UNPACKED_BYTES // MB} MB zhice unpacks from one file (a zip bomb?); if it is "
        "a real document, save it without its pictures or split it"
    )


def test_a_docx_part_packed_past_the_ratio_is_refused(tmp_path):
    path = tmp_path / "压缩.docx"
    path.write_bytes(padded_docx(8))  # 8 MB that packs into 12 KB
    message = load_error(path)
    assert re.fullmatch(
        r"压缩\.docx: part word/document\.xml unpacks to [\d,]+ times its packed size, more "
        rf"than the {MAX_PACKING_RATIO} a real document does \(a zip bomb\?\); open and "
        r"re-save it in Word or WPS",
        message,
    )


def test_a_part_that_unpacks_past_its_declared_size_is_refused(tmp_path):
    # The directory says 1,000 bytes, the data holds 50 MB: reading it as declared,
    # zipfile inflates all 50 MB in one call before it cuts the result to size.
    data = bytearray(padded_docx(50, level=9))
    name = b"word/document.xml"
    entry = data.rfind(name) - 46  # its entry in the central directory, at the end
    assert data[entry : entry + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, entry + 24, 1000)  # the uncompressed size it declares
    path = tmp_path / "谎报.docx"
    path.write_bytes(bytes(data))
    assert load_error(path) == (
        "谎报.docx: part word/document.xml unpacks to more than the archive declares for "
        "it, so the file is damaged or made to deceive; open and re-save it, or download "
        "it again"
    )


def test_a_part_compressed_in_a_way_word_never_writes_is_refused(tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(real_docx())) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item.filename, src.read(item), compress_type=zipfile.ZIP_BZIP2)
    path = tmp_path / "bzip2.docx"
    path.write_bytes(out.getvalue())
    assert load_error(path) == (
        "bzip2.docx: part [Content_Types].xml is compressed with method 12, which Word "
        "never writes; open and re-save it in Word or WPS"
    )
