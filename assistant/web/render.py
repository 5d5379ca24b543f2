"""HTML for the web UI: answers, the sources panel, a passage in its document.

Everything that comes from a document or a user is `html.escape`d here and nowhere
else, so a document holding `<script>` shows as text. Pure functions of `Answer`s:
the tests call them without a server.
"""

import base64
import json
import re
from datetime import date
from html import escape

from zhice.assistant.check import dates_note, unmatched_note
from zhice.assistant.types import Answer, Citation, Hit
from zhice.index.store import FileRecord
from zhice.ingest.facts import DocumentFacts

CLOSEST = 3  # passages shown in full when the documents do not answer
CONTEXT_CHARS = 60_000  # document text shown on each side of a passage in the viewer
_MARKER = re.compile(r"\[(\d+)\]")
SCAN_MISSING = "这一页的扫描图像未保存；重新导入该文件即可查看"

EMPTY_SOURCES = (
    '<div class="zc-empty">提问后，这里列出答案所依据的原文段落：点击答案中的 '
    '<span class="zc-cite-demo">[1]</span> 跳到对应来源，点击“在原文中查看”看它在文档中的位置。'
    "</div>"
)


def question_html(question: str) -> str:
    """A user's question as a chat message: text, never markup."""
    return f'<div class="zc-question">{_lines(question)}</div>'


def answer_html(answer: Answer, turn: int) -> str:
    """The answer as a chat message, each `[n]` a link to its source in the panel.

    Kept on one HTML block without blank lines, so the chat's Markdown renderer
    leaves the (escaped) text alone.
    """
    parts = []
    if answer.searched and answer.searched != answer.question:
        parts.append(f'<div class="zc-searched">检索：{escape(answer.searched)}</div>')
    if answer.abstained:
        parts.append(
            f'<div class="zc-abstain"><strong>{escape(answer.answer)}</strong>'
            "<br>已检索的文档里没有足以回答这个问题的内容。右侧列出了最接近的段落，仅供参考。</div>"
        )
        return "<div class=\"zc-answer\">" + "".join(parts) + "</div>"
    markers = {c.marker for c in answer.citations}

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in markers:
            return m.group(0)
        # the chat's sanitizer keeps class and href but drops data-* attributes
        return f'<a class="zc-cite" href="#zc-t{turn}-c{n}" title="查看来源 {n}">[{n}]</a>'

    parts.append(f'<div class="zc-text">{_MARKER.sub(link, _lines(answer.answer))}</div>')
    note = answer.extra.get("llm_note_zh") or answer.extra.get("llm_note")  # why no LLM answer
    if note:
        parts.append(f'<div class="zc-note">{escape(str(note))}</div>')
    if answer.unmatched:
        parts.append(f'<div class="zc-note">{escape(unmatched_note(answer.unmatched))}</div>')
    if dates_note(answer):
        parts.append(f'<div class="zc-note">{escape(dates_note(answer))}</div>')
    if answer.unsupported:
        parts.append(f'<div class="zc-note">另有 {len(answer.unsupported)} '
                     "句在所引段落中找不到依据，已删去。</div>")
    return '<div class="zc-answer">' + "".join(parts) + "</div>"


def draft_html(text: str) -> str:
    """The model's answer while it is being written: plain text, markers not yet links
    (they are checked against the passages only when the answer is complete)."""
    if not text:  # the model is reading the passages; its first words come later
        return ('<div class="zc-answer zc-drafting">'
                '<div class="zc-note">正在阅读检索到的段落…模型开始作答后，答案会逐字显示在这里。'
                '</div></div>')
    return ('<div class="zc-answer zc-drafting">'
            f'<div class="zc-text">{_lines(text)}</div>'
            '<div class="zc-note">正在生成…写完并核对引用后显示来源。</div></div>')


