"""Calibrate the abstention rule on a dataset: `python -m zhice.eval.calibrate --index DIR`.

Fits the abstention rule of assistant/extractive.py (threshold, missing_weight,
figure_penalty, focus_weight, type_penalty; params.AbstentionParams): among the
settings whose false abstention on answerable questions stays within the budget, the
one that abstains on the most unanswerable questions (then the fewest false
abstentions, then the lowest threshold), with the threshold halfway between two
neighbouring scores. Prints the table the rule was taken from and, with --heldout, the
fitted rule's abstention and false abstention on each held-out set, which it was not
fitted on. --write stores the fit in assistant/abstention.json with the dataset's
SHA-256.
"""

import argparse
import hashlib
import itertools
from pathlib import Path

from zhice.assistant.chain import Assistant
from zhice.assistant.extractive import EvidenceFeatures, evidence_score
from zhice.assistant.params import ABSTENTION_FILE, AbstentionParams
from zhice.ingest.errors import ZhiceError

from .dataset import BUNDLED_DATASET, UNANSWERABLE, load_dataset
from .fitting import index_dataset_pairs, write_params

MISSING_WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0)
FIGURE_PENALTIES = (0.0, 0.2, 0.5, 1.0)
FOCUS_WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
TYPE_PENALTIES = (0.0, 0.2, 0.5, 1.0)


def fit(rows: list[tuple[EvidenceFeatures, bool]], max_false: float):
    """Best (abstention, false abstention, (missing weight, figure penalty, focus weight,
    type penalty), threshold)."""
    unans = sum(1 for _, u in rows if u)
    ans = len(rows) - unans
    if not unans or not ans:
        raise ValueError(f"calibrating needs answerable and unanswerable questions; the "
                         f"dataset has {ans} answerable and {unans} unanswerable")
    best = None
    for weights in itertools.product(MISSING_WEIGHTS, FIGURE_PENALTIES, FOCUS_WEIGHTS,
                                     TYPE_PENALTIES):
        scores = sorted((evidence_score(f, *weights), u) for f, u in rows)
        # abstain below a threshold halfway between two neighbouring scores: the widest
        # margin on both sides, so a question scoring a hair different does not flip;
        # below the lowest score: never abstain, the setting that always fits the budget
        threshold, caught, lost = round(scores[0][0] - 0.001, 4), 0, 0
        for i, (score, u) in enumerate(scores):
            if i and score > scores[i - 1][0]:
                threshold = round((scores[i - 1][0] + score) / 2, 4)
            elif i:
                threshold = None  # a tie: no threshold parts equal scores
            if threshold is not None and lost / ans <= max_false:
                key = (caught / unans, -lost / ans, -threshold)
                if best is None or key > best[0]:
                    best = (key, (caught / unans, lost / ans, weights, threshold))
            caught, lost = caught + u, lost + (not u)
    return best[1]


def cross_validate(rows: list[tuple[EvidenceFeatures, bool]], max_false: float,
                   folds: int = 5) -> tuple[float, float]:
    """Abstention and false abstention of the fit on questions it was not fitted on:
    each fold scored with the weights fitted on the others. What to expect on new
    questions; the fit's own numbers are optimistic. Folds are dealt out per kind (the
    n-th unanswerable question in fold n % folds, likewise the answerable ones), so every
    fold trains on both kinds however the dataset orders them; that needs at least
    `folds` questions of each kind."""
    seen = {True: 0, False: 0}
    fold_of = []
    for _, u in rows:
        fold_of.append(seen[u] % folds)
        seen[u] += 1
    caught = lost = 0
    for k in range(folds):
        train = [r for r, fold in zip(rows, fold_of) if fold != k]
        *_, weights, threshold = fit(train, max_false)
        for (f, u), fold in zip(rows, fold_of):
            if fold == k and evidence_score(f, *weights) < threshold:
                caught, lost = caught + u, lost + (not u)
    unans = sum(1 for _, u in rows if u)
    return caught / unans, lost / (len(rows) - unans)


