"""Okapi BM25 over segmented text: sparse postings, stable integer ids, incremental, one file.

    index = Bm25Index(ChineseSegmenter().load())
    index.add([7, 9], [search_key(a), search_key(b)])
    index.search(search_key("新质生产力"), k=5)   # [(9, 3.21), (7, 0.88)]
    index.save("bm25.npz", meta={"generation": 3})
    index = Bm25Index.load("bm25.npz", tokenizer)

Postings are a term-major CSR matrix of term frequencies over document slots (the "base"),
plus pending documents added since the last `compact()`. A removal only marks its slot
dead and takes the document out of N and avgdl; while dead slots remain, a query term's
df is counted over its live postings. Scores always equal those of a fresh index built
from the surviving documents.

At a million chunks the postings are ~10^8 entries and the vocabulary millions of terms:
nothing per document or per term is kept in Python objects unless a change needs it.
The file's vocabulary is sorted, and a loaded index looks terms up by bisection in it;
the term -> id dict and the id -> slot map are built by the first add or remove. A
removal never needs a document-major copy. Term frequencies are stored as uint16.
"""

from __future__ import annotations

import json
import math
import mmap
import operator
import os
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from zhice.index.atomic import atomic_write

FORMAT_VERSION = 2  # 2: vocabulary sorted, tf as uint16; 1 (unsorted) is still read
_READABLE = (1, 2)
_TF_MAX = np.iinfo(np.uint16).max
_MAGIC = "zhice-bm25"
_FILE_KEYS = tuple("magic version params vocab n_terms indptr indices data ids dl meta".split())
# Pending documents are merged into the base once they reach this many, or 1/32 of the
# base: each merge costs O(postings), so the amortised cost per added document stays flat.
_PENDING_MIN = 10_000
_PENDING_RATIO = 32
# Dead slots still cost query time; merge them out once they are this many and a
# quarter of the live documents.
_DEAD_MIN = 10_000

Tokenizer = Callable[[str], list[str]]
MetaValue = str | int


class Bm25FormatError(ValueError):
    """A BM25 index file that cannot be read: corrupt, truncated or another format version."""


@dataclass(frozen=True)
class _View:
    """Per-slot arrays for queries, rebuilt lazily after a change (not per query)."""

    ids: np.ndarray  # int64, slot -> document id
    alive: np.ndarray  # bool
    norm: np.ndarray  # float64, k1 * (1 - b + b * dl / avgdl)
    pending: sp.csr_array  # terms x slots, only pending columns filled


def _empty_csr(n_rows: int, n_cols: int) -> sp.csr_array:
    return sp.csr_array((n_rows, n_cols), dtype=np.uint16)


def _int32(m: sp.csr_array) -> sp.csr_array:
    """The matrix with int32 index arrays when they fit: scipy widens them to int64
    whenever one input is, doubling the largest array of the index."""
    if m.indices.dtype == np.int32 and m.indptr.dtype == np.int32:
        return m
    if max(m.nnz, *m.shape) >= np.iinfo(np.int32).max:
        return m
    return sp.csr_array((m.data, m.indices.astype(np.int32), m.indptr.astype(np.int32)),
                        shape=m.shape)


