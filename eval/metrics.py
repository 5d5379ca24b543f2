"""Metric functions: pure, on result objects (INTERFACES.md) and dataset questions.

Matching is on `match_key` text (NFKC, simplified, no whitespace, straight quotes). A
retrieved or cited passage is *gold* when it comes from an evidence source and holds
that evidence's quote (any passage of the source when the evidence has no quote).
Definitions of every metric: eval/README.md.
"""

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from zhice.assistant.check import claims, supports
from zhice.ingest.normalize import match_key

from .dataset import UNANSWERABLE, DatasetError, Question

# Budget recall: the best passages that together hold at most this many characters
# (whitespace not counted; the first passage always counts, however long).
BUDGET_CHARS = 1500
CURVE_KS = tuple(range(1, 11))
# Metrics where lower is better: a gate holds them under a ceiling, not over a floor.
LOWER_IS_BETTER = frozenset({"false_abstention", "latency_p50_ms", "latency_p95_ms"})
_SPACE = re.compile(r"\s+")
# The summary's metrics in the order tables show them, with their format.
METRIC_FORMATS = (
    ("R@1", "{:.3f}"), ("R@5", "{:.3f}"), ("R@10", "{:.3f}"), ("MRR@10", "{:.3f}"),
    ("nDCG@10", "{:.3f}"), ("budget_recall", "{:.3f}"), ("keyword_accuracy", "{:.3f}"),
    ("citation_support", "{:.3f}"), ("groundedness", "{:.3f}"), ("abstention", "{:.3f}"),
    ("false_abstention", "{:.3f}"), ("latency_p50_ms", "{:.1f}"), ("latency_p95_ms", "{:.1f}"),
)


def is_gold(question: Question, source: str, text: str, heading: str = "") -> bool:
    """Whether a passage holds any of the question's evidence. Its heading path counts:
    a quote that is a section's heading ("九、强化政策保障…") is cited with the passages
    under it, not in their text."""
    key = None
    for ev in question.evidence:
        if ev.source != source:
            continue
        if ev.quote is None:
            return True
        key = key if key is not None else match_key(f"{heading}\n{text}")
        if match_key(ev.quote) in key:
            return True
    return False


def gold_ranks(question: Question, result: dict) -> list[int]:
    """1-based ranks of the gold passages among `result["retrieved"]`."""
    return [p["rank"] for p in result["retrieved"]
            if is_gold(question, p["source"], p["text"], p.get("heading") or "")]


def recall_at(ranks: Sequence[int], k: int) -> float:
    """1 when a gold passage is in the top k, else 0."""
    return 1.0 if any(r <= k for r in ranks) else 0.0


def reciprocal_rank(ranks: Sequence[int], k: int = 10) -> float:
    """1 / rank of the first gold passage within the top k, else 0."""
    first = min((r for r in ranks if r <= k), default=None)
    return 1.0 / first if first else 0.0


def ndcg_at(ranks: Sequence[int], k: int = 10) -> float:
    """Binary-relevance nDCG@k: every gold passage in the list counts, the ideal puts
    them all first."""
    gains = sum(1.0 / math.log2(r + 1) for r in ranks if r <= k)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(ranks), k)))
    return gains / ideal if ideal else 0.0


def budget_ranks(result: dict, budget: int = BUDGET_CHARS) -> int:
    """How many of the best retrieved passages fit in `budget` characters together
    (whitespace not counted); at least 1 when anything was retrieved."""
    return budget_count([len(_SPACE.sub("", p["text"])) for p in result["retrieved"]], budget)


def budget_count(chars: Sequence[int], budget: int = BUDGET_CHARS) -> int:
    """How many of the first passages, of `chars` characters each, fit in `budget`
    together; at least 1 when there is any."""
    used = 0
    for n, c in enumerate(chars):
        used += c
        if used > budget and n > 0:
            return n
    return len(chars)


def budget_recall(question: Question, result: dict, budget: int = BUDGET_CHARS) -> float:
    """1 when a gold passage is among the best passages that together hold at most
    `budget` characters: long chunks buy no recall."""
    return recall_at(gold_ranks(question, result), budget_ranks(result, budget))


def grounded(result: dict) -> bool:
    """Every sentence of the answer is supported by a passage its markers cite.

    A sentence is supported when it stands verbatim in the cited passage, or when at
    least 60% of its character bigrams occur there and every figure of it does
    (assistant/check.py, `supports`); a sentence without a marker is not.
    """
    by_marker = {c["marker"]: c["text"] for c in result["citations"]}
    parts = [(s, m) for s, m in claims(result["answer"]) if s.strip()]
    return bool(parts) and all(
        any(n in by_marker and supports(sentence, by_marker[n]) for n in markers)
        for sentence, markers in parts
    )


def keywords_found(question: Question, answer: str) -> bool:
    """The answer holds at least `min_match` of the keywords."""
    key = match_key(answer)
    hits = sum(1 for kw in question.keywords if match_key(kw) in key)
    return hits >= question.min_match


