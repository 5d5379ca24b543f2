"""`zhice ask`: one question, the answer with [n] markers, then the numbered sources."""

import argparse
import json

from .chain import Assistant
from .cli_index import add_embedder_argument, add_index_argument, index_dir
from .types import Answer

_CLOSEST = 3  # passages shown when the documents do not answer


def add_arguments(command: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("question", help="the question, in Chinese (simplified or traditional)")
    add_index_argument(p)
    add_embedder_argument(p)
    p.add_argument("-k", type=int, default=5, metavar="N", help="passages to answer from (default 5)")
    p.add_argument("--json", action="store_true", help="print the result object as one JSON line")


def run(args: argparse.Namespace) -> int:
    with Assistant.open(index_dir(args), embedder=args.embedder) as assistant:
        answer = assistant.ask(args.question, k=args.k)
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
            lines.append(f"  {rank}. {c.title} · {c.source}" + (f" · {c.heading}" if c.heading else ""))
            lines.append(f"     {_one_line(c.text, 120)}")
        return "\n".join(lines)
    lines.append("来源：")
    for citation in answer.citations:
        c = citation.hit.chunk
        where = f"{c.source}:{c.start}-{c.end}" + (f" 第{c.page}页" if c.page else "")
        lines.append(f"[{citation.marker}] {c.title}" + (f" > {c.heading}" if c.heading else ""))
        lines.append(f"    {where}")
        text = c.text
        for quote in citation.quotes:
            text = text.replace(quote, f"【{quote}】", 1)
        lines.append(f"    {_one_line(text, 400)}")
    return "\n".join(lines)


def _one_line(text: str, limit: int) -> str:
    flat = text.replace("\n", " ")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
