"""The eval report: a Markdown file with tables and PNG plots, zhice beside its baselines.

    write_report(Path("report"), "questions.jsonl", questions, {"zhice": results, ...})

Writes report.md, recall_at_k.png, latency.png and r1_by_type.png, and each system's
result objects as results_<system>.jsonl. Plot labels are Chinese when a CJK font is
installed (fonts-noto-cjk on Debian), else English with a note in the report saying so.
"""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from .baselines import EVAL_EXTRA_HINT, BaselineError
from .dataset import UNANSWERABLE, Question
from .labels import LABELS
from .metrics import (
    BUDGET_CHARS,
    CURVE_KS,
    METRIC_FORMATS,
    applies,
    by_type,
    gold_ranks,
    keywords_found,
    recall_curve,
    summarize,
)

REPORT_FILE = "report.md"
RECALL_PNG, LATENCY_PNG, TYPES_PNG = "recall_at_k.png", "latency.png", "r1_by_type.png"
# Preferred CJK families, simplified Chinese first; any other family with CJK in its
# name is taken after these.
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC",
    "Heiti SC", "Noto Serif CJK SC", "Noto Sans CJK JP", "AR PL UMing CN",
)
TYPE_NAMES = {"number": "数字", "name": "名称", "list": "列举", "definition": "定义",
              "paraphrase": "改写", "colloquial": "口语", "traditional": "繁体",
              "multi_doc": "跨文档", "unanswerable": "无答案"}
_TEXT = {
    "zh": {"recall": "召回率@k（可回答的问题）", "k": "k（前 k 个段落）", "rate": "召回率",
           "latency": "每题延迟（毫秒，对数刻度）", "ms": "毫秒", "types": "各题型 R@1"},
    "en": {"recall": "Recall@k (answerable questions)", "k": "k (top k passages)",
           "rate": "recall", "latency": "Latency per question (ms, log scale)", "ms": "ms",
           "types": "R@1 by question type"},
}
# Metrics a table shows for the unanswerable questions (the others do not apply).
_UNANSWERABLE_METRICS = ("abstention", "latency_p50_ms", "latency_p95_ms")
_MARGIN_METRICS = ("R@1", "MRR@10", "budget_recall")
_SNIPPET = 70


