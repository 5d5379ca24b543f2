"""Fit the answer model on tuning data: `python -m zhice.eval.calibrate`.

    python -m zhice.eval.calibrate --set CORPUS_INDEX=eval/data/questions.jsonl \\
        --set DEVDOCS_INDEX=eval/data/dev_tune.jsonl \\
        --set CMRC_TRIAL_INDEX=../shared/benchmarks/cmrc2018/cmrc2018_trial.json \\
        --set DRCD_TEST_INDEX=../shared/benchmarks/drcd/DRCD_test.json \\
        [--heldout DEVDOCS_INDEX=eval/data/dev_heldout.jsonl ...] [--write]

Rebuilds the training examples of each tuning set (eval/examples.py: its answerable
questions as retrieved, the same with their gold passages removed, with a year, figure,
place or organisation swapped for another the corpus names, its unanswerable
questions, and off-topic ones: questions of the sets on other corpora asked of its
index), computes their named features (assistant/features.py) and fits the answer
model (assistant/answer_model.py):

1. the sentence model: a conditional logit of which of an answerable example's sentences
   holds the answer, over all the sentence features;
2. the evidence model: a logistic regression of "these passages answer the question",
   over the evidence features chosen by forward selection on the cross-validated AUC
   (answerable questions against each kind of unanswerable example of each set);
3. the threshold: the highest probability below which the cross-validated false
   abstention of each set stays within its budget (--max-false for datasets,
   --max-false-benchmark for SQuAD-format files: the targets of issue #14);
4. runner_up: how likely, against the best, a second sentence must be to join the
   answer: the highest whose cross-validated keyword accuracy is within one standard
   error of the best (the shortest answers that lose nothing measurable).

Each set weighs the same however many examples it gives, and within a set each kind of
example; L2 penalties are chosen by cross-validated log loss. Folds hold whole
questions: an example and its variants are never split. Prints the cross-validated
numbers of each set, then each held-out set's aggregate metrics with the fitted model
(never a question of them); --write stores the model in assistant/answer_model.json
with the SHA-256 of its examples and of each dataset.
"""

import argparse
import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from zhice.assistant.answer_model import MODEL_FILE, AnswerModel, Logistic
from zhice.assistant.chain import Assistant
from zhice.assistant.check import check_answer
from zhice.assistant.extractive import NOT_FOUND
from zhice.assistant.features import (
    EVIDENCE_FEATURES,
    SENTENCE_FEATURES,
    Asked,
    Row,
    evidence_values,
)
from zhice.ingest.errors import ZhiceError
from zhice.ingest.normalize import match_key

from .dataset import UNANSWERABLE, Question, load_dataset
from .examples import Example, examples, foreign, sha256
from .fitting import (
    fit_conditional_logit,
    fit_logistic,
    index_dataset_pairs,
    write_params,
)
from .metrics import METRIC_FORMATS, applies, keywords_found, summarize
from .run import run_questions
from .squad import load_benchmark, spread, with_folded_gold

FOLDS = 5
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
RUNNER_UP_GRID = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02)
SELECTION_GAIN = 0.001  # AUC a further evidence feature must add to be taken
UNANSWERABLE_KINDS = ("unanswerable", "removed", "swapped", "foreign")
# Held out (eval/README.md): measured with --heldout, never fitted on.
HELD_OUT = frozenset({"dev_heldout.jsonl", "cmrc2018_dev.json", "DRCD_dev.json"})


@dataclass(frozen=True)
class Item:
    """An example with its features: the question analysed, its candidate sentences
    (their values one row each) and which of them hold an answer."""

    example: Example
    asked: Asked
    rows: tuple[Row, ...]
    labels: tuple[bool, ...]
    fold: int
    values: np.ndarray
    budget: float  # the false abstention its set allows


@dataclass(frozen=True)
class Fit:
    """The fitted model, the models fitted without each fold, and each item's
    cross-validated P(answerable)."""

    model: AnswerModel
    fold_models: tuple[AnswerModel, ...]
    oof: np.ndarray


def read_questions(path: Path, index, limit: int) -> list[Question]:
    """An eval dataset, or a SQuAD-format file's questions (`limit` of them spread
    evenly through it, 0: all) with the paragraphs dedup folded into theirs."""
    if path.suffix == ".json":
        return with_folded_gold(index, load_benchmark(str(path), questions=limit).runs[0]
                                .questions)
    return load_dataset(path)


