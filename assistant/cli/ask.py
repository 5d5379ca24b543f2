"""`zhice ask`: one question, the answer with [n] markers, then the numbered sources."""

import argparse
import json
import sys
from datetime import date

from zhice.assistant.check import dates_note, unmatched_note
from zhice.assistant.cli.common import (
    add_embedder_argument,
    add_filter_arguments,
    add_index_argument,
    add_mode_arguments,
    open_assistant,
)
from zhice.assistant.types import Answer

_CLOSEST = 3  # passages shown when the documents do not answer


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("question", help="the question, in Chinese (simplified or traditional)")
    add_index_argument(p)
    add_embedder_argument(p)
    p.add_argument("-k", type=int, default=5, metavar="N",
                   help="passages to answer from (default 5)")
    p.add_argument("--json", action="store_true", help="print the result object as one JSON line")
    add_filter_arguments(p)
    add_mode_arguments(p)


def run(args: argparse.Namespace) -> int:
    with open_assistant(args) as assistant:
        answer = assistant.ask(args.question, k=args.k, since=args.since, issuer=args.issuer)
    if (args.since is not None or args.issuer) and not answer.retrieved:
        wanted = " and ".join(x for x in (f"dated {args.since} or later" if args.since else "",
                                          f"issued by {args.issuer}" if args.issuer else "")
                              if x)
        print(f"zhice: no document in the index states that it is {wanted}; "
              "zhice list shows what each states", file=sys.stderr)
    note = answer.extra.get("llm_note")
    if note:
        print(f"zhice: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        print(render(answer))
    return 0


def render(answer: Answer) -> str:
    """The answer for a terminal: text, then each source with the quoted sentence marked."""
    lines = [answer.answer, ""]
    if answer.abstained:
        lines.append("最接近的段落（不足以回答）：")
        for rank, hit in enumerate(answer.retrieved[:_CLOSEST], 1):
            c = hit.chunk
            heading = f" · {c.path}" if c.path else ""
            lines.append(f"  {rank}. {c.title} · {c.source}{heading}")
            lines.append(f"     {_one_line(c.text, 120)}")
        return "\n".join(lines)
    if answer.searched and answer.searched != answer.question:
        lines.insert(0, f"（检索：{answer.searched}）")
    if answer.unmatched:
        lines += [unmatched_note(answer.unmatched), ""]
    if dates_note(answer):
        lines += [dates_note(answer), ""]
    if answer.unsupported:
        lines.append("已删除没有出处支持的句子：" + " / ".join(answer.unsupported))
        lines.append("")
    lines.append("来源：")
    for citation in answer.citations:
        c = citation.hit.chunk
        facts = answer.documents.get(c.source)
        where = f"{c.source}:{c.start}-{c.end}" + (f" 第{c.page}页" if c.page else "")
        if facts is not None and facts.read_by_ocr(c.page):
            where += "（OCR识别）"
        lines.append(f"[{citation.marker}] {c.title}" + (f" > {c.path}" if c.path else ""))
        lines.append(f"    {where}")
        if facts is not None and facts.summary():
            lines.append(f"    {facts.summary(date.today().year)}")
        text = c.text
        for quote in citation.quotes:
            text = text.replace(quote, f"【{quote}】", 1)
        lines.append(f"    {_one_line(text, 400)}")
    return "\n".join(lines)


def _one_line(text: str, limit: int) -> str:
    flat = text.replace("\n", " ")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
