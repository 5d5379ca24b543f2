"""The collections of a Milvus index and the reads and writes on them, through pymilvus.

The same client code talks to Milvus Lite (`milvus:PATH.db`, one local file) and to a
Milvus server or cluster (`milvus://HOST:PORT[/NAME]`). Five collections, named
`NAME_meta`, `NAME_files`, `NAME_texts`, `NAME_chunks`, `NAME_df` (NAME defaults to
`zhice`):

- meta: the `info` row (embedder, dim, tokenizer, schema, chunking), the `state` row
  (what readers see: milvus.py) and a server's `writer` lease.
- files: one row per file version: source, path, SHA-256, title, facts, counts.
- texts: each file version's loaded text, in parts (a VARCHAR holds 64 KiB).
- chunks: text, search key, heading, offsets, page, hash, title, our BM25 tokens by
  line, the dense vector, and `terms`: the same tokens as words of a-z letters, from
  which Milvus's BM25 function makes the sparse vector it searches.
- df: how many chunks hold each term (the re-ranker's term weights), kept by the
  writer: terms fall into DF_BUCKETS buckets by their word, and a bucket's row holds
  the counts of its words as JSON twice, before and after the batch that wrote it last
  (`batch`): a reader takes the after when its view shows that batch committed.

Every row of files, texts and chunks carries its file version (an integer, also the
high bits of its ids); a read or search shows only the versions `View` admits. Milvus
requires a vector field in every collection: meta, files, texts and df carry a 2-d
placeholder.
"""

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np

from zhice.ingest.facts import DocumentFacts
from zhice.ingest.types import Chunk

from .errors import (
    IndexBusyError,
    IndexMismatchError,
    IndexNotFoundError,
    MilvusUnavailableError,
)
from .milvus_spec import MilvusSpec, token
from .rwlock import file_locked
from .store import FileRecord, StoredChunk, join_lines, split_lines

MILVUS_SCHEMA = "m2"
# How BM25 terms are made, recorded in the index: a collection written another way is
# refused. Our jieba tokens (segment.py) each become 12 letters a-z (SHA-256, base 26):
# one word to any analyzer (Milvus Lite's standard `\w+`, the server's grammar-based
# standard tokenizer), so Milvus counts exactly the embedded BM25's tokens.
TOKENIZER = "zhice-jieba/sha256-base26x12/standard"
ANALYZER = {"tokenizer": "standard"}
TEXT_PART = 16_000  # characters of a file's text per row: 4 bytes each fit 64 KiB
MAX_VARCHAR = 65_535
ORDINAL_BITS = 20  # chunk id = version << 20 | ordinal; text part id likewise
BATCH = 500  # rows per insert, get or upsert
# df buckets: a batch rewrites the buckets of the words it adds or removes (nearly all of
# them), so a few thousand rows of a few KB; a bucket's JSON (~19 characters a word) must
# fit a VARCHAR: room for ~14 million words in all
DF_BUCKETS = 4096
MAX_TOPK = 16_384  # the most rows a Milvus search returns
_PLACEHOLDER = [1.0, 0.0]
_CHUNK_FIELDS = ["id", "source", "ordinal", "text", "key", "heading", "start_offset",
                 "end_offset", "page", "title", "hash", "lines"]
LITE_LOCK = "LOCK"  # milvus_lite.db.LOCK_FILENAME


@dataclass(frozen=True)
class View:
    """The rows a reader sees: file versions up to `through` but those `hidden` (replaced
    or removed, not yet deleted); the df as of the last batch up to `through`."""

    through: int = 0
    hidden: frozenset[int] = frozenset()

    @classmethod
    def of(cls, state: dict) -> "View":
        return cls(int(state["through"]), frozenset(state["hidden"]))

    def expr(self) -> str:
        hidden = f" and version not in [{', '.join(map(str, sorted(self.hidden)))}]"
        return f"version <= {self.through}" + (hidden if self.hidden else "")

    def admits(self, version: int) -> bool:
        return version <= self.through and version not in self.hidden


_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


@lru_cache(maxsize=1 << 20)
def term_word(token: str) -> str:
    """A BM25 token as 12 letters a-z (56 bits of its SHA-256): what Milvus indexes."""
    n = int.from_bytes(hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()[:8])
    letters = []
    for _ in range(12):
        n, r = divmod(n, 26)
        letters.append(_ALPHABET[r])
    return "".join(letters)