def featurise(answerer, found: Sequence[Example], budget: float) -> list[Item]:
    """Each example's features; a sentence is labelled when it holds one of the
    example's answers."""
    items = []
    for e in found:
        asked, rows = answerer.candidates(e.question, e.hits)
        answers = [match_key(a) for a in e.answers]
        labels = tuple(bool(answers) and any(
            a in match_key(e.hits[r.hit_index].chunk.text[r.start : r.end]) for a in answers)
            for r in rows)
        fold = int(hashlib.sha256(e.key.encode()).hexdigest(), 16) % FOLDS
        values = np.array([r.values for r in rows], dtype=float).reshape(
            -1, len(SENTENCE_FEATURES))
        items.append(Item(e, asked, tuple(rows), labels, fold, values, budget))
    return items


def _set_weights(items: Sequence[Item]) -> np.ndarray:
    """One weight an item, so that every set's sum to the same."""
    sizes = Counter(it.example.set for it in items)
    return np.array([1.0 / sizes[it.example.set] for it in items])


def _kind_weights(items: Sequence[Item]) -> np.ndarray:
    """One weight an item, so that every set's sum to the same and, within a set, every
    kind of example's (answerable, unanswerable, removed, swapped): the few questions a
    set's writer made unanswerable count as much as the many made by removing passages."""
    kinds = [(it.example.set, it.example.kind) for it in items]
    sizes = Counter(k for k, it in zip(kinds, items) if it.example.trains)
    per_set = Counter(s for s, _ in sizes)
    return np.array([1.0 / (sizes[k] * per_set[k[0]]) if it.example.trains else 0.0
                     for k, it in zip(kinds, items)])


def _logistic(names, mean, scale, weights, bias: float) -> Logistic:
    return Logistic(tuple(names), *(tuple(round(float(v), 6) for v in a)
                                    for a in (mean, scale, weights)), round(bias, 6))


def logits(model: Logistic, values: np.ndarray) -> np.ndarray:
    """The model's score of each row of `values`, at once."""
    return (values - np.array(model.mean)) / np.array(model.scale) @ np.array(
        model.weights) + model.bias


# ---- the sentence model ------------------------------------------------------------
def sentence_groups(items: Sequence[Item]) -> list[Item]:
    """The answerable examples with a sentence that holds the answer."""
    return [it for it in items if it.example.kind == "answerable" and any(it.labels)]


def fit_sentence(items: Sequence[Item], l2: float) -> Logistic:
    """The sentence model (fitting.fit_conditional_logit)."""
    chosen = sentence_groups(items)
    if not chosen:
        raise ValueError("no answerable example has a sentence that holds its answer; "
                         "check that the tuning sets' indexes hold their documents")
    mean, scale, beta = fit_conditional_logit(
        [(it.values, np.array(it.labels)) for it in chosen], _set_weights(chosen), l2)
    return _logistic(SENTENCE_FEATURES, mean, scale, beta, 0.0)


def choose_sentence_l2(items: Sequence[Item]) -> float:
    """The L2 penalty with the lowest cross-validated log loss of the answer sentences."""

    def loss(l2: float) -> float:
        total = 0.0
        for k in range(FOLDS):
            model = fit_sentence([it for it in items if it.fold != k], l2)
            held = sentence_groups([it for it in items if it.fold == k])
            for it, w in zip(held, _set_weights(held)):
                s = logits(model, it.values)
                p = np.exp(s - s.max())
                total -= w * math.log((p * np.array(it.labels)).sum() / p.sum())
        return total

    return min(L2_GRID, key=loss)


