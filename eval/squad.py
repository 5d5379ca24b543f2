"""Passage-retrieval benchmarks from SQuAD-format reading-comprehension sets.

Each question was written against one paragraph, so that paragraph is its gold
passage: the corpus is every paragraph (one document each, named by its id) and a
retrieved passage is gold when it comes from the question's paragraph. Retrieval is
scored on the paragraph id, never on the answer text, which often also occurs in
other paragraphs (about 1 in 5 CMRC questions). The answers become the question's
keywords (any one of them), so keyword accuracy says whether the extractive answer
holds the answer span.

    bench = load_benchmark("cmrc", benchmarks_dir(), questions=500)
    with open_index(tmp, create=True) as index:
        ingest_paragraphs(index, bench.paragraphs)
    with Assistant.open(tmp) as assistant:
        for run in bench.runs:
            results = run_questions(assistant, run.questions)

Known benchmarks (BENCHMARKS): `cmrc` is CMRC 2018 (simplified script), corpus = all
dev and trial paragraphs, questions from dev; `drcd` is DRCD (traditional script),
corpus = the dev paragraphs, its questions asked twice, as written and converted to
simplified script, which tests script normalisation. Any other value is read as the
path of a SQuAD v1 JSON file: corpus = its paragraphs, questions from it.
"""

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from zhice.index.contract import SearchIndex
from zhice.ingest.chunker import chunk_document
from zhice.ingest.normalize import to_simplified
from zhice.ingest.types import LoadedDocument

from .dataset import DatasetError, Evidence, Question

BENCHMARKS_ENV = "ZHICE_BENCHMARKS"
DEFAULT_QUESTIONS = 500
# Questions that only make sense beside their paragraph ("文中提到的…"): counted, kept.
_CONTEXT_WORDS = ("文中", "本文", "文章中", "上文", "该文")


@dataclass(frozen=True)
class _Spec:
    """A named benchmark: files (relative to the benchmarks folder) for the corpus,
    the file the questions come from, and whether to ask them in simplified too."""

    corpus: tuple[str, ...]
    questions: str
    simplified: bool
    about: str


BENCHMARKS: dict[str, _Spec] = {
    "cmrc": _Spec(("cmrc2018/cmrc2018_dev.json", "cmrc2018/cmrc2018_trial.json"),
                  "cmrc2018/cmrc2018_dev.json", False,
                  "CMRC 2018: dev + trial paragraphs, dev questions, simplified script"),
    "drcd": _Spec(("drcd/DRCD_dev.json",), "drcd/DRCD_dev.json", True,
                  "DRCD: dev paragraphs (traditional script), dev questions as written "
                  "and in simplified script"),
}


class BenchmarkError(DatasetError):
    """A benchmark name or file that cannot be used; says what was expected."""


@dataclass(frozen=True)
class Paragraph:
    """One passage of the corpus: `id` becomes the document's source name."""

    id: str
    title: str
    context: str
    file: str


@dataclass(frozen=True)
class BenchmarkRun:
    """One set of questions over the corpus, e.g. DRCD's questions in simplified script."""

    name: str
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Benchmark:
    """The corpus and the question runs of one benchmark, with notes for the report."""

    name: str
    about: str
    paragraphs: tuple[Paragraph, ...]
    runs: tuple[BenchmarkRun, ...]
    notes: tuple[str, ...] = ()


def benchmarks_dir(project_root: Path | None = None) -> Path:
    """$ZHICE_BENCHMARKS, else ../shared/benchmarks beside the project folder: the source
    checkout this module runs from, or, installed, the current folder."""
    if os.environ.get(BENCHMARKS_ENV):
        return Path(os.environ[BENCHMARKS_ENV]).expanduser()
    if project_root is None:
        checkout = Path(__file__).resolve().parents[1]
        project_root = checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()
    return project_root.parent / "shared" / "benchmarks"


