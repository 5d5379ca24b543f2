"""Calibrate the abstention rule on a dataset: `python -m eval.calibrate --index DIR`.

Fits ABSTAIN_THRESHOLD, MISSING_WEIGHT and FIGURE_PENALTY of assistant/extractive.py:
among the settings whose false abstention on answerable questions stays within the
budget, the one that abstains on the most unanswerable questions (then the lowest
threshold). Prints the table the constants were taken from.
"""

import argparse
import itertools
from pathlib import Path

from assistant.chain import Assistant
from assistant.extractive import EvidenceFeatures, evidence_score

from .dataset import BUNDLED_DATASET, UNANSWERABLE, load_dataset

MISSING_WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0)
FIGURE_PENALTIES = (0.0, 0.2, 0.5, 1.0)


def fit(rows: list[tuple[EvidenceFeatures, bool]], max_false: float):
    """Best (abstention, false abstention, missing weight, figure penalty, threshold)."""
    unans = sum(1 for _, u in rows if u)
    ans = len(rows) - unans
    best = None
    for mw, fp in itertools.product(MISSING_WEIGHTS, FIGURE_PENALTIES):
        scores = [(evidence_score(f, mw, fp), u) for f, u in rows]
        for threshold in sorted({round(s + 1e-6, 6) for s, _ in scores}):
            abst = sum(1 for s, u in scores if u and s < threshold) / unans
            false = sum(1 for s, u in scores if not u and s < threshold) / ans
            if false <= max_false:
                key = (abst, -false, -threshold)
                if best is None or key > best[0]:
                    best = (key, (abst, false, mw, fp, threshold))
    return best[1]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--dataset", type=Path, default=BUNDLED_DATASET)
    p.add_argument("--max-false", type=float, default=0.05)
    p.add_argument("-k", type=int, default=5)
    args = p.parse_args(argv)
    questions = load_dataset(args.dataset)
    with Assistant.open(args.index) as assistant:
        answerer = assistant.answerer
        rows = []
        for q in questions:
            hits = assistant.retriever.retrieve(q.question, args.k)
            rows.append((answerer.features(q.question, hits), q.type == UNANSWERABLE))
    abst, false, mw, fp, threshold = fit(rows, args.max_false)
    print(f"{args.dataset.name}: {len(rows)} questions, "
          f"{sum(u for _, u in rows)} unanswerable; false abstention budget {args.max_false}")
    print(f"fitted: ABSTAIN_THRESHOLD = {threshold:.3f}, MISSING_WEIGHT = {mw}, "
          f"FIGURE_PENALTY = {fp}")
    print(f"  abstention on unanswerable {abst:.3f}, false abstention {false:.3f}")
    print("evidence  unanswerable  id")
    for (f, u), q in sorted(zip(rows, questions), key=lambda r: evidence_score(r[0][0], mw, fp)):
        print(f"{evidence_score(f, mw, fp):8.3f}  {'yes' if u else '   '}           {q.id}")


if __name__ == "__main__":
    main()