def feature_rows(index: Path, questions, k: int) -> list[tuple[EvidenceFeatures, bool]]:
    """Each question's evidence features with whether it is unanswerable."""
    with Assistant.open(index) as assistant:
        return [(assistant.answerer.features(q.question,
                                             assistant.retriever.retrieve(q.question, k)),
                 q.type == UNANSWERABLE) for q in questions]


def rates(rows: list[tuple[EvidenceFeatures, bool]], weights, threshold: float
          ) -> tuple[float, float]:
    """(abstention on unanswerable, false abstention on answerable) of a fitted rule."""
    below = [(evidence_score(f, *weights) < threshold, u) for f, u in rows]
    unans = [b for b, u in below if u]
    ans = [b for b, u in below if not u]
    return (sum(unans) / len(unans) if unans else 0.0, sum(ans) / len(ans) if ans else 0.0)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--dataset", type=Path, default=BUNDLED_DATASET)
    p.add_argument("--max-false", type=float, default=0.05)
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--write", action="store_true",
                   help=f"store the fitted rule in assistant/{ABSTENTION_FILE}")
    p.add_argument("--heldout", action="append", default=[], metavar="INDEX=DATASET",
                   help="a held-out set to report the fitted rule on, never fitted on "
                        "(repeatable), e.g. the dev set's held-out half")
    args = p.parse_args(argv)
    heldout = index_dataset_pairs(p, "--heldout", args.heldout)
    if not 0.0 <= args.max_false <= 1.0:
        p.error(f"--max-false is a share of the answerable questions, from 0 to 1; "
                f"got {args.max_false}")
    if args.k < 1:
        p.error(f"-k is how many passages a question is answered from, at least 1; got {args.k}")
    try:
        questions = load_dataset(args.dataset)
        rows = feature_rows(args.index, questions, args.k)
        abst, false, weights, threshold = fit(rows, args.max_false)
        held = [(f, feature_rows(d, load_dataset(f), args.k)) for d, f in heldout]
    except (ZhiceError, ValueError) as e:  # no index, a bad dataset, one kind of question
        raise SystemExit(f"calibrate: {e}") from None
    mw, fp, fw, tp = weights
    print(f"{args.dataset.name}: {len(rows)} questions, "
          f"{sum(u for _, u in rows)} unanswerable; false abstention budget {args.max_false}")
    params = AbstentionParams(round(threshold, 4), mw, fp, fw, tp)
    print("fitted: " + ", ".join(f"{k} = {v}" for k, v in params.to_dict().items()))
    print(f"  abstention on unanswerable {abst:.3f}, false abstention {false:.3f}")
    if min(sum(u for _, u in rows), sum(not u for _, u in rows)) >= 5:
        cv_abst, cv_false = cross_validate(rows, args.max_false)
        print(f"  5-fold cross-validated: abstention {cv_abst:.3f}, "
              f"false abstention {cv_false:.3f}")
    for f, held_rows in held:
        h_abst, h_false = rates(held_rows, weights, threshold)
        print(f"  held out, {f.name}: abstention {h_abst:.3f}, false abstention {h_false:.3f}")
    print("evidence  coverage  missing  figures  focus  untyped  unanswerable  id")
    for (f, u), q in sorted(zip(rows, questions), key=lambda r: evidence_score(r[0][0], *weights)):
        print(f"{evidence_score(f, *weights):8.3f}  {f.coverage:8.3f}  {f.missing:7.3f}  "
              f"{f.figures:7d}  {f.focus:5.3f}  {f.untyped:7d}  {'yes' if u else '   ':<12}  "
              f"{q.id} {q.question}")
    if args.write:
        path = Path(__file__).parents[1] / "assistant" / ABSTENTION_FILE
        write_params(path, "Abstention rule fitted by python -m zhice.eval.calibrate --write",
                     [{"dataset": args.dataset.name, "questions": len(rows),
                       "sha256": hashlib.sha256(args.dataset.read_bytes()).hexdigest()}],
                     params.to_dict(), max_false=args.max_false)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
