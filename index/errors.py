"""Errors of the index stage, and the messages of the ones about its storage."""

import errno
from pathlib import Path

from zhice.ingest.errors import ZhiceError


class IndexNotFoundError(ZhiceError):
    """No index at the given directory."""


class IndexMismatchError(ZhiceError):
    """The index was built with another embedder (or another schema) than this run uses."""


class IndexBusyError(ZhiceError):
    """Another process is writing to the index."""


class EmbedderError(ZhiceError):
    """An embedder could not be made, loaded or used."""


class IndexCorruptError(ZhiceError):
    """The index's SQLite database is damaged: rebuild it, or ingest the files again."""


class IndexReadOnlyError(ZhiceError):
    """A change was asked of an index this process cannot write."""


class IndexStorageError(ZhiceError):
    """The disk filled up or failed while the index was read or written."""


class IndexReplacedError(ZhiceError):
    """Another process put a new index where this one was opened (`zhice ingest
    --rebuild`): what this process holds is the old one."""


def replaced(directory: Path) -> IndexReplacedError:
    return IndexReplacedError(
        f"the index at {directory} was rebuilt or replaced by another process since this one "
        "opened it; restart (zhice serve, zhice mcp) to read the new index",
        zh=f"索引 {directory} 已被另一个进程重建或替换；请重新启动服务后再用。")


def damaged(directory: Path, detail: str) -> IndexCorruptError:
    """`detail` is SQLite's word for what is wrong (its first line)."""
    detail = " ".join(detail.split())[:120]
    return IndexCorruptError(
        f"the index database in {directory} is damaged ({detail}); rebuild the index from "
        f"the texts it stores with: zhice ingest --rebuild --index {directory} "
        "(or ingest the files again into a new --index DIR)",
        zh=f"索引 {directory} 的数据库已损坏（{detail}）：用 zhice ingest --rebuild --index "
        f"{directory} 从其中保存的文本重建，或把文件重新导入一个新的索引目录",
    )


def read_only_folder(directory: Path) -> IndexReadOnlyError:
    return IndexReadOnlyError(
        f"the index folder {directory} is read-only: it can be searched but not changed; "
        "copy it somewhere writable, or make it writable, to ingest or remove documents",
        zh=f"索引目录 {directory} 是只读的：可以检索，不能修改；要导入或删除文档，"
        "请把它复制到可写的位置，或改为可写",
    )


def storage_failed(directory: Path, error: OSError) -> ZhiceError:
    """The message of a failed write: a full disk (ENOSPC, a quota), a read-only
    folder, or another I/O error in the system's own words."""
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return read_only_folder(directory)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        # SQLite rolls back what it could not commit, and FAISS and BM25 files are
        # replaced only once whole (atomic.py): the database and files stay as they were
        return IndexStorageError(
            f"no space left on the disk holding {directory}; free space and run the "
            "command again: nothing stored was lost",
            zh=f"索引 {directory} 所在的磁盘已满：请腾出空间后重试，已保存的内容没有丢失",
        )
    why = error.strerror or str(error)
    return IndexStorageError(
        f"cannot read or write the index at {directory} ({why}); check the disk, then run "
        "the command again",
        zh=f"无法读写索引 {directory}（{why}）：请检查磁盘后重试",
    )


class StoreSpecError(ZhiceError):
    """A --store or --index that names no store zhice knows."""


class MilvusUnavailableError(ZhiceError):
    """The Milvus server (or the pymilvus client) cannot be reached or loaded."""