# ---- the evidence model ------------------------------------------------------------
class Evidence:
    """The evidence values of every item under the sentence model of each fold (and of
    all data), computed once: what the evidence model is selected, fitted and
    cross-validated on."""

    def __init__(self, items: Sequence[Item], sentences: Sequence[Logistic]):
        self.items = items
        self.answerable = np.array([it.example.answerable for it in items], dtype=float)
        self.trains = np.array([it.example.trains for it in items])
        self.fold = np.array([it.fold for it in items])
        self.weights = _kind_weights(items)
        self.by_model = [np.array([evidence_values(it.asked, it.example.hits, it.rows,
                                                   logits(m, it.values).tolist())
                                   for it in items], dtype=float) for m in sentences]

    def fit(self, columns: Sequence[int], l2: float, model: int, train: np.ndarray
            ) -> Logistic:
        x = self.by_model[model][train][:, list(columns)]
        mean, scale, beta, bias = fit_logistic(x, self.answerable[train],
                                               self.weights[train], l2)
        return _logistic([EVIDENCE_FEATURES[c] for c in columns], mean, scale, beta, bias)

    def out_of_fold(self, columns: Sequence[int], l2: float) -> np.ndarray:
        """Each item's P(answerable) from the models fitted without its fold."""
        oof = np.zeros(len(self.items))
        for k in range(FOLDS):
            model = self.fit(columns, l2, k, self.trains & (self.fold != k))
            held = self.fold == k
            z = logits(model, self.by_model[k][held][:, list(columns)])
            oof[held] = 1.0 / (1.0 + np.exp(-z))
        return oof


def auc_by_kind(items: Sequence[Item], scores: np.ndarray) -> dict[tuple[str, str], float]:
    """Per set and kind of unanswerable example: the chance that an answerable question
    as asked scores above an example of that kind."""
    out = {}
    for name in dict.fromkeys(it.example.set for it in items):
        asked = scores[[n for n, it in enumerate(items) if it.example.set == name
                        and it.example.natural and it.example.answerable]]
        for kind in UNANSWERABLE_KINDS:
            other = scores[[n for n, it in enumerate(items) if it.example.set == name
                            and it.example.kind == kind]]
            if len(asked) and len(other):
                above = (asked[:, None] > other[None, :]).sum()
                ties = (asked[:, None] == other[None, :]).sum()
                out[name, kind] = float((above + 0.5 * ties) / (len(asked) * len(other)))
    return out


def select_features(evidence: Evidence, l2: float) -> list[int]:
    """Forward selection: the evidence feature that most raises the mean cross-validated
    AUC (auc_by_kind) on the unanswerable examples made from each set's own questions,
    as long as one adds more than SELECTION_GAIN. Foreign (off-topic) examples train the
    weights but choose no feature: they are told apart easily, and counted here they
    would choose the features that tell them apart, at the cost of the set's own."""
    chosen: list[int] = []
    best = 0.0
    while len(chosen) < len(EVIDENCE_FEATURES):
        scored = []
        for c in range(len(EVIDENCE_FEATURES)):
            if c not in chosen:
                aucs = auc_by_kind(evidence.items, evidence.out_of_fold(chosen + [c], l2))
                own = [v for (_, kind), v in aucs.items() if kind != "foreign"]
                scored.append((float(np.mean(own)), -c))
        score, c = max(scored)
        if score <= best + SELECTION_GAIN:
            break
        chosen.append(-c)
        best = score
    return chosen


def choose_evidence_l2(evidence: Evidence, columns: Sequence[int]) -> float:
    """The L2 penalty with the lowest cross-validated (set-weighted) log loss."""
    train = evidence.trains

    def loss(l2: float) -> float:
        p = np.clip(evidence.out_of_fold(columns, l2)[train], 1e-9, 1 - 1e-9)
        y = evidence.answerable[train]
        return float(-(evidence.weights[train] * (y * np.log(p) + (1 - y) * np.log(1 - p)))
                     .sum())

    return min(L2_GRID, key=loss)


def choose_threshold(items: Sequence[Item], oof: np.ndarray) -> float:
    """The highest threshold at which no set's cross-validated false abstention on its
    answerable questions as asked (their gold retrieved or not) exceeds its budget,
    halfway between the lowest probability of an answerable question it keeps and the
    next lower probability of any example: a question at the threshold itself would be
    kept or lost by rounding."""
    asked = [(it, p) for it, p in zip(items, oof) if it.example.natural
             and it.example.answerable]
    sizes = Counter(it.example.set for it, _ in asked)
    budget = {it.example.set: it.budget for it, _ in asked}
    kept = 0.0
    for t in sorted({float(p) for _, p in asked}):
        lost = Counter(it.example.set for it, p in asked if p < t)
        if any(lost[s] / sizes[s] > budget[s] for s in sizes):
            break
        kept = t
    below = oof[oof < kept]
    return float((kept + below.max()) / 2) if len(below) else kept