def find_cjk_font() -> str | None:
    """The family name of an installed font that can draw Chinese, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in names:
            return family
    return next((n for n in sorted(names) if "CJK" in n or "Han Sans" in n), None)


def write_report(directory: Path, dataset_name: str, questions: Sequence[Question],
                 runs: Mapping[str, list[dict]], notes: Sequence[str] = (),
                 results: bool = True) -> Path:
    """Write the report for `runs` (system name -> result objects, zhice first) into
    `directory`, with each system's results as JSON Lines unless `results` is False;
    returns the path of report.md."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    summaries = {name: summarize(questions, results) for name, results in runs.items()}
    font = _plots(directory, questions, runs)
    lines = [f"# zhice eval: {dataset_name}", ""]
    answerable = sum(q.type != UNANSWERABLE for q in questions)
    lines += [f"{len(questions)} questions ({answerable} answerable, "
              f"{len(questions) - answerable} unanswerable). Systems: "
              + ", ".join(LABELS.get(n, n) for n in runs) + ".", ""]
    lines += [f"- {n}" for n in notes]
    if font is None:
        lines.append("- No CJK font was found, so plot labels are in English: install one "
                     "(Debian: `apt-get install fonts-noto-cjk`) for Chinese labels.")
    lines += ["", "## Metrics", "", *_summary_table(summaries), ""]
    lines += _margins(summaries)
    lines += ["Definitions: eval/README.md. Budget recall counts the best passages that "
              f"together hold at most {BUDGET_CHARS:,} characters.", ""]
    lines += [f"![recall@k]({RECALL_PNG})", "", f"![latency]({LATENCY_PNG})", ""]
    lines += ["## By question type", "", *_type_table(questions, runs), "",
              f"![R@1 by type]({TYPES_PNG})", ""]
    lines += ["## Recall@k", "", *_curve_table(questions, runs), ""]
    first = next(iter(runs))
    failed = _failures(questions, runs[first])
    lines += [f"## Failed questions ({LABELS.get(first, first)}): {len(failed)}", ""]
    lines += [line for block in failed for line in block] or ["None."]
    path = directory / REPORT_FILE
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    for name, rows in runs.items() if results else ():
        with open(directory / f"results_{name}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return path


def _summary_table(summaries: Mapping[str, dict]) -> list[str]:
    names = list(summaries)
    rows = [_row(["metric", *(LABELS.get(n, n) for n in names)]),
            _row(["---", *("---:" for _ in names)])]
    for metric, fmt in METRIC_FORMATS:
        rows.append(_row([metric, *(fmt.format(summaries[n][metric])
                                    if applies(metric, summaries[n]) else "n/a"
                                    for n in names)]))
    return rows


def _margins(summaries: Mapping[str, dict]) -> list[str]:
    """zhice against its best baseline on the headline retrieval metrics."""
    names = list(summaries)
    if len(names) < 2:
        return []
    first, others = names[0], names[1:]
    out = []
    for metric in _MARGIN_METRICS:
        best = max(others, key=lambda n: summaries[n][metric])
        diff = summaries[first][metric] - summaries[best][metric]
        out.append(f"- {metric}: {LABELS.get(first, first)} {summaries[first][metric]:.3f}, "
                   f"{'+' if diff >= 0 else ''}{diff:.3f} against the best baseline "
                   f"({LABELS.get(best, best)} {summaries[best][metric]:.3f})")
    return [*out, ""]


def _type_table(questions: Sequence[Question], runs: Mapping[str, list[dict]]) -> list[str]:
    """Per type: R@1 of every system (abstention for unanswerable), then the first
    system's MRR@10, keyword accuracy and citation support."""
    names = list(runs)
    per = {n: by_type(questions, runs[n]) for n in names}
    first = names[0]
    counts: dict[str, int] = {}
    for q in questions:
        counts[q.type] = counts.get(q.type, 0) + 1
    head = ["type", "n", *(f"R@1 {LABELS.get(n, n)}" for n in names),
            f"MRR@10 {first}", f"keywords {first}", f"citations {first}"]
    rows = [_row(head), _row(["---", "---:", *("---:" for _ in head[2:])])]
    for qtype, n in counts.items():
        if qtype == UNANSWERABLE:
            cells = [f"abstained {per[name][qtype]['abstention']:.2f}" for name in names]
            rows.append(_row([qtype, str(n), *cells, "", "", ""]))
            continue
        cells = [f"{per[name][qtype]['R@1']:.2f}" for name in names]
        s = per[first][qtype]
        rows.append(_row([qtype, str(n), *cells, f"{s['MRR@10']:.2f}",
                          f"{s['keyword_accuracy']:.2f}", f"{s['citation_support']:.2f}"]))
    return rows


def _curve_table(questions: Sequence[Question], runs: Mapping[str, list[dict]]) -> list[str]:
    ks = (1, 2, 3, 5, 10)
    rows = [_row(["system", *(f"R@{k}" for k in ks)]), _row(["---", *("---:" for _ in ks)])]
    for name, results in runs.items():
        curve = recall_curve(questions, results, ks)
        rows.append(_row([LABELS.get(name, name), *(f"{curve[k]:.3f}" for k in ks)]))
    return rows


def _failures(questions: Sequence[Question], results: Sequence[dict]) -> list[list[str]]:
    """Each failed question's lines: what failed, the gold, what was retrieved instead."""
    by_id = {r["id"]: r for r in results}
    out: list[list[str]] = []
    for q in questions:
        r = by_id[q.id]
        problems = []
        if q.type == UNANSWERABLE:
            if not r["abstained"]:
                problems.append("answered a question the documents do not answer")
        else:
            ranks = gold_ranks(q, r)
            if not ranks:
                problems.append(f"no gold passage in the top {len(r['retrieved'])}")
            elif min(ranks) > 1:
                problems.append(f"first gold passage at rank {min(ranks)}")
            if r["abstained"]:
                problems.append("abstained")
            elif q.keywords and not keywords_found(q, r["answer"]):
                problems.append("answer lacks the keywords (" + "、".join(q.keywords) + ")")
        if not problems:
            continue
        block = [f"### {q.id} ({q.type}) {q.question}", "", f"- failed: {'; '.join(problems)}"]
        for ev in q.evidence:
            block.append(f"- gold: {ev.source}" + (f" 「{ev.quote}」" if ev.quote else ""))
        if r["retrieved"]:
            gold = set(gold_ranks(q, r)) if q.type != UNANSWERABLE else set()
            block.append("- retrieved instead:" if q.type != UNANSWERABLE else "- retrieved:")
            for p in r["retrieved"][:3]:
                mark = " (gold)" if p["rank"] in gold else ""
                block.append(f"  {p['rank']}. {p['source']}{mark}: {_snippet(p['text'])}")
        block += [f"- answer: {_snippet(r['answer'], 120)}", ""]
        out.append(block)
    return out


def _snippet(text: str, n: int = _SNIPPET) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[:n] + "…"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _plots(directory: Path, questions: Sequence[Question],
           runs: Mapping[str, list[dict]]) -> str | None:
    """Draw the three PNGs; returns the CJK font used, or None (English labels)."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise BaselineError(f"the report's plots need matplotlib; install it with: "
                            f"{EVAL_EXTRA_HINT}") from None
    font = find_cjk_font()
    text = _TEXT["zh" if font else "en"]
    rc = {"font.family": ["DejaVu Sans", font] if font else ["DejaVu Sans"],
          "axes.unicode_minus": False}
    names = list(runs)
    labels = [LABELS.get(n, n) for n in names]
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(6.4, 4.2), dpi=120, layout="constrained")
        ax = fig.subplots()
        for label, results in zip(labels, runs.values()):
            curve = recall_curve(questions, results, CURVE_KS)
            ax.plot(list(curve), list(curve.values()), marker="o", label=label)
        ax.set(title=text["recall"], xlabel=text["k"], ylabel=text["rate"], xticks=CURVE_KS)
        ax.set_ylim(top=1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        fig.savefig(directory / RECALL_PNG)

        fig = Figure(figsize=(6.4, 0.6 + 0.55 * len(names)), dpi=120, layout="constrained")
        ax = fig.subplots()
        latencies = [[max(r["latency_ms"], 0.01) for r in results] for results in runs.values()]
        # reversed: the first system at the top
        ax.boxplot(latencies[::-1], orientation="horizontal", tick_labels=labels[::-1])
        ax.set_xscale("log")
        ax.set(title=text["latency"], xlabel=text["ms"])
        ax.grid(alpha=0.3, axis="x")
        fig.savefig(directory / LATENCY_PNG)

        types = [t for t in dict.fromkeys(q.type for q in questions) if t != UNANSWERABLE]
        fig = Figure(figsize=(max(6.4, 0.9 * len(types) + 2), 4.2), dpi=120,
                     layout="constrained")
        ax = fig.subplots()
        width = 0.8 / max(len(names), 1)
        for i, (label, results) in enumerate(zip(labels, runs.values())):
            per = by_type(questions, results)
            ax.bar([x + i * width for x in range(len(types))], [per[t]["R@1"] for t in types],
                   width, label=label)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(types))],
                      [f"{TYPE_NAMES[t]}\n{t}" if font and t in TYPE_NAMES else t
                       for t in types])
        ax.set(title=text["types"], ylim=(0, 1.05))
        ax.grid(alpha=0.3, axis="y")
        ax.legend(loc="lower right", fontsize="small")
        fig.savefig(directory / TYPES_PNG)
    return font
