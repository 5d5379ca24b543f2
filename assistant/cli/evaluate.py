"""`zhice eval`: every question of a dataset through the same chain as `zhice ask`.

    zhice eval [--dataset FILE] [--index DIR] [--results OUT.jsonl] [--report DIR] [--baselines]
    zhice eval --benchmark cmrc|drcd|PATH.json [--index DIR] [--questions N] [--report DIR]
    zhice eval --draft N [--index DIR] [--output FILE]
"""

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from zhice.assistant.cli.common import (
    UsageError,
    add_embedder_argument,
    add_index_argument,
    add_mode_arguments,
    index_dir,
    open_assistant,
)
from zhice.eval.dataset import BUNDLED_DATASET, load_dataset
from zhice.eval.labels import BASELINES, LABELS
from zhice.index.atomic import atomic_write_text

# Shown for benchmarks: retrieval first, then what the answers did.
BENCHMARK_METRICS = ("R@1", "R@5", "MRR@10", "nDCG@10", "budget_recall", "keyword_accuracy",
                     "false_abstention", "latency_p50_ms", "latency_p95_ms")


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", type=Path, default=BUNDLED_DATASET, metavar="FILE",
                   help="JSON Lines questions (default: the bundled public set)")
    add_index_argument(p)
    add_embedder_argument(p)
    add_mode_arguments(p)
    p.add_argument("--results", type=Path, metavar="OUT.jsonl",
                   help="write one result object per line (baselines: OUT.NAME.jsonl beside it)")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write a Markdown report with tables and PNG plots into DIR")
    p.add_argument("--baselines", action="store_true",
                   help=f"also run the baselines on the same data: {', '.join(BASELINES)}")
    p.add_argument("-k", type=int, default=5, metavar="N", help="passages to answer from")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--floors", type=Path, metavar="FLOORS.json",
                   help="fail (exit 1) when a metric falls below its floor in this file, "
                        "e.g. eval/floors.json for the public set")
    p.add_argument("--benchmark", metavar="NAME|PATH",
                   help="passage retrieval on a reading-comprehension set: cmrc, drcd, or a "
                        "SQuAD-format JSON file (gold = the question's paragraph); --index "
                        "then names the benchmark's own index (default: a temporary one)")
    p.add_argument("--benchmarks-dir", type=Path, metavar="DIR",
                   help="where cmrc2018/ and drcd/ are (default: $ZHICE_BENCHMARKS, else "
                        "../shared/benchmarks beside the project)")
    p.add_argument("--questions", type=int, default=500, metavar="N",
                   help="benchmark questions, evenly spread through the file; 0 for all "
                        "(default 500)")
    p.add_argument("--draft", type=int, metavar="N",
                   help="propose N questions with gold quotes from the indexed documents, "
                        "as dataset JSON Lines for a person to check")
    p.add_argument("--output", type=Path, metavar="FILE",
                   help="where --draft writes (default: standard output)")


def run(args: argparse.Namespace) -> int:
    if args.benchmark and args.draft is not None:
        raise UsageError("--benchmark and --draft are separate tasks; give one of them")
    if not 1 <= args.k <= 50:
        raise UsageError(f"-k must be between 1 and 50; got {args.k}")
    if args.draft is not None:
        return _draft(args)
    if args.benchmark:
        return _benchmark(args)
    return _dataset(args)