def citation_supported(question: Question, result: dict) -> bool:
    """At least one cited passage holds the evidence."""
    return any(is_gold(question, c["source"], c["text"], c.get("heading") or "")
               for c in result["citations"])


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (linear interpolation), 0 for no values."""
    vals = list(values)
    return float(np.percentile(vals, q)) if vals else 0.0


def summarize(questions: Sequence[Question], results: Sequence[dict]) -> dict[str, float]:
    """The headline metrics of one run; rates are over the questions they concern.

    Retrieval and answer metrics are over answerable questions; abstention over the
    unanswerable ones; false abstention over the answerable ones.
    """
    by_id = {r["id"]: r for r in results}
    answerable = [q for q in questions if q.type != UNANSWERABLE]
    unanswerable = [q for q in questions if q.type == UNANSWERABLE]
    ranks = {q.id: gold_ranks(q, by_id[q.id]) for q in answerable}
    answered = [q for q in answerable if not by_id[q.id]["abstained"]]

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return {
        "questions": len(questions),
        "answerable": len(answerable),
        "R@1": mean([recall_at(ranks[q.id], 1) for q in answerable]),
        "R@5": mean([recall_at(ranks[q.id], 5) for q in answerable]),
        "R@10": mean([recall_at(ranks[q.id], 10) for q in answerable]),
        "MRR@10": mean([reciprocal_rank(ranks[q.id], 10) for q in answerable]),
        "nDCG@10": mean([ndcg_at(ranks[q.id], 10) for q in answerable]),
        "budget_recall": mean([recall_at(ranks[q.id], budget_ranks(by_id[q.id]))
                               for q in answerable]),
        "keyword_accuracy": mean([float(not by_id[q.id]["abstained"]
                                        and keywords_found(q, by_id[q.id]["answer"]))
                                  for q in answerable]),
        "citation_support": mean([float(citation_supported(q, by_id[q.id])) for q in answered]),
        "groundedness": mean([float(grounded(r)) for r in results if not r["abstained"]]),
        "abstention": mean([float(by_id[q.id]["abstained"]) for q in unanswerable]),
        "false_abstention": mean([float(by_id[q.id]["abstained"]) for q in answerable]),
        "latency_p50_ms": percentile((r["latency_ms"] for r in results), 50),
        "latency_p95_ms": percentile((r["latency_ms"] for r in results), 95),
    }


def applies(metric: str, summary: Mapping[str, float]) -> bool:
    """Whether a summary's metric was measured on any question: abstention needs
    unanswerable questions, the retrieval and answer metrics answerable ones."""
    if metric == "abstention":
        return summary["questions"] > summary["answerable"]
    if metric.startswith("latency"):
        return summary["questions"] > 0
    return summary["answerable"] > 0


def recall_curve(questions: Sequence[Question], results: Sequence[dict],
                 ks: Sequence[int] = CURVE_KS) -> dict[int, float]:
    """R@k for each k, over the answerable questions."""
    by_id = {r["id"]: r for r in results}
    answerable = [q for q in questions if q.type != UNANSWERABLE]
    ranks = [gold_ranks(q, by_id[q.id]) for q in answerable]
    return {k: (sum(recall_at(r, k) for r in ranks) / len(ranks) if ranks else 0.0) for k in ks}


def by_type(questions: Sequence[Question], results: Sequence[dict]) -> dict[str, dict]:
    """The summary of each question type's questions, types in dataset order."""
    groups: dict[str, list[Question]] = {}
    for q in questions:
        groups.setdefault(q.type, []).append(q)
    return {t: summarize(qs, results) for t, qs in groups.items()}


def load_floors(path: str | Path) -> dict[str, float]:
    """The "floors" of a floors file (eval/floors.json): metric -> recorded floor."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        floors = data["floors"]
        return {str(k): float(v) for k, v in floors.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise DatasetError(
            f'{path}: not a floors file ({type(e).__name__}: {e}); expected JSON like '
            '{"floors": {"R@1": 0.9, "false_abstention": 0.05}}'
        ) from None


def check_floors(metrics: Mapping[str, float], floors: Mapping[str, float]) -> list[str]:
    """One message per metric that fell past its recorded floor (a ceiling for the
    LOWER_IS_BETTER ones); an empty list when every metric holds."""
    problems = []
    for name, floor in floors.items():
        if name not in metrics:
            problems.append(f"{name}: not measured (floor {floor}); known metrics: "
                            f"{', '.join(metrics)}")
            continue
        value = metrics[name]
        if name in LOWER_IS_BETTER and value > floor + 1e-9:
            problems.append(f"{name} = {value:.3f} is above its ceiling {floor:.3f}")
        elif name not in LOWER_IS_BETTER and value < floor - 1e-9:
            problems.append(f"{name} = {value:.3f} is below its floor {floor:.3f}")
    return problems