def _map_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed .npz, mapped from the file rather than copied.

    np.load copies every array through zipfile in 256 KB pieces: ~1 s a GB. Mapped,
    a reader's pages come from the page cache as queries touch them; each member's
    CRC-32 is still checked (zlib, outside the GIL, while jieba loads beside it).
    """
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        if not infos:
            return {}
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(buf)
        out = {}
        for info in infos:
            name = info.filename.removesuffix(".npy")
            if info.compress_type != zipfile.ZIP_STORED:  # not written by save(): copy it
                with zf.open(info) as member:
                    out[name] = np.lib.format.read_array(member, allow_pickle=False)
                continue
            # the local header's name and extra field lengths can differ from the
            # central directory's: the data starts after the local ones
            name_len, extra_len = struct.unpack("<HH", buf[info.header_offset + 26 :
                                                           info.header_offset + 30])
            start = info.header_offset + 30 + name_len + extra_len
            if zlib.crc32(view[start : start + info.compress_size]) != info.CRC:
                raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
            f.seek(start)
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            if dtype.hasobject:
                raise ValueError(f"{info.filename} holds Python objects")
            count = math.prod(shape)
            if f.tell() + count * dtype.itemsize > start + info.compress_size:
                raise ValueError(f"{info.filename} is shorter than its header says")
            out[name] = np.ndarray(shape, dtype, buffer=buf, offset=f.tell(),
                                   order="F" if fortran else "C")
        return out


def _starts_of(blob: bytes, n_terms: int) -> np.ndarray:
    """Where each term of a NUL-joined vocabulary starts, plus one past the end."""
    if not n_terms:
        return np.zeros(1, np.int64)
    nul = np.flatnonzero(np.frombuffer(blob, np.uint8) == 0)
    return np.concatenate([[0], nul + 1, [len(blob) + 1]]).astype(np.int64)


def _pad_rows(m: sp.csr_array, n_rows: int) -> sp.csr_array:
    """The same matrix with empty rows appended up to n_rows (new vocabulary)."""
    extra = n_rows - m.shape[0]
    if extra == 0:
        return m
    indptr = np.concatenate([m.indptr, np.full(extra, m.indptr[-1], dtype=m.indptr.dtype)])
    return sp.csr_array((m.data, m.indices, indptr), shape=(n_rows, m.shape[1]))


def _check_meta(meta: dict[str, MetaValue]) -> dict[str, MetaValue]:
    for key, value in meta.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(
                f"meta must map str to str or int; got {key!r}: {value!r} ({type(value).__name__})"
            )
    return dict(meta)


class Bm25Index:
    """Okapi BM25 with stable integer ids; the tokenizer (a segmenter) is passed in."""

    def __init__(self, tokenizer: Tokenizer, k1: float = 1.5, b: float = 0.75) -> None:
        if not k1 >= 0:
            raise ValueError(f"k1 must be >= 0. Currently, k1 is {k1}")
        if not 0 <= b <= 1:
            raise ValueError(f"b must be between 0 and 1. Currently, b is {b}")
        self.tokenizer = tokenizer
        self.k1 = float(k1)
        self.b = float(b)
        self.meta: dict[str, MetaValue] = {}
        # the vocabulary: a list and a dict while it changes; as saved, a sorted blob
        self._term_list: list[str] | None = []
        self._term_map: dict[str, int] | None = {}
        self._blob = b""  # sorted terms, UTF-8, NUL-joined: valid while _blob_current
        self._starts = np.zeros(1, np.int64)
        self._blob_current = True
        self._df = np.zeros(0, dtype=np.int64)  # postings per term, dead slots included
        self._base = _empty_csr(0, 0)
        self._base_ids = np.zeros(0, dtype=np.int64)
        self._base_dl = np.zeros(0, dtype=np.int64)
        self._base_alive = np.ones(0, dtype=bool)
        self._pending_ids: list[int] = []
        self._pending_terms: list[np.ndarray] = []
        self._pending_tfs: list[np.ndarray] = []
        self._pending_dl: list[int] = []
        self._pending_alive: list[bool] = []
        self._slot_map: dict[int, int] | None = {}  # live documents only; None: not built
        self._n_live = 0
        self._total_dl = 0
        self._n_dead = 0
        self._pending_csr: sp.csr_array | None = None  # cache for queries
        self._view: _View | None = None

    # -- size and membership ------------------------------------------------------------

    def __len__(self) -> int:
        return self._n_live

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, int | np.integer) and int(doc_id) in self._slot_of

    def ids(self) -> np.ndarray:
        """The live document ids, sorted (int64)."""
        pending_ids = np.array(self._pending_ids, dtype=np.int64)
        pending_alive = np.array(self._pending_alive, dtype=bool)
        return np.sort(np.concatenate([self._base_ids[self._base_alive],
                                       pending_ids[pending_alive]]))

    def df(self, token: str) -> int:
        """How many live documents hold `token` (0 for an unknown token)."""
        t = self._term_id(token)
        if t is None:
            return 0
        if not self._n_dead:
            return int(self._df[t])
        view = self._get_view()
        return int(sum(view.alive[slots].sum() for slots in self._postings(t, view)[0]))

    # -- changes --------------------------------------------------------------------------

    def add(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        """Tokenise and add documents; an id already in the index raises ValueError."""
        new_ids = self._check_new_ids(ids, len(texts))
        self._add(new_ids, [self.tokenizer(text) for text in texts])

    def add_tokens(self, ids: Sequence[int], token_lists: Sequence[Sequence[str]]) -> None:
        """Add already tokenised documents."""
        self._add(self._check_new_ids(ids, len(token_lists)), token_lists)

    def remove(self, ids: Iterable[int]) -> None:
        """Remove documents; ids not in the index are ignored."""
        slot_of = self._slot_of
        slots = [slot_of.pop(i) for i in map(int, ids) if i in slot_of]
        if not slots:
            return
        n_base = len(self._base_ids)
        for slot in slots:
            if slot < n_base:
                self._base_alive[slot] = False
                self._total_dl -= int(self._base_dl[slot])
            else:
                p = slot - n_base
                self._pending_alive[p] = False
                self._total_dl -= self._pending_dl[p]
        self._n_dead += len(slots)
        self._n_live -= len(slots)
        self._view = None
        if self._n_dead >= max(_DEAD_MIN, self._n_live // 4):
            self.compact()

    def compact(self) -> None:
        """Merge pending documents into the base and drop removed ones and unused terms."""
        if not self._pending_ids and not self._n_dead:
            return
        n_terms = len(self._df)
        merged = sp.hstack([_pad_rows(self._base, n_terms), self._pending_matrix(0)], format="csr")
        ids = np.concatenate([self._base_ids, np.array(self._pending_ids, dtype=np.int64)])
        dl = np.concatenate([self._base_dl, np.array(self._pending_dl, dtype=np.int64)])
        if self._n_dead:
            keep = np.flatnonzero(np.concatenate([self._base_alive, self._pending_alive]))
            merged, ids, dl = merged[:, keep], ids[keep], dl[keep]
            self._df = np.diff(merged.indptr).astype(np.int64)  # dead postings are gone
        used = self._df > 0
        if not used.all():
            merged = merged[np.flatnonzero(used)]
            self._term_list = [t for t, u in zip(self._terms, used.tolist(), strict=True) if u]
            self._term_map = None
            self._blob_current = False
            self._df = self._df[used]
        self._set_base(_int32(sp.csr_array(merged)), ids, dl)

    # -- queries --------------------------------------------------------------------------

    def search(self, query_text: str, k: int) -> list[tuple[int, float]]:
        """The k best (id, score) pairs for a query, best first, ties by smaller id."""
        return self.search_tokens(self.tokenizer(query_text), k)

    def search_tokens(self, tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Like `search` for a tokenised query; a repeated token counts once per occurrence."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
            raise ValueError(f"k must be an integer greater than 0. Currently, k is {k!r}")
        n_live = self._n_live
        if not n_live:
            return []
        view = self._get_view()
        k1p1 = self.k1 + 1.0
        slot_parts, weight_parts = [], []
        dfs: dict[int, int] = {}
        for token in tokens:
            t = self._term_id(token)
            if t is None or self._df[t] == 0:
                continue
            postings, tfs = self._postings(t, view)
            if t not in dfs:
                dfs[t] = (sum(int(view.alive[p].sum()) for p in postings) if self._n_dead
                          else int(self._df[t]))
            df = dfs[t]
            if not df:
                continue
            idf = math.log(1.0 + (n_live - df + 0.5) / (df + 0.5))
            for slots, tf in zip(postings, tfs):
                tf = tf.astype(np.float64)  # float32 * python float stays float32
                slot_parts.append(slots)
                weight_parts.append(idf * tf * k1p1 / (tf + view.norm[slots]))
        if not slot_parts:
            return []
        slots = np.concatenate(slot_parts)
        weights = np.concatenate(weight_parts)
        # bincount adds in input order, i.e. query-token order per slot, in both branches:
        # scores are bit-identical whatever the slot layout.
        if len(slots) * 8 < len(view.ids):
            cand, inverse = np.unique(slots, return_inverse=True)
            scores = np.bincount(inverse, weights=weights)
        else:
            scores = np.bincount(slots, weights=weights, minlength=len(view.ids))
            cand = np.flatnonzero(scores)
            scores = scores[cand]
        keep = view.alive[cand] & (scores > 0)
        ids, scores = view.ids[cand[keep]], scores[keep]
        if len(scores) > k:
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            top = scores >= kth  # all ties at the cut, so the id tie-break below is exact
            ids, scores = ids[top], scores[top]
        order = np.lexsort((ids, -scores))[:k]
        return list(zip(ids[order].tolist(), scores[order].tolist(), strict=True))

    # -- persistence ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], meta: dict[str, MetaValue] | None = None) -> None:
        """Compact, then write one .npz file atomically; `meta` (else `self.meta`) goes along."""
        if meta is not None:
            self.meta = _check_meta(meta)
        self.compact()
        self._sort_vocabulary()
        data = self._base.data
        if data.dtype != np.uint16 and (not len(data) or data.max() <= _TF_MAX):
            data = data.astype(np.uint16)  # a version 1 index, loaded
        arrays = {
            "magic": np.array(_MAGIC),
            "version": np.array(FORMAT_VERSION),
            "params": np.array([self.k1, self.b]),
            # NUL-joined UTF-8 rather than a fixed-width unicode array: one long token
            # would otherwise widen every vocabulary entry to its length.
            "vocab": np.frombuffer(self._blob, dtype=np.uint8),
            "n_terms": np.array(len(self._df)),
            "indptr": self._base.indptr,
            "indices": self._base.indices,
            "data": data,
            "ids": self._base_ids,
            "dl": self._base_dl,
            "meta": np.frombuffer(json.dumps(self.meta).encode("utf-8"), dtype=np.uint8),
        }
        atomic_write(path, lambda f: np.savez(f, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike[str], tokenizer: Tokenizer) -> Bm25Index:
        """Read an index written by `save`; raises Bm25FormatError if it is not one."""
        path = Path(path)
        try:
            z = _map_npz(path)
            missing = [key for key in _FILE_KEYS if key not in z]
            if missing:
                raise Bm25FormatError(f"missing arrays {missing}")
            return cls._from_arrays({key: z[key] for key in _FILE_KEYS}, tokenizer)
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            raise
        # _map_npz checks each member's CRC, so damaged data surfaces here as
        # BadZipFile; damaged zip or array headers raise the others.
        except (
            Bm25FormatError,
            OSError,
            ValueError,
            TypeError,
            EOFError,
            KeyError,
            UnicodeDecodeError,
            NotImplementedError,
            struct.error,
            zipfile.BadZipFile,
        ) as exc:
            raise Bm25FormatError(
                f"{path} is not a readable BM25 index ({exc}); delete it and rebuild the index"
            ) from exc

    @classmethod
    def _from_arrays(cls, a: dict[str, np.ndarray], tokenizer: Tokenizer) -> Bm25Index:
        if a["magic"].shape != () or str(a["magic"]) != _MAGIC:
            raise Bm25FormatError("not a zhice BM25 index file")
        version = int(a["version"])
        if version not in _READABLE:
            raise Bm25FormatError(
                f"format version {version}, this zhice reads versions "
                f"{', '.join(map(str, _READABLE))}"
            )
        k1, b = (float(x) for x in a["params"])
        n_terms = int(a["n_terms"])
        blob = a["vocab"].tobytes()
        starts = _starts_of(blob, n_terms)
        indptr, indices, data = a["indptr"], a["indices"], a["data"]
        ids, dl = a["ids"].astype(np.int64), a["dl"].astype(np.int64)
        n_docs = len(ids)
        if (
            len(starts) != n_terms + 1
            or indptr.shape != (n_terms + 1,)
            or indptr[0] != 0
            or np.any(np.diff(indptr) < 0)
            or not indptr[-1] == len(indices) == len(data)
            or (len(indices) and (indices.min() < 0 or indices.max() >= n_docs))
            or dl.shape != (n_docs,)
            or np.any(dl < 0)
        ):
            raise Bm25FormatError("inconsistent postings arrays")
        meta = json.loads(a["meta"].tobytes().decode("utf-8"))
        index = cls(tokenizer, k1=k1, b=b)
        if not isinstance(meta, dict):
            raise Bm25FormatError("meta is not a JSON object")
        index.meta = _check_meta(meta)
        if version == 1:  # unsorted: looked up through the dict
            index._term_list = blob.decode("utf-8").split("\0") if n_terms else []
            index._term_map = None
            index._blob_current = False
            if len(index._vocab) != n_terms:
                raise Bm25FormatError("duplicate vocabulary entries")
        else:
            index._term_list = index._term_map = None
            index._blob, index._starts, index._blob_current = blob, starts, True
        index._df = np.diff(indptr).astype(np.int64)  # base holds no dead slots after compact
        if n_docs and (np.diff(ids) <= 0).any() and len(np.unique(ids)) != n_docs:
            raise Bm25FormatError("duplicate document ids")
        index._set_base(sp.csr_array((data, indices, indptr), shape=(n_terms, n_docs)), ids, dl)
        return index

    # -- internals ------------------------------------------------------------------------

    def _check_new_ids(self, ids: Sequence[int], n_docs: int) -> list[int]:
        new_ids = [operator.index(i) for i in ids]
        if len(new_ids) != n_docs:
            raise ValueError(f"got {len(new_ids)} ids for {n_docs} documents; pass one id each")
        if len(set(new_ids)) != len(new_ids):
            dups = sorted(i for i, c in Counter(new_ids).items() if c > 1)
            raise ValueError(f"ids repeated within one add: {dups[:5]}")
        present = [i for i in new_ids if i in self._slot_of]
        if present:
            raise ValueError(
                f"ids already in the index: {present[:5]}; remove them first to replace them"
            )
        return new_ids

    def _add(self, ids: list[int], token_lists: Sequence[Sequence[str]]) -> None:
        vocab, terms = self._vocab, self._terms
        n_known = len(terms)
        doc_terms, doc_tfs, doc_dl = [], [], []
        for tokens in token_lists:
            counts = Counter(tokens)
            row = list(map(vocab.get, counts))  # C-speed; new tokens come back as None
            if None in row:
                for j, token in enumerate(counts):
                    if row[j] is None:
                        if not isinstance(token, str) or "\0" in token:
                            for new in terms[n_known:]:
                                del vocab[new]
                            del terms[n_known:]
                            raise ValueError(f"tokens must be strings without NUL; got {token!r}")
                        row[j] = vocab[token] = len(terms)
                        terms.append(token)
                        self._blob_current = False
            doc_terms.append(np.array(row, dtype=np.int32))
            tfs = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
            doc_tfs.append(tfs.astype(np.uint16 if len(tfs) and tfs.max() <= _TF_MAX
                                      else np.float32))
            doc_dl.append(len(tokens))
        if len(self._df) < len(terms):
            self._df = np.concatenate([self._df, np.zeros(len(terms) - len(self._df), np.int64)])
        if doc_terms:
            self._df += np.bincount(np.concatenate(doc_terms), minlength=len(self._df))
        start = len(self._base_ids) + len(self._pending_ids)
        self._slot_of.update(zip(ids, range(start, start + len(ids)), strict=True))
        self._n_live += len(ids)
        self._pending_ids += ids
        self._pending_terms += doc_terms
        self._pending_tfs += doc_tfs
        self._pending_dl += doc_dl
        self._pending_alive += [True] * len(ids)
        self._total_dl += sum(doc_dl)
        self._pending_csr = self._view = None
        if len(self._pending_ids) >= max(_PENDING_MIN, len(self._base_ids) // _PENDING_RATIO):
            self.compact()

    def _pending_matrix(self, col_offset: int) -> sp.csr_array:
        """Pending documents as terms x (col_offset + pending) CSR, pending in the last columns."""
        n_cols = col_offset + len(self._pending_ids)
        if not self._pending_ids:
            return _empty_csr(len(self._df), n_cols)
        lengths = [len(t) for t in self._pending_terms]
        rows = np.concatenate(self._pending_terms)
        cols = np.repeat(np.arange(col_offset, n_cols, dtype=np.int64), lengths)
        data = np.concatenate(self._pending_tfs)
        return _int32(sp.csr_array((data, (rows, cols)), shape=(len(self._df), n_cols)))

    def _set_base(self, base: sp.csr_array, ids: np.ndarray, dl: np.ndarray) -> None:
        self._base = base
        self._base_ids, self._base_dl = ids, dl
        self._base_alive = np.ones(len(ids), dtype=bool)
        self._pending_ids, self._pending_terms, self._pending_tfs = [], [], []
        self._pending_dl, self._pending_alive = [], []
        self._slot_map = None  # built by the first change that needs it
        self._n_live = len(ids)
        self._total_dl = int(dl.sum())
        self._n_dead = 0
        self._pending_csr = self._view = None

    @property
    def _terms(self) -> list[str]:
        """Term id -> term; built from the saved vocabulary on first use."""
        if self._term_list is None:
            self._term_list = self._blob.decode("utf-8").split("\0") if len(self._df) else []
        return self._term_list

    @property
    def _vocab(self) -> dict[str, int]:
        """Term -> term id, for changes; built on first use."""
        if self._term_map is None:
            self._term_map = {t: i for i, t in enumerate(self._terms)}
        return self._term_map

    def _term_id(self, token: str) -> int | None:
        if self._term_map is not None or not self._blob_current:
            return self._vocab.get(token)
        # bisection in the sorted blob: UTF-8 bytes sort as the strings do
        key, blob, starts = token.encode("utf-8", "surrogatepass"), self._blob, self._starts
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if blob[starts[mid] : starts[mid + 1] - 1] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(starts) - 1 and blob[starts[lo] : starts[lo + 1] - 1] == key:
            return lo
        return None

    def _sort_vocabulary(self) -> None:
        """Renumber terms in sorted order (rows of the base follow) and write the blob;
        call after compact(), when no pending document refers to a term id."""
        if self._blob_current:
            return
        terms = self._terms
        # the terms saved last time are still in order: Timsort merges in the new ones
        order = sorted(range(len(terms)), key=terms.__getitem__)
        if any(i != j for i, j in enumerate(order)):
            perm = np.asarray(order, dtype=np.int64)
            self._base = _int32(sp.csr_array(self._base[perm]))
            self._df = self._df[perm]
            terms = self._term_list = [terms[i] for i in order]
            self._term_map = None
            self._pending_csr = self._view = None
        self._blob = "\0".join(terms).encode("utf-8")
        self._starts = _starts_of(self._blob, len(terms))
        self._blob_current = True

    @property
    def _slot_of(self) -> dict[int, int]:
        """Live document id -> slot; built on first use (a reader never needs it)."""
        if self._slot_map is None:
            alive = np.concatenate([self._base_alive, np.array(self._pending_alive, dtype=bool)])
            ids = np.concatenate([self._base_ids, np.array(self._pending_ids, dtype=np.int64)])
            slots = np.flatnonzero(alive)
            self._slot_map = dict(zip(ids[slots].tolist(), slots.tolist(), strict=True))
        return self._slot_map

    def _postings(self, t: int, view: _View) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Term t's postings as (slot arrays, tf arrays), base then pending."""
        slots, tfs = [], []
        for m in (self._base, view.pending):
            if t >= m.shape[0]:
                continue
            lo, hi = m.indptr[t], m.indptr[t + 1]
            if lo != hi:
                slots.append(m.indices[lo:hi])
                tfs.append(m.data[lo:hi])
        return slots, tfs

    def _get_view(self) -> _View:
        if self._pending_csr is None:
            self._pending_csr = self._pending_matrix(len(self._base_ids))
        if self._view is None:
            n_live = self._n_live
            avgdl = self._total_dl / n_live if self._total_dl else 1.0
            dl = np.concatenate([self._base_dl, np.array(self._pending_dl, dtype=np.int64)])
            self._view = _View(
                ids=np.concatenate([self._base_ids, np.array(self._pending_ids, dtype=np.int64)]),
                alive=np.concatenate([self._base_alive, np.array(self._pending_alive, dtype=bool)]),
                norm=self.k1 * (1.0 - self.b + self.b * dl / avgdl),
                pending=self._pending_csr,
            )
        return self._view