# ---- composing answers -------------------------------------------------------------
def answer_results(answerer, items: Sequence[Item], models: Sequence[AnswerModel]
                   ) -> list[dict]:
    """Each item's question answered from its passages and checked, as `zhice eval` does,
    by the model given for it (its fold's): the eval's result objects."""
    saved = answerer.model
    out = []
    try:
        for it, model in zip(items, models):
            answerer.model = model
            e = it.example
            answer = check_answer(answerer(e.question, e.hits), NOT_FOUND)
            out.append(replace(answer, id=e.group).to_dict())
    finally:
        answerer.model = saved
    return out


def cross_validated_results(answerers: dict, items: Sequence[Item], fit: Fit, **settings
                            ) -> dict[str, tuple[list[Question], list[dict]]]:
    """Per set, its questions as asked and their cross-validated results: each answered
    by the model fitted without its fold, with `settings` (threshold, runner_up)
    replaced. What the eval's metrics (metrics.summarize) are computed on."""
    out = {}
    for name, answerer in answerers.items():
        mine = [it for it in items if it.example.set == name and it.example.natural]
        models = [replace(fit.fold_models[it.fold], **settings) for it in mine]
        out[name] = ([it.example.as_question() for it in mine],
                     answer_results(answerer, mine, models))
    return out


def keyword_accuracy(answerers: dict, items: Sequence[Item], fit: Fit,
                     **settings) -> dict[str, list[bool]]:
    """Per set, the cross-validated keyword hits of its answerable questions as asked."""
    out = {}
    for name, (questions, results) in cross_validated_results(
            answerers, [it for it in items if it.example.answerable], fit, **settings).items():
        out[name] = [not r["abstained"] and keywords_found(q, r["answer"])
                     for q, r in zip(questions, results)]
    return out


def choose_runner_up(answerers: dict, items: Sequence[Item], fit: Fit) -> float:
    """The highest runner-up share whose mean cross-validated keyword accuracy over the
    sets is within one standard error of the best share's."""
    results = {}
    for share in RUNNER_UP_GRID:
        hits = keyword_accuracy(answerers, items, fit, runner_up=share)
        per_set = [sum(h) / len(h) for h in hits.values() if h]
        # the standard error of a mean of per-set proportions
        se = math.sqrt(sum(p * (1 - p) / len(h) for p, h in zip(per_set, hits.values()))
                       ) / len(per_set)
        results[share] = (sum(per_set) / len(per_set), se)
    best = max(results, key=lambda s: results[s][0])
    floor = results[best][0] - results[best][1]
    return max(s for s, (acc, _) in results.items() if acc >= floor)


# ---- the whole fit ------------------------------------------------------------------
def calibrate(answerers: dict, items: Sequence[Item]) -> tuple[Fit, dict]:
    """The fitted model, with the choices made on the way (for the report)."""
    train = [it for it in items if it.example.trains]
    l2_sentence = choose_sentence_l2(train)
    sentences = [fit_sentence([it for it in train if it.fold != k], l2_sentence)
                 for k in range(FOLDS)] + [fit_sentence(train, l2_sentence)]
    evidence = Evidence(items, sentences)
    columns = select_features(evidence, L2_GRID[1])
    l2_evidence = choose_evidence_l2(evidence, columns)
    oof = evidence.out_of_fold(columns, l2_evidence)
    threshold = choose_threshold(items, oof)
    fold_models = tuple(AnswerModel(
        sentences[k], evidence.fit(columns, l2_evidence, k, evidence.trains
                                   & (evidence.fold != k)), threshold, 1.0)
        for k in range(FOLDS))
    model = AnswerModel(sentences[-1], evidence.fit(columns, l2_evidence, FOLDS,
                                                    evidence.trains), threshold, 1.0)
    fit = Fit(model, fold_models, oof)
    runner_up = choose_runner_up(answerers, items, fit)
    fit = Fit(replace(model, runner_up=runner_up),
              tuple(replace(m, runner_up=runner_up) for m in fold_models), oof)
    return fit, {"l2": (l2_sentence, l2_evidence)}


# the eval's answer metrics (metrics.summarize) that cross_validated reports
ANSWER_METRICS = ("keyword_accuracy", "citation_support", "groundedness", "abstention",
                  "false_abstention")