def _dataset(args: argparse.Namespace) -> int:
    from zhice.eval.metrics import METRIC_FORMATS, check_floors, load_floors, summarize
    from zhice.eval.run import check_against_index, run_systems

    questions = load_dataset(args.dataset)
    with open_assistant(args) as assistant:  # --mode llm: the chat model answers
        check_against_index(assistant, questions, args.dataset.name)
        runs = run_systems(assistant, questions, args.k,
                           BASELINES if args.baselines else (), _progress())
    _write_results(args.results, runs)
    summaries = {name: summarize(questions, results) for name, results in runs.items()}
    if args.report:
        from zhice.eval.report import write_report

        path = write_report(args.report, args.dataset.name, questions, runs)
        print(f"report: {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(summaries["zhice"] if len(runs) == 1 else summaries))
    else:
        print(f"{args.dataset.name}: {len(questions)} questions")
        _table(summaries, [name for name, _ in METRIC_FORMATS])
    if args.floors:
        problems = check_floors(summaries["zhice"], load_floors(args.floors))
        for problem in problems:
            print(f"zhice: {problem} ({args.floors})", file=sys.stderr)
        return 1 if problems else 0
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    from zhice.assistant.chain import Assistant
    from zhice.eval.metrics import summarize
    from zhice.eval.run import run_systems
    from zhice.eval.squad import (
        check_benchmark_index,
        ingest_paragraphs,
        load_benchmark,
        with_folded_gold,
    )
    from zhice.index.stores import open_index

    if args.questions < 0:
            raise UsageError(f"--questions must be 0 (all) or more; got {args.questions}")
    bench = load_benchmark(args.benchmark, args.benchmarks_dir, args.questions)
    with ExitStack() as stack:
        directory = index_dir(args) if args.index else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="zhice-bench-")))
        started = time.perf_counter()
        with open_index(directory, embedder=args.embedder, create=True) as index:
            check_benchmark_index(index, bench.paragraphs)
            added = ingest_paragraphs(index, bench.paragraphs, _count_progress("ingest"))
            runs_q = [(r.name, with_folded_gold(index, r.questions)) for r in bench.runs]
        ingest_s = time.perf_counter() - started
        summaries, all_runs, timings = {}, {}, {}
        with Assistant.open(directory) as assistant:
            for name, questions in runs_q:
                t = time.perf_counter()
                runs = run_systems(assistant, questions, args.k,
                                   BASELINES if args.baselines else (), _progress(name))
                timings[name] = time.perf_counter() - t
                for system, results in runs.items():
                    key = name if system == "zhice" else f"{name} · {LABELS[system]}"
                    summaries[key] = summarize(questions, results)
                    all_runs.setdefault(system, []).extend(results)
    questions_all = [q for _, qs in runs_q for q in qs]
    _write_results(args.results, all_runs)
    if args.report:
        from zhice.eval.report import write_report

        notes = [bench.about, *bench.notes, f"ingest {ingest_s:.0f} s"]
        path = write_report(args.report, bench.name, questions_all, all_runs, notes)
        print(f"report: {path}", file=sys.stderr)
    if args.json:
        print(json.dumps({"benchmark": bench.name, "ingest_s": ingest_s, "runs": summaries,
                          "run_s": timings}))
        return 0
    print(f"{bench.about}")
    for note in bench.notes:
        print(f"  {note}")
    print(f"  ingest: {len(bench.paragraphs)} paragraphs ({added} new) in {ingest_s:.1f} s; "
          + "; ".join(f"{n}: {len(qs)} questions in {timings[n]:.1f} s" for n, qs in runs_q))
    _table(summaries, list(BENCHMARK_METRICS))
    return 0


def _draft(args: argparse.Namespace) -> int:
    from zhice.eval.draft import draft_questions
    from zhice.index.stores import open_index

    if args.draft < 1:
        raise UsageError(f"--draft needs a number of questions of at least 1; got {args.draft}")
    with open_index(index_dir(args), embedder=args.embedder) as index:
        lines = draft_questions(index, args.draft)
    if args.output:
        write_jsonl(args.output, lines)
        print(f"wrote {len(lines)} draft questions to {args.output}; check each question, "
              "its keywords and its quote before using it", file=sys.stderr)
    else:
        for line in lines:
            print(json.dumps(line, ensure_ascii=False))
    if len(lines) < args.draft:
        print(f"zhice: only {len(lines)} candidate questions found in the indexed documents",
              file=sys.stderr)
    return 0


def _table(summaries: dict[str, dict], metrics: list[str]) -> None:
    """Metrics down, systems (or benchmark runs) across."""
    from zhice.eval.metrics import METRIC_FORMATS, applies

    formats = dict(METRIC_FORMATS)
    names = list(summaries)
    labels = [LABELS.get(n, n) for n in names]
    widths = [max(len(label), 7) + 2 for label in labels]
    if len(names) > 1:
        print(" " * 20 + "".join(f"{label:>{w}}" for label, w in zip(labels, widths)))
    for metric in metrics:
        cells = [formats[metric].format(summaries[n][metric])
                 if applies(metric, summaries[n]) else "n/a" for n in names]
        print(f"  {metric:<18}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths)))


def _write_results(path: Path | None, runs: dict[str, list[dict]]) -> None:
    if not path:
        return
    for name, results in runs.items():
        target = path if name == "zhice" else path.with_name(f"{path.stem}.{name}{path.suffix}")
        write_jsonl(target, results)


def _progress(label: str = ""):
    """Questions done per system, on one line of a terminal's stderr; silent otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(system: str, done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\r  {label + ' · ' if label else ''}{LABELS.get(system, system)}: "
              f"{done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


def _count_progress(what: str):
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        print(f"\r  {what}: {done}/{total}", end="\n" if done == total else "",
              file=sys.stderr, flush=True)

    return show


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Write rows as JSON Lines atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
