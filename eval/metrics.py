"""Metric functions: pure, on result objects (INTERFACES.md) and dataset questions.

Matching is on `match_key` text (NFKC, simplified, no whitespace, straight quotes). A
retrieved or cited passage is *gold* when it comes from an evidence source and holds
that evidence's quote (any passage of the source when the evidence has no quote).
"""

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ingest.normalize import match_key

from .dataset import UNANSWERABLE, Question


def is_gold(question: Question, source: str, text: str) -> bool:
    """Whether a passage holds any of the question's evidence."""
    key = None
    for ev in question.evidence:
        if ev.source != source:
            continue
        if ev.quote is None:
            return True
        key = key if key is not None else match_key(text)
        if match_key(ev.quote) in key:
            return True
    return False


def gold_ranks(question: Question, result: dict) -> list[int]:
    """1-based ranks of the gold passages among `result["retrieved"]`."""
    return [p["rank"] for p in result["retrieved"]
            if is_gold(question, p["source"], p["text"])]


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


def keywords_found(question: Question, answer: str) -> bool:
    """The answer holds at least `min_match` of the keywords."""
    key = match_key(answer)
    hits = sum(1 for kw in question.keywords if match_key(kw) in key)
    return hits >= question.min_match


def citation_supported(question: Question, result: dict) -> bool:
    """At least one cited passage holds the evidence."""
    return any(is_gold(question, c["source"], c["text"]) for c in result["citations"])


def percentile(values: Iterable[float], q: float) -> float:
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
        "R@1": mean([recall_at(ranks[q.id], 1) for q in answerable]),
        "R@5": mean([recall_at(ranks[q.id], 5) for q in answerable]),
        "R@10": mean([recall_at(ranks[q.id], 10) for q in answerable]),
        "MRR@10": mean([reciprocal_rank(ranks[q.id], 10) for q in answerable]),
        "nDCG@10": mean([ndcg_at(ranks[q.id], 10) for q in answerable]),
        "keyword_accuracy": mean([float(not by_id[q.id]["abstained"]
                                        and keywords_found(q, by_id[q.id]["answer"]))
                                  for q in answerable]),
        "citation_support": mean([float(citation_supported(q, by_id[q.id])) for q in answered]),
        "abstention": mean([float(by_id[q.id]["abstained"]) for q in unanswerable]),
        "false_abstention": mean([float(by_id[q.id]["abstained"]) for q in answerable]),
        "latency_p50_ms": percentile((r["latency_ms"] for r in results), 50),
        "latency_p95_ms": percentile((r["latency_ms"] for r in results), 95),
    }