def cross_validated(answerers: dict, items: Sequence[Item], fit: Fit
                    ) -> dict[str, dict[str, float]]:
    """Per set, from the models fitted without each item's fold: the eval's answer
    metrics of its questions as asked (ANSWER_METRICS), abstention on each kind of
    unanswerable example made from them and its AUC, and how often the best sentence
    holds the answer."""
    t = fit.model.threshold
    aucs = auc_by_kind(items, fit.oof)
    asked = cross_validated_results(answerers, items, fit)
    out = {}
    for name in answerers:
        summary = summarize(*asked[name])
        row = {k: summary[k] for k in ANSWER_METRICS if applies(k, summary)}
        mine = [(it, p) for it, p in zip(items, fit.oof) if it.example.set == name]
        for kind in UNANSWERABLE_KINDS:
            ps = [p for it, p in mine if it.example.kind == kind]
            if ps and kind != "unanswerable":
                row[f"abstention ({kind})"] = sum(p < t for p in ps) / len(ps)
            if ps:
                row[f"AUC ({kind})"] = aucs[name, kind]
        top = [it.labels[int(np.argmax(logits(fit.fold_models[it.fold].sentence, it.values)))]
               for it in sentence_groups([it for it, _ in mine])]
        row["best sentence holds the answer"] = sum(top) / len(top) if top else math.nan
        out[name] = row
    return out


