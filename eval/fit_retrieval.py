"""Fit the re-ranker's weights on tuning data: `python -m zhice.eval.fit_retrieval`.

    python -m zhice.eval.fit_retrieval --set INDEX_DIR=DATASET.jsonl [--set ...] [--write]

For each answerable question of each set, the fused top candidates and their re-ranking
features (assistant/rerank.py, CoverageReranker.features) are computed once per title
credit (what a question term found in a passage's document title counts for, in the
best-sentence score); every setting of the weights then re-ranks them. The setting with
the best mean MRR@10 over the sets (each set counting equally; then R@1; then the
earlier in the grid, which starts at the values in use) is printed and, with --write,
stored in assistant/retrieval.json with the SHA-256 of each dataset. Fit on tuning data
only: the dev set's tuning half, the public set; never on a held-out set (eval/README.md).

It also prints each set's 5-fold cross-validated retrieval metrics: every question
re-ranked by the setting fitted without its fold, what to expect of the weights on
questions they were not fitted on (the public set's floors, eval/floors.json).
"""

import argparse
import hashlib
import itertools
from functools import partial
from pathlib import Path

from zhice.assistant.chain import Assistant
from zhice.assistant.params import PARAMS_FILE, RetrievalParams
from zhice.assistant.rerank import CoverageReranker
from zhice.assistant.retrieve import HybridRetriever
from zhice.ingest.errors import ZhiceError

from .dataset import UNANSWERABLE, load_dataset
from .fitting import index_dataset_pairs, write_params
from .metrics import budget_count, is_gold, ndcg_at, recall_at, reciprocal_rank

FUSED_WEIGHTS = (0.0, 0.3, 0.5, 0.7, 1.0, 1.5)
BM25_WEIGHTS = (0.0, 0.1, 0.3, 0.5, 0.8)
LIST_BONUSES = (0.0, 0.1, 0.2)
TITLE_CREDITS = (0.0, 0.75, 1.0)  # at or below the passage context's 0.5 it changes nothing
RANKED = 10  # MRR@10
FOLDS = 5
CV_METRICS = ("R@1", "R@5", "R@10", "MRR@10", "nDCG@10", "budget_recall")


def candidates(directory: Path, dataset: Path, depth: int, credits: tuple[float, ...]
               ) -> dict[float, list[list[tuple[tuple, bool, int]]]]:
    """Per title credit, per answerable question: (features, is gold, characters) of each
    fused candidate, in fused order (characters without whitespace, as budget recall
    counts them)."""
    questions = [q for q in load_dataset(dataset) if q.type != UNANSWERABLE]
    out: dict[float, list] = {credit: [] for credit in credits}
    with Assistant.open(directory) as assistant:
        fused = HybridRetriever(assistant.index, reranker=None)
        rerankers = {credit: CoverageReranker(
            partial(assistant.answerer.passage_scores, title_credit=credit), depth=depth)
            for credit in credits}
        for q in questions:
            head = fused.retrieve(q.question, depth)
            gold = [is_gold(q, h.chunk.source, h.chunk.text, h.chunk.path) for h in head]
            chars = [len("".join(h.chunk.text.split())) for h in head]
            for credit, rerank in rerankers.items():
                out[credit].append(list(zip(rerank.features(q.question, head), gold, chars)))
    return out


def score(sets: list[dict[float, list]], setting: tuple) -> list[tuple[float, float]]:
    """(MRR@10, R@1, R@5) of each set with this setting (title credit, fused, bm25, list)."""
    credit, *weights = setting
    w = (1.0, *weights)
    out = []
    for by_credit in sets:
        questions = by_credit[credit]
        rr = [reciprocal_rank(gold_ranks(cands, w), RANKED) for cands in questions]
        n = max(len(rr), 1)
        # R@5: a reciprocal rank of at least 1/5
        out.append((sum(rr) / n, sum(x == 1.0 for x in rr) / n, sum(x >= 0.2 for x in rr) / n))
    return out


def reranked(cands: list[tuple], w: tuple[float, ...]) -> list[tuple]:
    """The candidates re-ranked by the weights `w` of their features."""
    # ties keep fused order, as the re-ranker's sort by (score, id) nearly does
    return sorted(cands, key=lambda c: -sum(a * b for a, b in zip(w, c[0])))


def gold_ranks(cands: list[tuple], w: tuple[float, ...]) -> list[int]:
    """1-based ranks of the gold candidates once re-ranked by `w`."""
    return [r for r, c in enumerate(reranked(cands, w), 1) if c[1]]


def cross_validated(sets, current: RetrievalParams, folds: int = FOLDS
                    ) -> list[dict[str, float]]:
    """Per set, its retrieval metrics (CV_METRICS) with each question re-ranked by the
    setting `fit` chooses without its fold (question i of a set is in fold i % folds)."""
    per_set: list[list[dict[str, float]]] = [[] for _ in sets]
    for k in range(folds):
        train = [{credit: [q for i, q in enumerate(qs) if i % folds != k]
                  for credit, qs in s.items()} for s in sets]
        credit, *weights = fit(train, current)[0][1]
        for s, out in zip(sets, per_set):
            for cands in s[credit][k::folds]:
                out.append(_metrics(reranked(cands, (1.0, *weights))))
    return [{m: sum(q[m] for q in qs) / len(qs) for m in CV_METRICS} if qs else {}
            for qs in per_set]


