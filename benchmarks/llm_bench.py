"""LLM answers against extractive ones on the public eval set, with a real GGUF model.

    bash scripts/fetch_model.sh    # prints the export line below
    export ZHICE_LLM_GGUF=~/.local/share/zhice/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
    python benchmarks/llm_bench.py > benchmarks/results/llm.txt

Both modes answer from the same index (the bundled corpus, default embedder) and the
same five passages a question. Besides the eval metrics, what the citation check did:
the share of the model's sentences it flagged (before), the share of shown sentences
its cited passage does not support (after: 0 unless the check has a hole), and how
often the model's answer gave way to the extractive one. About 12 minutes on 2 cores.
"""

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from zhice.assistant.chain import Assistant
from zhice.assistant.check import check_answer, claims, supports
from zhice.assistant.extractive import NOT_FOUND
from zhice.assistant.llm import LlmConfig, cite, parse
from zhice.assistant.types import Answer
from zhice.eval.dataset import BUNDLED_DATASET, UNANSWERABLE, load_dataset
from zhice.eval.metrics import keywords_found, summarize
from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files

ROOT = Path(__file__).resolve().parents[1]


K = 5
ROWS = (
    ("keyword_accuracy", "{:.3f}"), ("citation_support", "{:.3f}"),
    ("unsupported_before", "{:.3f}"), ("unsupported_after", "{:.3f}"),
    ("answers_trimmed", "{:.3f}"), ("fallback_to_extractive", "{:.3f}"),
    ("abstention", "{:.3f}"), ("false_abstention", "{:.3f}"),
    ("latency_p50_ms", "{:.0f}"), ("latency_p95_ms", "{:.0f}"),
)


def sentences(answer: Answer) -> list[tuple[str, list[int]]]:
    return [(s, m) for s, m in claims(answer.answer) if s.strip()]


def unsupported_shown(answer: Answer) -> int:
    """Shown sentences that no passage their markers name supports."""
    by_marker = {c.marker: c.hit.chunk.text for c in answer.citations}
    return sum(1 for s, markers in sentences(answer)
               if not any(m in by_marker and supports(s, by_marker[m]) for m in markers))


def drafted(answer: Answer) -> tuple[int, int]:
    """(sentences written, sentences the check flags) before checking. In llm mode the
    model's raw text, re-checked against the passages it saw; in extractive mode the
    answerer's sentences (the shown ones plus those the check dropped)."""
    raw = answer.extra.get("raw")
    if raw is not None:
        text = parse(raw)
        if not text or NOT_FOUND.rstrip("。") in text:
            return 0, 0
        checked = check_answer(cite(answer.searched, text, answer.retrieved[:K]), NOT_FOUND)
        return len([s for s, _ in claims(text) if s.strip()]), len(checked.unsupported)
    if answer.abstained or answer.extra.get("llm_note"):
        return 0, 0
    return len(sentences(answer)) + len(answer.unsupported), len(answer.unsupported)


def run(assistant: Assistant, questions, label: str) -> tuple[list[Answer], float]:
    answers, started = [], time.perf_counter()
    for i, q in enumerate(questions, 1):
        answers.append(assistant.ask(q.question, k=K, id=q.id))
        if i % 10 == 0 or i == len(questions):
            print(f"{label}: {i}/{len(questions)} in {time.perf_counter() - started:.0f} s",
                  file=sys.stderr, flush=True)
    return answers, time.perf_counter() - started


def row(questions, answers: list[Answer]) -> dict[str, float]:
    metrics = summarize(questions, [a.to_dict() for a in answers])
    written = flagged = shown = bad = 0
    for a in answers:
        w, f = drafted(a)
        written, flagged = written + w, flagged + f
        if not a.abstained:
            shown += len(sentences(a))
            bad += unsupported_shown(a)
    answered = [a for a in answers if not a.abstained]
    metrics["unsupported_before"] = flagged / written if written else 0.0
    metrics["unsupported_after"] = bad / shown if shown else 0.0
    metrics["answers_trimmed"] = (sum(1 for a in answered if a.unsupported and
                                      a.extra.get("mode") != "extractive") / len(answered))
    metrics["fallback_to_extractive"] = (sum(1 for a in answered if a.extra.get("llm_note"))
                                         / len(answered))
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, metavar="N", help="the first N questions only")
    args = parser.parse_args()
    gguf = os.environ.get("ZHICE_LLM_GGUF")
    if not gguf or not Path(gguf).is_file():
        sys.exit("set ZHICE_LLM_GGUF to the model file: bash scripts/fetch_model.sh")
    questions = load_dataset(BUNDLED_DATASET)[: args.limit]
    by_id = {q.id: q for q in questions}
    rows, seconds, runs = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        with ZhiceIndex.open(Path(tmp), create=True) as index:
            summary = index_files(index, [ROOT / "corpus"])
        print(f"ingest: {summary.line()}")
        for mode in ("extractive", "llm"):
            started = time.perf_counter()
            config = LlmConfig(gguf=gguf) if mode == "llm" else None
            with Assistant.open(Path(tmp), mode=mode, llm=config) as assistant:
                opened = time.perf_counter() - started
                runs[mode], seconds[mode] = run(assistant, questions, mode)
            rows[mode] = row(questions, runs[mode])
            print(f"{mode}: open {opened:.1f} s, {len(questions)} questions in "
                  f"{seconds[mode]:.0f} s")

    print(f"\nmodel: {Path(gguf).name}, llama.cpp threads: {os.cpu_count()}, temperature 0, "
          f"k={K}\n{BUNDLED_DATASET.name}: {len(questions)} questions "
          f"({sum(q.type == UNANSWERABLE for q in questions)} unanswerable)\n")
    print(f"{'metric':<24}{'extractive':>12}{'llm':>12}")
    for metric, fmt in ROWS:
        print(f"{metric:<24}" + "".join(f"{fmt.format(rows[m][metric]):>12}" for m in rows))

    llm_answers = runs["llm"]
    notes = Counter(a.extra["llm_note"].split(";")[0].split(" of ")[-1]
                    for a in llm_answers if a.extra.get("llm_note"))
    print("\nwhy llm mode showed the extractive answer:")
    for note, n in notes.most_common():
        print(f"  {n:>3}  {note}")
    extractive = {a.id: a for a in runs["extractive"]}
    both = [a for a in llm_answers if a.extra.get("mode") == "llm"]
    won = sum(1 for a in both if keywords_found(by_id[a.id], a.answer)
              and not keywords_found(by_id[a.id], extractive[a.id].answer))
    lost = sum(1 for a in both if not keywords_found(by_id[a.id], a.answer)
               and keywords_found(by_id[a.id], extractive[a.id].answer))
    print(f"\nmodel answers shown: {len(both)}; keywords found where extractive missed "
          f"them: {won}; missed where extractive found them: {lost}")
    print("\nexamples (llm mode, model answer shown):")
    for a in both[:6]:
        print(f"  {a.id} {a.question}\n      {a.answer}")
        if a.unsupported:
            print(f"      dropped: {' / '.join(a.unsupported)}")


if __name__ == "__main__":
    main()