def sources_html(turns: list[Answer], first_turn: int = 1) -> str:
    """The sources panel: one section per answer, the newest shown, older ones a click
    on one of their `[n]` (or on their tab) away. `first_turn` numbers `turns[0]`."""
    if not turns:
        return f'<div class="zc-sources">{EMPTY_SOURCES}</div>'
    last = first_turn + len(turns) - 1
    out = ['<div class="zc-sources">']
    if len(turns) > 1:
        out.append('<nav class="zc-tabs" aria-label="各轮问答的来源">')
        for t in range(first_turn, last + 1):
            current = ' aria-current="true"' if t == last else ""
            out.append(f'<button type="button" class="zc-tab" data-turn="{t}"{current}>'
                       f"第{t}问</button>")
        out.append("</nav>")
    for t, answer in enumerate(turns, first_turn):
        out.append(_turn_html(answer, t, hidden=t != last))
    out.append("</div>")
    return "".join(out)


def _turn_html(answer: Answer, turn: int, hidden: bool) -> str:
    out = [f'<section class="zc-turn" id="zc-turn-{turn}" data-turn="{turn}"'
           + (" hidden" if hidden else "") + ">"]
    out.append(f'<div class="zc-turn-head">第{turn}问：{escape(answer.question)}</div>')
    cited = {c.hit.id for c in answer.citations}
    others = [h for h in answer.retrieved if h.id not in cited]

    def facts(hit: Hit) -> DocumentFacts | None:
        return answer.documents.get(hit.chunk.source)

    if answer.abstained:
        out.append('<div class="zc-abstain-note">文档中没有能回答这个问题的内容。'
                   "以下是最接近的段落，不足以回答：</div>")
        for rank, hit in enumerate(answer.retrieved[:CLOSEST], 1):
            out.append(_hit_html(hit, f"zc-t{turn}-r{rank}", f"#{rank}", rank=rank,
                                 facts=facts(hit)))
        rest = list(enumerate(answer.retrieved, 1))[CLOSEST:]
    else:
        out.append(f'<div class="zc-count">{len(answer.citations)} 个来源</div>')
        for citation in answer.citations:
            out.append(_citation_html(citation, turn, facts(citation.hit)))
        rank_of = {h.id: r for r, h in enumerate(answer.retrieved, 1)}
        rest = [(rank_of[h.id], h) for h in others]
    if rest:
        out.append(f'<details class="zc-more"><summary>其余检索到的段落（{len(rest)}，未引用）'
                   "</summary>")
        for rank, hit in rest:
            out.append(_hit_html(hit, f"zc-t{turn}-r{rank}", f"#{rank}", rank=rank,
                                 facts=facts(hit)))
        out.append("</details>")
    out.append("</section>")
    return "".join(out)


def _citation_html(citation: Citation, turn: int, facts: DocumentFacts | None = None) -> str:
    return _hit_html(citation.hit, f"zc-t{turn}-c{citation.marker}", str(citation.marker),
                     quotes=citation.quotes, cited=True, facts=facts)


def _hit_html(hit: Hit, anchor: str, label: str, quotes: tuple[str, ...] = (),
              cited: bool = False, rank: int | None = None,
              facts: DocumentFacts | None = None) -> str:
    """One passage; `facts`: what its document states about itself (文号 · issuers …),
    and which of its pages OCR read (those get a button that shows the scanned page)."""
    c = hit.chunk
    where = [escape(c.source)]
    if c.page:
        where.append(f"第{c.page}页")
    scan = ""
    if facts is not None and facts.read_by_ocr(c.page):
        where.append('<span class="zc-ocr" title="这一页的文字由OCR从扫描图像识别，'
                     '可能有个别错字，请以原件为准">OCR识别</span>')
        scan = (f'<button type="button" class="zc-scan" data-source="{escape(c.source)}" '
                f'data-page="{c.page}">查看扫描原页</button>')
    summary = facts.summary(date.today().year) if facts is not None else ""
    if rank is not None:
        where.append(f"检索第{rank}位 · 得分 {hit.score:.3f}")
    heading = f'<div class="zc-heading">{escape(c.path)}</div>' if c.path else ""
    return (
        f'<article class="zc-src{" zc-cited" if cited else ""}" id="{anchor}">'
        f'<header><span class="zc-num">{escape(label)}</span>'
        f'<span class="zc-title">{escape(c.title or c.source)}</span></header>'
        f'{heading}<div class="zc-meta">{" · ".join(where)}</div>'
        + (f'<div class="zc-facts">{escape(summary)}</div>' if summary else "") +
        f'<div class="zc-passage">{passage_html(c.text, quotes)}</div>'
        f'<button type="button" class="zc-open" data-source="{escape(c.source)}" '
        f'data-start="{c.start}" data-end="{c.end}" '
        f'data-quotes="{escape(json.dumps(list(quotes), ensure_ascii=False))}">'
        f"在原文中查看</button>{scan}"
        "</article>"
    )