def heldout_metrics(index: Path, dataset: Path, model: AnswerModel, limit: int
                    ) -> dict[str, float]:
    """The fitted model's aggregate metrics on a held-out set: no question of it shown."""
    with Assistant.open(index, answer_model=model) as assistant:
        questions = read_questions(dataset, assistant.index, limit)
        return summarize(questions, run_questions(assistant, questions))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m zhice.eval.calibrate",
                                description=__doc__.splitlines()[0])
    p.add_argument("--set", action="append", required=True, metavar="INDEX=DATASET",
                   help="a tuning set (.jsonl, or a SQuAD-format .json whose paragraphs the "
                        "index holds) and its index (repeatable)")
    p.add_argument("--heldout", action="append", default=[], metavar="INDEX=DATASET",
                   help="a held-out set to report the fitted model on, never fitted on "
                        "(repeatable)")
    p.add_argument("--max-false", type=float, default=0.05,
                   help="false abstention allowed on a dataset's answerable questions")
    p.add_argument("--max-false-benchmark", type=float, default=0.03,
                   help="false abstention allowed on a SQuAD-format file's questions")
    p.add_argument("-k", type=int, default=5, help="passages answered from (default 5)")
    p.add_argument("--questions", type=int, default=1000,
                   help="questions taken from a SQuAD-format file, spread evenly (0: all)")
    p.add_argument("--heldout-questions", type=int, default=500,
                   help="questions taken from a SQuAD-format held-out file (0: all)")
    p.add_argument("--foreign", type=int, default=100,
                   help="off-topic examples asked of each set's index: answerable questions "
                        "of the sets on other corpora, spread evenly over them (default 100)")
    p.add_argument("--write", action="store_true",
                   help=f"store the model in assistant/{MODEL_FILE}")
    args = p.parse_args(argv)
    tuning = index_dataset_pairs(p, "--set", args.set)
    heldout = index_dataset_pairs(p, "--heldout", args.heldout)
    refused = [str(f) for _, f in tuning if f.name in HELD_OUT]
    if refused:
        p.error(f"{', '.join(refused)} is held out (eval/README.md): give it with --heldout, "
                "never --set")
    for option, value in (("--max-false", args.max_false),
                          ("--max-false-benchmark", args.max_false_benchmark)):
        if not 0.0 <= value <= 1.0:
            p.error(f"{option} is a share of the answerable questions, from 0 to 1; "
                    f"got {value}")
    if args.foreign < 0:
        p.error(f"--foreign is a number of questions, 0 or more; got {args.foreign}")
    if args.k < 1:
        p.error(f"-k is how many passages a question is answered from, at least 1; got {args.k}")
    if len({f.stem for _, f in tuning}) < len(tuning):
        p.error("each --set needs a dataset of its own name: sets are told apart by it")
    tag = _tagger()
    try:
        with ExitStack() as stack:
            sets = []
            for index, dataset in tuning:
                assistant = stack.enter_context(Assistant.open(
                    index, answer_model=AnswerModel.neutral()))
                sets.append((dataset, index.resolve(), assistant,
                             read_questions(dataset, assistant.index, args.questions)))
            items, answerers = [], {}
            for dataset, where, assistant, questions in sets:
                found = examples(assistant, questions, dataset.stem, tag, args.k)
                # off-topic questions: those of the sets on other corpora
                others = [(d.stem, [q for q in qs if q.type != UNANSWERABLE])
                          for d, w, _, qs in sets if w != where]
                for origin, theirs in others:
                    found += foreign(assistant, spread(theirs, args.foreign // len(others)),
                                     dataset.stem, origin, args.k)
                budget = args.max_false_benchmark if dataset.suffix == ".json" else args.max_false
                items += featurise(assistant.answerer, found, budget)
                answerers[dataset.stem] = assistant.answerer
            _check_kinds(items)
            fit, choices = calibrate(answerers, items)
            report = cross_validated(answerers, items, fit)
        held = [(f, heldout_metrics(d, f, fit.model, args.heldout_questions))
                for d, f in heldout]
    except (ZhiceError, ValueError) as e:  # no index, a bad dataset, one kind of example
        raise SystemExit(f"calibrate: {e}") from None
    train = [it for it in items if it.example.trains]
    digest = sha256([it.example for it in train], [it.values.ravel() for it in train])
    model = replace(fit.model, data_sha256=digest)
    print_report(items, model, choices, report, held, args)
    if args.write:
        path = Path(__file__).parents[1] / "assistant" / MODEL_FILE
        fitted_on = [{"dataset": f.name, "sha256": hashlib.sha256(f.read_bytes()).hexdigest(),
                      "examples": dict(Counter(it.example.kind for it in items
                                               if it.example.set == f.stem))}
                     for _, f in tuning]
        write_params(path, "Answer model fitted by python -m zhice.eval.calibrate", fitted_on,
                     model.to_dict(), data_sha256=digest,
                     max_false={"dataset": args.max_false,
                                "benchmark": args.max_false_benchmark},
                     cross_validated=report)
        print(f"wrote {path}")


def _tagger():
    """jieba's part-of-speech tagger, which finds the places and organisations to swap:
    loaded here, once, and only by this command."""
    import jieba
    import jieba.posseg

    tagger = jieba.posseg.POSTokenizer(jieba.Tokenizer())
    return lambda text: [(w.word, w.flag) for w in tagger.cut(text)]


def _check_kinds(items: Sequence[Item]) -> None:
    kinds = Counter(it.example.answerable for it in items if it.example.trains)
    if not kinds[True] or not kinds[False]:
        raise ValueError(f"fitting needs answerable and unanswerable examples; the sets give "
                         f"{kinds[True]} answerable and {kinds[False]} unanswerable")


def print_report(items, model: AnswerModel, choices: dict, report: dict, held, args) -> None:
    """What was fitted on what, the cross-validated numbers and the held-out ones."""
    for name in dict.fromkeys(it.example.set for it in items):
        c = Counter(it.example.kind for it in items if it.example.set == name)
        print(f"{name}: " + ", ".join(f"{c[k]} {k}" for k in
                                      ("answerable", *UNANSWERABLE_KINDS, "missed") if c[k]))
    for part, label, l2 in ((model.sentence, "sentence", choices["l2"][0]),
                            (model.evidence, "evidence", choices["l2"][1])):
        print(f"{label} model (L2 {l2}): " + ", ".join(
            f"{n} {w:+.2f}" for n, w in zip(part.features, part.weights))
            + ("" if label == "sentence" else f"; bias {part.bias:+.2f}"))
    print(f"threshold {model.threshold:.4g} (cross-validated false abstention within "
          f"{args.max_false} on datasets, {args.max_false_benchmark} on benchmarks); "
          f"runner_up {model.runner_up}")
    print(f"examples sha256 {model.data_sha256}")
    print(f"{FOLDS}-fold cross-validated, per tuning set:")
    for name, row in report.items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()))
    # every metric a floor can gate (eval/floors_heldout.json), latency aside: it is the
    # machine's
    gated = [k for k, _ in METRIC_FORMATS if k not in ("latency_p50_ms", "latency_p95_ms")]
    for f, summary in held:
        print(f"held out, {f.name} ({summary['questions']} questions): " + ", ".join(
            f"{k} {summary[k]:.3f}" for k in gated if applies(k, summary)))

if __name__ == "__main__":
    main()