def terms_text(tokens: Iterable[str]) -> str:
    return " ".join(map(term_word, tokens))


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)


def _and(*parts: str) -> str:
    return " and ".join(f"({p})" for p in parts if p)


def _in(field: str, values: Iterable) -> str:
    return f"{field} in [{', '.join(quote(v) if isinstance(v, str) else str(v) for v in values)}]"


# Milvus Lite serves one process; within it, one server per file, shared by every
# MilvusStore of that file and released when the last one closes.
_lite_users: dict[str, int] = {}
_lite_guard = threading.Lock()


class MilvusStore:
    """The collections of one Milvus index (see the module's docstring)."""

    def __init__(self, spec: MilvusSpec):
        self.spec = spec
        self.client = None
        self.meta_name, self.files_name, self.texts_name, self.chunks_name, self.df_name = (
            f"{spec.name}_{part}" for part in ("meta", "files", "texts", "chunks", "df"))

    @property
    def names(self) -> tuple[str, ...]:
        return (self.meta_name, self.files_name, self.texts_name, self.chunks_name,
                self.df_name)

    # connecting ---------------------------------------------------------------------
    def connect(self) -> "MilvusStore":
        """Connect; a missing Lite folder, a Lite file another process has open or a
        server that does not answer is a one-line ZhiceError naming the address."""
        # gRPC's C core logs Milvus Lite's answer to pymilvus's keep-alive pings, and
        # pymilvus warns that Lite gives no MVCC timestamp to iterators: noise to a user
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
        try:
            from pymilvus import MilvusClient
        except ImportError as e:
            raise MilvusUnavailableError(
                "the Milvus store needs pymilvus and milvus-lite: pip install 'zhice[milvus]'"
            ) from e
        logging.getLogger("pymilvus").setLevel(logging.ERROR)  # pymilvus sets its own on import
        # pymilvus checks each VARCHAR value of a row insert character by character (it
        # walks the string as if it were a list of strings): a fifth of an ingest's time
        # here. Milvus, Lite and server, checks every value against max_length itself.
        from pymilvus.client import entity_helper

        entity_helper.CHECK_STR_ARRAY = False
        if self.spec.lite:
            self._check_lite()
        try:
            self.client = MilvusClient(uri=self.spec.uri, token=token(), timeout=10)
        except Exception as e:
            if self.spec.lite:
                self._release_lite()
            raise MilvusUnavailableError(
                f"cannot reach Milvus at {self.spec} ({_reason(e)}); start it, or check the "
                "address and $ZHICE_MILVUS_TOKEN") from e
        return self

    def _check_lite(self) -> None:
        path = Path(self.spec.uri)
        if not path.parent.is_dir():
            raise IndexNotFoundError(
                f"no folder {path.parent} for the Milvus Lite file {path.name}; create it first")
        if path.exists() and not path.is_dir():
            raise IndexNotFoundError(f"{path} is a file, not a Milvus Lite database")
        with _lite_guard:
            users = _lite_users.get(self.spec.uri, 0)
            if not users and file_locked(path / LITE_LOCK):
                raise IndexBusyError(
                    f"another process has {self.spec} open (Milvus Lite serves one process at "
                    "a time); stop it (zhice serve?) or use a Milvus server for several")
            _lite_users[self.spec.uri] = users + 1

    def _release_lite(self) -> None:
        with _lite_guard:
            users = _lite_users.get(self.spec.uri, 0) - 1
            if users > 0:
                _lite_users[self.spec.uri] = users
                return
            _lite_users.pop(self.spec.uri, None)
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(self.spec.uri)

    def close(self) -> None:
        if self.client is None:
            return
        self.client = None  # pymilvus shares the connection among clients of one address
        if self.spec.lite:
            self._release_lite()

    def exists(self) -> bool:
        """Whether the collections are there; loaded (searchable) when they are."""
        if not all(self.client.has_collection(n) for n in self.names):
            return False
        for name in self.names:
            self.client.load_collection(name)  # a no-op when loaded already
        return True

    def create(self, dim: int) -> None:
        """Make the collections (a Lite file or server without them)."""
        from pymilvus import DataType, Function, FunctionType

        c = self.client
        varchar = {"datatype": DataType.VARCHAR, "max_length": MAX_VARCHAR}

        def schema(primary: str, kind, **fields):
            s = c.create_schema(auto_id=False, enable_dynamic_field=False)
            s.add_field(primary, kind, is_primary=True,
                        **({"max_length": 64} if kind == DataType.VARCHAR else {}))
            for name, params in fields.items():
                s.add_field(name, **params)
            return s

        def index_params(**vectors):
            params = c.prepare_index_params()
            for field, (kind, metric, extra) in vectors.items():
                params.add_index(field_name=field, index_type=kind, metric_type=metric,
                                 params=extra)
            return params

        placeholder = {"v": {"datatype": DataType.FLOAT_VECTOR, "dim": 2}}
        flat = index_params(v=("FLAT", "IP", {}))
        integer = {"datatype": DataType.INT64}
        version = {"version": integer}  # every row of files, texts and chunks carries it
        self._create(self.meta_name, schema("key", DataType.VARCHAR, value=varchar,
                                            **placeholder), flat)
        self._create(self.files_name, schema(
            "version", DataType.INT64, source=varchar, path=varchar, title=varchar,
            sha256={**varchar, "max_length": 64}, ingested_at={**varchar, "max_length": 32},
            facts=varchar, chunks=integer, duplicates=integer, parts=integer, **placeholder),
            index_params(v=("FLAT", "IP", {})))
        self._create(self.texts_name, schema("id", DataType.INT64, **version, part=integer,
                                             text=varchar, **placeholder),
                     index_params(v=("FLAT", "IP", {})))
        self._create(self.df_name, schema("bucket", DataType.INT64, before=varchar,
                                          after=varchar, batch=integer, **placeholder),
                     index_params(v=("FLAT", "IP", {})))

        s = schema("id", DataType.INT64, **version, hash={**varchar, "max_length": 64},
                   **{name: varchar for name in ("source", "text", "key", "heading", "title",
                                                 "lines")},
                   **{name: integer for name in ("ordinal", "start_offset", "end_offset",
                                                 "page")})
        s.add_field("terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True,
                    enable_match=True, analyzer_params=ANALYZER)
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        s.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                input_field_names=["terms"], output_field_names=["sparse"]))
        # exact search on Lite (rank parity with the embedded store); HNSW on a server
        dense = (("FLAT", "IP", {}) if self.spec.lite
                 else ("HNSW", "IP", {"M": 16, "efConstruction": 200}))
        from .bm25 import Bm25Index

        reference = Bm25Index(str.split)  # the embedded store's k1 and b
        sparse = ("SPARSE_INVERTED_INDEX", "BM25",
                  {"bm25_k1": reference.k1, "bm25_b": reference.b,
                   "inverted_index_algo": "TAAT_NAIVE"})  # exact; the only one Lite has
        self._create(self.chunks_name, s, index_params(vector=dense, sparse=sparse))

    def _create(self, name: str, schema, index_params) -> None:
        if self.client.has_collection(name):
            return
        self.client.create_collection(name, schema=schema, consistency_level="Strong")
        # Milvus Lite builds an index at once and has no AllocTimestamp, which pymilvus's
        # wait for an index to be built calls (logging an error, then sleeping)
        self.client.create_index(name, index_params, sync=not self.spec.lite)
        self.client.load_collection(name)

    def drop(self) -> None:
        for name in reversed(self.names):
            if self.client.has_collection(name):
                self.client.drop_collection(name)

    def check(self, info: dict) -> None:
        """IndexMismatchError unless the info row and the chunks collection are of the
        format this zhice reads and writes: its schema, its BM25 tokenizer, and `terms`
        analysed as it makes them (a collection of the same name made otherwise, by hand
        or by another tool, would rank differently)."""
        if info.get("schema") != MILVUS_SCHEMA:
            raise IndexMismatchError(
                f"index at {self.spec} has Milvus schema {info.get('schema')}; this zhice "
                f"reads {MILVUS_SCHEMA}: ingest the documents again into a new --index")
        if info.get("tokenizer") != TOKENIZER:
            raise IndexMismatchError(
                f"index at {self.spec} was built with BM25 tokenizer "
                f"'{info.get('tokenizer')}'; this zhice searches with '{TOKENIZER}': ingest "
                "the documents again into a new --index")
        fields = {f["name"]: f for f in self.client.describe_collection(
            self.chunks_name).get("fields", [])}
        analyzer = fields.get("terms", {}).get("params", {}).get("analyzer_params")
        if isinstance(analyzer, str):
            analyzer = json.loads(analyzer)
        if analyzer != ANALYZER or "sparse" not in fields:
            raise IndexMismatchError(
                f"the collection {self.chunks_name} at {self.spec} analyses its terms with "
                f"{analyzer}, not {ANALYZER}: it was not made by this zhice; use a new --index")

    # meta ---------------------------------------------------------------------------
    def get_meta(self, key: str) -> dict | None:
        rows = self.client.get(self.meta_name, ids=[key], output_fields=["value"])
        return json.loads(rows[0]["value"]) if rows else None

    def put_meta(self, key: str, value: dict) -> None:
        self.client.upsert(self.meta_name, [{"key": key, "value": json.dumps(
            value, ensure_ascii=False), "v": _PLACEHOLDER}])

    def delete_meta(self, key: str) -> None:
        self.client.delete(self.meta_name, ids=[key])

    # reading ------------------------------------------------------------------------
    def visible_files(self, view: View, source: str | None = None,
                      fields: tuple[str, ...] = ("source", "sha256", "title")) -> list[dict]:
        """The visible version of each file (of `source` only, when given)."""
        expr = _and(view.expr(), f"source == {quote(source)}" if source else "")
        return list(self._scan(self.files_name, expr, ["version", *fields]))

    def files(self, view: View) -> list[FileRecord]:
        rows = self.visible_files(view, fields=("source", "path", "sha256", "title", "chunks",
                                                "duplicates", "ingested_at", "facts"))
        return sorted((_record(r) for r in rows), key=lambda r: r.source)

    def facts(self, view: View) -> dict[str, DocumentFacts]:
        return {r["source"]: DocumentFacts.from_dict(json.loads(r["facts"]))
                for r in self.visible_files(view, fields=("source", "facts")) if r["facts"]}

    def file_text(self, view: View, source: str) -> str | None:
        rows = self.visible_files(view, source, fields=("parts",))
        if not rows:
            return None
        version, parts = rows[0]["version"], rows[0]["parts"]
        ids = [(version << ORDINAL_BITS) | n for n in range(parts)]
        got = {r["part"]: r["text"] for r in self._get(self.texts_name, ids, ["part", "text"])}
        return "".join(got[n] for n in range(parts))

    def _get(self, collection: str, ids: list, fields: list[str]) -> Iterator[dict]:
        """Rows by primary key, BATCH at a time: what Milvus (Lite above all) answers
        fastest."""
        for i in range(0, len(ids), BATCH):
            yield from self.client.get(collection, ids=ids[i:i + BATCH], output_fields=fields)

    def _chunk_rows(self, ids: Iterable[int], view: View, fields: list[str]) -> Iterator[dict]:
        for r in self._get(self.chunks_name, [int(i) for i in ids], [*fields, "version"]):
            if view.admits(r["version"]):
                yield r

    def chunks(self, ids: Iterable[int], view: View) -> dict[int, StoredChunk]:
        return {r["id"]: _stored(r) for r in self._chunk_rows(ids, view, _CHUNK_FIELDS)}

    def sources(self, ids: Iterable[int], view: View) -> dict[int, str]:
        return {r["id"]: r["source"] for r in self._chunk_rows(ids, view, ["id", "source"])}

    def document_chunks(self, view: View, source: str) -> list[StoredChunk]:
        rows = self._scan(self.chunks_name, _and(view.expr(), f"source == {quote(source)}"),
                          _CHUNK_FIELDS)
        return sorted((_stored(r) for r in rows), key=lambda s: s.chunk.ordinal)

    def version_words(self, version: int) -> list[set[str]]:
        """The set of BM25 words of each chunk of one file version (its df share)."""
        rows = self._scan(self.chunks_name, f"version == {version}", ["terms"])
        return [set(r["terms"].split()) for r in rows]

    def df(self, tokens: list[str], view: View) -> dict[str, int]:
        """Chunks holding each token, as of the view's last batch."""
        words = {t: term_word(t) for t in tokens}
        counts = self.df_buckets(sorted({df_bucket(w) for w in words.values()}), view.through)
        return {t: counts[df_bucket(w)].get(w, 0) for t, w in words.items()}

    def df_buckets(self, buckets: list[int], through: int) -> dict[int, dict[str, int]]:
        """The word counts of these buckets as of the last batch up to `through`."""
        out = {b: {} for b in buckets}
        for r in self._get(self.df_name, buckets, ["bucket", "before", "after", "batch"]):
            out[r["bucket"]] = json.loads(r["after"] if r["batch"] <= through else r["before"])
        return out

    def dense_search(self, vector: np.ndarray, k: int, view: View) -> list[tuple[int, float]]:
        params = {"metric_type": "IP"}
        if not self.spec.lite:
            params["params"] = {"ef": max(64, k)}
        hits = self.client.search(self.chunks_name, data=[np.asarray(vector, np.float32).tolist()],
                                  anns_field="vector", limit=k, filter=view.expr(),
                                  search_params=params, output_fields=["id"])[0]
        return [(int(h["id"]), float(h["distance"])) for h in hits]

    def bm25_search(self, tokens: list[str], k: int, view: View) -> list[tuple[int, float]]:
        """Chunk ids by Milvus's BM25 over the terms field, best first, ties by smaller
        id as the embedded BM25 breaks them. Milvus Lite reports -score as the distance,
        a server the score: either way the score is its absolute value."""
        if not tokens:
            return []
        hits = self.client.search(self.chunks_name, data=[terms_text(tokens)],
                                  anns_field="sparse", limit=min(k + 10, MAX_TOPK),
                                  filter=view.expr(),
                                  search_params={"metric_type": "BM25"}, output_fields=["id"])[0]
        ranked = sorted(((int(h["id"]), abs(float(h["distance"]))) for h in hits),
                        key=lambda x: (-x[1], x[0]))
        return [(cid, s) for cid, s in ranked if s > 0][:k]

    def _scan(self, collection: str, expr: str, fields: list[str]) -> Iterator[dict]:
        """Every matching row: a server's query answers at most 16,384, so there a batch
        at a time; Milvus Lite answers all at once, and has no query iterator (it cannot
        give the timestamp one starts from)."""
        if self.spec.lite:
            yield from self.client.query(collection, filter=expr, output_fields=fields)
            return
        it = self.client.query_iterator(collection, batch_size=1000, filter=expr,
                                        output_fields=fields)
        try:
            while batch := it.next():
                yield from batch
        finally:
            it.close()

    # writing ------------------------------------------------------------------------
    def insert(self, collection: str, rows: list[dict]) -> None:
        # insert, not upsert: a version's rows are new (its number comes from the state
        # row), and an upsert looks each key up first
        for i in range(0, len(rows), BATCH):
            self.client.insert(collection, rows[i:i + BATCH])

    def file_rows(self, version: int, source: str, path: str, sha256: str, title: str,
                  text: str, facts: DocumentFacts, chunks: int, duplicates: int
                  ) -> tuple[dict, list[dict]]:
        """A file version's row and its text's rows."""
        parts = [text[i:i + TEXT_PART] for i in range(0, len(text), TEXT_PART)] or [""]
        texts = [{"id": (version << ORDINAL_BITS) | n, "version": version, "part": n,
                  "text": part, "v": _PLACEHOLDER} for n, part in enumerate(parts)]
        return {"version": version, "source": source, "path": path, "sha256": sha256,
                "title": title, "ingested_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                "facts": json.dumps(facts.to_dict(), ensure_ascii=False), "chunks": chunks,
                "duplicates": duplicates, "parts": len(parts), "v": _PLACEHOLDER}, texts

    @staticmethod
    def chunk_rows(version: int, chunks: list[Chunk], title: str,
                   tokens: list[list[list[str]]], vectors: np.ndarray) -> list[dict]:
        """A file version's chunk rows; a chunk's id is its version and ordinal."""
        if any(c.ordinal >= 1 << ORDINAL_BITS for c in chunks):
            raise ValueError(f"{chunks[0].source}: more than {1 << ORDINAL_BITS} chunks")
        return [{"id": (version << ORDINAL_BITS) | c.ordinal, "version": version, "hash": c.id,
                 "source": c.source, "text": c.text, "key": c.key, "heading": c.heading,
                 "title": title, "lines": join_lines(toks), "ordinal": c.ordinal,
                 "start_offset": c.start, "end_offset": c.end,
                 "page": -1 if c.page is None else c.page,
                 "terms": terms_text(t for line in toks for t in line),
                 "vector": np.asarray(vec, np.float32).tolist()}
                for c, toks, vec in zip(chunks, tokens, vectors)]

    def delete_versions(self, versions: Iterable[int]) -> None:
        """Every row of these file versions; files last: it is what finds the others."""
        versions = sorted(set(versions))
        if versions:
            self._delete_rows(_in("version", versions))

    def delete_after(self, through: int) -> None:
        """What a writer killed mid-batch left: rows of versions never committed, and
        df rows it wrote for them (their counts before it stand again)."""
        self._delete_rows(f"version > {through}")
        rows = list(self._scan(self.df_name, f"batch > {through}", ["bucket", "before"]))
        self._put_df([(r["bucket"], r["before"], r["before"], 0) for r in rows])

    def _delete_rows(self, expr: str) -> None:
        for name in (self.chunks_name, self.texts_name, self.files_name):
            self.client.delete(name, filter=expr)

    def write_df(self, batch: int, through: int, changes: dict[str, int]) -> None:
        """Write the df of the words `changes` moves, as before and after `batch` (not
        yet committed: readers go on seeing the before)."""
        by_bucket: dict[int, dict[str, int]] = {}
        for w, n in changes.items():
            if n:
                by_bucket.setdefault(df_bucket(w), {})[w] = n
        rows = []
        for bucket, before in self.df_buckets(sorted(by_bucket), through).items():
            after = dict(before)
            for w, n in by_bucket[bucket].items():
                after[w] = after.get(w, 0) + n
                if not after[w]:
                    del after[w]
            rows.append((bucket, _json(before), _json(after), batch))
        self._put_df(rows)

    def _put_df(self, rows: list[tuple[int, str, str, int]]) -> None:
        for bucket, before, after, _ in rows:
            if max(len(before), len(after)) > MAX_VARCHAR:
                raise MilvusUnavailableError(
                    f"df bucket {bucket} of {self.spec} outgrew a VARCHAR: the vocabulary "
                    f"is past what {DF_BUCKETS} buckets hold")
        data = [{"bucket": b, "before": before, "after": after, "batch": batch,
                 "v": _PLACEHOLDER} for b, before, after, batch in rows]
        for i in range(0, len(data), BATCH):
            self.client.upsert(self.df_name, data[i:i + BATCH])

    def flush(self) -> None:
        for name in self.names:
            self.client.flush(name)


def df_bucket(word: str) -> int:
    """The df bucket of a BM25 word: its letters, the digits of a hash, mod DF_BUCKETS."""
    n = 0
    for c in word[:4]:
        n = n * 26 + ord(c) - 97
    return n % DF_BUCKETS


def _json(counts: dict[str, int]) -> str:
    return json.dumps(counts, separators=(",", ":"), sort_keys=True)


def _stored(r: dict) -> StoredChunk:
    return StoredChunk(r["id"], Chunk(
        r["source"], r["ordinal"], r["text"], r["key"], r["heading"], r["start_offset"],
        r["end_offset"], None if r["page"] < 0 else r["page"], r["title"], r["hash"]),
        split_lines(r["lines"]))


def _record(r: dict) -> FileRecord:
    facts = DocumentFacts.from_dict(json.loads(r["facts"])) if r["facts"] else DocumentFacts()
    return FileRecord(r["source"], r["path"], r["sha256"], r["title"], r["chunks"],
                      r["duplicates"], r["ingested_at"], facts)


def _reason(error: Exception) -> str:
    """pymilvus's message without its class dressing, on one line."""
    message = getattr(error, "message", None) or str(error)
    return " ".join(str(message).split())[:160]