def passage_html(text: str, quotes: tuple[str, ...] = ()) -> str:
    """A passage as escaped text with the answering sentences in `<mark>`."""
    spans = []
    for quote in quotes:
        at = text.find(quote) if quote else -1
        if at >= 0:
            spans.append((at, at + len(quote)))
    out, pos = [], 0
    for start, end in _merge(spans):
        out.append(_lines(text[pos:start]))
        out.append(f"<mark>{_lines(text[start:end])}</mark>")
        pos = end
    out.append(_lines(text[pos:]))
    return "".join(out)


def context_html(title: str, source: str, text: str, start: int, end: int,
                 quotes: tuple[str, ...] = ()) -> str:
    """A passage in its document: the document text with the passage marked (and in
    it the answering sentences, where they stand verbatim), for the viewer, which
    scrolls to `#zc-ctx-hit`. Offsets are into the text as loaded."""
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    lo, hi = max(0, start - CONTEXT_CHARS), min(len(text), end + CONTEXT_CHARS)
    passage = text[start:end]
    spans = [(at, at + len(q)) for q in quotes if q and (at := passage.find(q)) >= 0]
    marked, pos = [], 0
    for a, b in _merge(spans):
        marked.append(escape(passage[pos:a]) + f'<mark class="zc-q">{escape(passage[a:b])}</mark>')
        pos = b
    marked.append(escape(passage[pos:]))
    return (
        f'<div class="zc-ctx-head"><span class="zc-title">{escape(title or source)}</span>'
        f'<span class="zc-meta">{escape(source)} · 第 {start}–{end} 字</span></div>'
        '<div class="zc-ctx-text">'
        + ("…" if lo else "") + escape(text[lo:start])
        + f'<span id="zc-ctx-hit" class="zc-ctx-hit">{"".join(marked)}</span>'
        + escape(text[end:hi]) + ("…" if hi < len(text) else "")
        + "</div>"
    )


def scan_html(title: str, source: str, page: int, jpeg: bytes | None) -> str:
    """A page OCR read, as its scanned image for the viewer (a data: URL: the browser
    names a source and a page, never a file), or a line saying no image is kept."""
    head = (f'<div class="zc-ctx-head"><span class="zc-title">{escape(title or source)}</span>'
            f'<span class="zc-meta">{escape(source)} · 第{page}页 · 扫描原页'
            "（文字由OCR从这一页识别，如有出入以此为准）</span></div>")
    if jpeg is None:
        return head + f'<div class="zc-abstain zc-scan-missing">{SCAN_MISSING}</div>'
    data = base64.b64encode(jpeg).decode("ascii")
    return (head + '<div class="zc-scan-view">'
            f'<img class="zc-scan-img" alt="{escape(source)} 第{page}页的扫描图像" '
            f'src="data:image/jpeg;base64,{data}"></div>')


def documents_html(files: list[FileRecord]) -> str:
    """The indexed documents as a table: name, title, chunks, when it was added."""
    if not files:
        return "<div class='zc-docs'><p>索引里还没有文档。</p></div>"
    rows = "".join(
        f"<tr><td>{escape(f.source)}</td><td>{escape(f.title)}</td>"
        f"<td class='zc-n'>{f.chunks}</td><td>{escape(str(f.ingested_at))}</td></tr>"
        for f in files)
    return (f"<div class='zc-docs'><p>{len(files)} 个文档，共 {sum(f.chunks for f in files)} "
            "个段落</p><table><thead><tr><th>文件</th><th>标题</th><th>段落数</th>"
            f"<th>加入时间</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _lines(text: str) -> str:
    return escape(text).replace("\n", "<br>")