def _metrics(ranked: list[tuple]) -> dict[str, float]:
    """The retrieval metrics of one question's re-ranked candidates (metrics.summarize)."""
    ranks = [r for r, c in enumerate(ranked, 1) if c[1]]
    budget = budget_count([c[2] for c in ranked])
    return {"R@1": recall_at(ranks, 1), "R@5": recall_at(ranks, 5),
            "R@10": recall_at(ranks, 10), "MRR@10": reciprocal_rank(ranks, RANKED),
            "nDCG@10": ndcg_at(ranks, 10), "budget_recall": recall_at(ranks, budget)}


def mean(per_set: list[tuple[float, ...]]) -> tuple[float, float]:
    """Mean (MRR@10, R@1) over sets, each set counting equally."""
    return (sum(s[0] for s in per_set) / len(per_set), sum(s[1] for s in per_set) / len(per_set))


def fit(sets, current: RetrievalParams) -> list[tuple[list[tuple[float, float]], tuple]]:
    """The grid's settings with their per-set scores, best first: settings that leave no
    set's MRR@10 or R@5 below the setting in use come before those that trade one set
    (or the passages a reader sees) for another, then by mean MRR@10 and R@1 (the setting
    in use first among equals)."""
    grid = [in_use(current)]
    grid += [g for g in itertools.product(credits(current), FUSED_WEIGHTS, BM25_WEIGHTS,
                                          LIST_BONUSES) if g != grid[0]]
    scored = [(score(sets, g), g) for g in grid]
    floor = scored[0][0]

    def key(item):
        per_set = item[0]
        no_loss = all(m >= f[0] - 1e-12 and r5 >= f[2] - 1e-12
                      for (m, _, r5), f in zip(per_set, floor))
        return (not no_loss, *(-x for x in mean(per_set)))

    return sorted(scored, key=key)  # stable: grid order among equals


def in_use(params: RetrievalParams) -> tuple:
    return (params.title_credit, params.fused_weight, params.bm25_weight, params.list_bonus)


def credits(current: RetrievalParams) -> tuple[float, ...]:
    return tuple(dict.fromkeys((current.title_credit, *TITLE_CREDITS)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zhice.eval.fit_retrieval",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--set", action="append", required=True, metavar="INDEX=DATASET",
                        help="an index folder and a tuning dataset on it (repeatable)")
    parser.add_argument("--write", action="store_true",
                        help=f"store the best setting in assistant/{PARAMS_FILE}")
    args = parser.parse_args(argv)
    pairs = index_dataset_pairs(parser, "--set", args.set)
    try:
        current = RetrievalParams.load()
        sets = [candidates(d, f, current.rerank_depth, credits(current)) for d, f in pairs]
    except ZhiceError as e:
        print(f"fit_retrieval: {e}")
        return 2
    ranked = fit(sets, current)
    best_sets, best = ranked[0]
    now = next(per_set for per_set, g in ranked if g == in_use(current))
    sizes = [len(s[current.title_credit]) for s in sets]
    print(f"{sum(sizes)} answerable questions in {len(sets)} sets: "
          + ", ".join(f.name for _, f in pairs))
    print("title fused  bm25  list   mean MRR@10  mean R@1   MRR@10 / R@1 / R@5 of each set")
    for per_set, g in ranked[:8]:
        m, r = mean(per_set)
        print(f"{g[0]:>5} {g[1]:>5} {g[2]:>5} {g[3]:>5}   {m:11.3f} {r:9.3f}   "
              + "  ".join(" / ".join(f"{x:.3f}" for x in s) for s in per_set))
    print(f"in use {in_use(current)}: mean MRR@10 {mean(now)[0]:.3f}; "
          f"best {best}: mean MRR@10 {mean(best_sets)[0]:.3f}")
    print(f"{FOLDS}-fold cross-validated (each question re-ranked by the best setting "
          "without its fold):")
    for (_, f), cv in zip(pairs, cross_validated(sets, current)):
        print(f"  {f.name}: " + ", ".join(f"{m} {v:.3f}" for m, v in cv.items()))
    if args.write:
        params = {**current.to_dict(), "title_credit": best[0], "fused_weight": best[1],
                  "bm25_weight": best[2], "list_bonus": best[3]}
        fitted_on = [{"dataset": f.name, "answerable": n,
                      "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
                     for (_, f), n in zip(pairs, sizes)]
        path = Path(__file__).parents[1] / "assistant" / PARAMS_FILE
        write_params(path, "Retrieval parameters fitted by python -m zhice.eval.fit_retrieval",
                     fitted_on, params)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