def read_squad(path: Path) -> tuple[list[Paragraph], list[tuple[Paragraph, dict]]]:
    """Paragraphs of a SQuAD v1 file, and its questions as (paragraph, qa) pairs."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(
            f"{path}: no such file; pass a SQuAD v1 JSON file or one of: {', '.join(BENCHMARKS)}"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BenchmarkError(f"{path.name}: not a UTF-8 JSON file ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise BenchmarkError(
            f'{path.name}: not SQuAD format; expected {{"data": [{{"paragraphs": '
            '[{"context": ..., "qas": [{"id": ..., "question": ..., "answers": [...]}]}]}]}'
        )
    paragraphs: list[Paragraph] = []
    questions: list[tuple[Paragraph, dict]] = []
    seen: set[str] = set()
    for a, article in enumerate(data["data"]):
        title = str(article.get("title") or "") if isinstance(article, dict) else ""
        for p, para in enumerate(article.get("paragraphs", []) if isinstance(article, dict)
                                 else []):
            where = f"{path.name}: data[{a}].paragraphs[{p}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str):
                raise BenchmarkError(f"{where} has no context string")
            pid = str(para.get("id") or f"{path.stem}-{a}-{p}")
            if pid in seen:  # SQuAD files without paragraph ids: position makes them unique
                pid = f"{pid}-{a}-{p}"
            seen.add(pid)
            paragraph = Paragraph(pid, title, para["context"], path.name)
            paragraphs.append(paragraph)
            for qa in para.get("qas", []):
                if not isinstance(qa, dict):
                    raise BenchmarkError(f"{where}: each qas entry must be an object")
                if str(qa.get("question") or "").strip():  # CMRC trial has a few empty ones
                    questions.append((paragraph, qa))
    if not paragraphs:
        raise BenchmarkError(f"{path.name}: no paragraphs")
    return paragraphs, questions


def spread(items: Sequence, n: int) -> list:
    """n items evenly spaced through `items` (all when n is 0 or more than there are),
    so a sample covers the whole file, not its first articles."""
    if n <= 0 or n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def load_benchmark(name: str, root: Path | None = None,
                   questions: int = DEFAULT_QUESTIONS) -> Benchmark:
    """A named benchmark (BENCHMARKS) from `root`, or a SQuAD file's path, with
    `questions` questions sampled evenly (0: all)."""
    if name in BENCHMARKS:
        spec = BENCHMARKS[name]
        root = Path(root) if root else benchmarks_dir()
        files = [root / f for f in spec.corpus]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise BenchmarkError(
                f"benchmark {name!r} needs {', '.join(missing)}; point --benchmarks-dir "
                f"(or ${BENCHMARKS_ENV}) at the folder that holds {', '.join(spec.corpus)}"
            )
        qfile, simplified, about = root / spec.questions, spec.simplified, spec.about
    elif name.lower().endswith(".json") or Path(name).exists():
        files = [Path(name)]
        qfile, simplified, about = files[0], False, f"{Path(name).name} (SQuAD format)"
    else:
        raise BenchmarkError(
            f"unknown benchmark {name!r}; use one of: {', '.join(BENCHMARKS)}, "
            "or the path of a SQuAD v1 JSON file"
        )
    paragraphs: dict[str, Paragraph] = {}
    asked: list[tuple[Paragraph, dict]] = []
    for f in files:
        paras, qas = read_squad(f)
        for p in paras:
            if p.id in paragraphs:
                raise BenchmarkError(f"{f.name}: paragraph id {p.id!r} also in "
                                     f"{paragraphs[p.id].file}; ids must be unique")
            paragraphs[p.id] = p
        if f == qfile:
            asked = qas
    label = Path(name).stem if name not in BENCHMARKS else name
    base = _questions(spread(asked, questions), label)
    notes = [f"{len(paragraphs)} paragraphs, {len(base)} of {len(asked)} questions "
             f"(evenly spread through {qfile.name})"]
    dropped = len(spread(asked, questions)) - len(base)
    if dropped:
        notes.append(f"{dropped} questions left out: none of their answers is in their paragraph")
    context = sum(1 for q in base if any(w in q.question for w in _CONTEXT_WORDS))
    if context:
        notes.append(f"{context} questions refer to 文中/本文 (make sense only beside their "
                     "paragraph); kept")
    runs = [BenchmarkRun(label, tuple(base))]
    if simplified:
        runs.append(BenchmarkRun(f"{label}-simplified", tuple(
            Question(f"{q.id}-s", f"{label}-simplified", to_simplified(q.question), q.keywords,
                     1, q.evidence)
            for q in base)))
    return Benchmark(label, about, tuple(paragraphs.values()), tuple(runs), tuple(notes))


def _questions(asked: Sequence[tuple[Paragraph, dict]], qtype: str) -> list[Question]:
    """SQuAD questions as dataset questions: gold = the paragraph, keywords = the
    answers that occur in it (alternate answers with bad offsets are found by text)."""
    out = []
    for paragraph, qa in asked:
        answers = []
        for a in qa.get("answers", []):
            text = str(a.get("text", "") if isinstance(a, dict) else "").strip()
            if text and text not in answers and paragraph.context.find(text) >= 0:
                answers.append(text)
        if not answers:
            continue
        qid = str(qa.get("id") or f"{paragraph.id}-q{len(out)}")
        out.append(Question(qid, qtype, str(qa["question"]).strip(), tuple(answers), 1,
                            (Evidence(paragraph.id),)))
    return out


def ingest_paragraphs(index: SearchIndex, paragraphs: Sequence[Paragraph],
                      progress: Callable[[int, int], None] | None = None) -> int:
    """Index each paragraph as a document named by its id; paragraphs already indexed
    with the same text are skipped. Returns how many were added."""
    added = 0
    with index.writing():
        for i, p in enumerate(paragraphs, 1):
            sha = hashlib.sha256(p.context.encode("utf-8")).hexdigest()
            if not index.is_current(p.id, sha):
                doc = LoadedDocument(p.id, p.context, title=p.title)
                index.add(chunk_document(doc), sha, f"{p.file}#{p.id}")
                added += 1
            if progress:
                progress(i, len(paragraphs))
    return added


def check_benchmark_index(index: SearchIndex, paragraphs: Sequence[Paragraph]) -> None:
    """An index given for a benchmark must hold nothing but its paragraphs: a user's
    own index is never filled with Wikipedia."""
    ids = {p.id for p in paragraphs}
    other = [f.source for f in index.files() if f.source not in ids]
    if other:
        raise BenchmarkError(
            f"the index at {index.location} holds documents that are not this benchmark's "
            f"paragraphs ({', '.join(other[:3])}{', ...' if len(other) > 3 else ''}); "
            "use a new --index DIR for a benchmark, or leave --index out for a temporary one"
        )


def with_folded_gold(index: SearchIndex, questions: Sequence[Question]) -> list[Question]:
    """Questions whose gold paragraph had a chunk folded into another paragraph's
    identical chunk (dedup) also accept that paragraph: it holds the same passage."""
    same: dict[str, set[str]] = {}
    for dup, canonical in index.folded_sources():
        same.setdefault(dup, set()).add(canonical)
        same.setdefault(canonical, set()).add(dup)
    out = []
    for q in questions:
        extra = sorted({s for ev in q.evidence for s in same.get(ev.source, ())}
                       - {ev.source for ev in q.evidence})
        out.append(q if not extra else Question(
            q.id, q.type, q.question, q.keywords, q.min_match,
            q.evidence + tuple(Evidence(s) for s in extra), q.line))
    return out
