"""The chat web UI and the `ask` API endpoint, on Gradio 6 (`zhice serve`).

    app = build_app(Assistant.open(index_dir), admin_password="s3cret")
    launch(app, host="127.0.0.1", port=7860)            # or serve(index_dir, ...)

The page holds no logic of its own: questions go through `WebService` to the same
`Assistant` chain as the CLI. `gradio_client.Client(url).predict(question,
api_name="/ask")` returns the INTERFACES.md result object.
"""

import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from zhice.assistant.api.http import ApiMount, build_api
from zhice.assistant.chain import Assistant
from zhice.assistant.types import Answer
from zhice.assistant.web import ADMIN_ENV, MAX_UPLOAD_MB, asset
from zhice.assistant.web.guard import Guard, Throttle
from zhice.assistant.web.render import (
    answer_html,
    documents_html,
    draft_html,
    question_html,
    sources_html,
)
from zhice.assistant.web.service import ANSWER_MODES, WebService
from zhice.ingest.errors import ZhiceError
from zhice.ingest.loaders import SUPPORTED_SUFFIXES

FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
         "system-ui", "sans-serif"]
MONO_FONTS = ["Noto Sans Mono CJK SC", "ui-monospace", "monospace"]
EXAMPLES = (
    "国家一共支持建设了多少个产业转型升级示范区？",
    "什么是新质生产力？",
    "首批示范区有哪些城市？",
)
MAX_TURNS = 30  # turns a conversation keeps (and sends as follow-up history)
ASK_CONCURRENCY = 10  # questions answered at once; more wait in Gradio's queue
# Uploads wait in the server's folder until the admin clicks 上传并索引 (and are
# deleted then); at most this many files' worth may wait, so that nobody can fill
# the disk through the upload route of a page that manages documents.
PENDING_UPLOADS = 5
UPLOAD_DIR_ENV = "GRADIO_TEMP_DIR"


@dataclass
class Conversation:
    """One browser tab's conversation: its answers, numbered from `first`."""

    answers: list = field(default_factory=list)
    first: int = 1

    def add(self, answer) -> "Conversation":
        answers = [*self.answers, answer]
        drop = max(0, len(answers) - MAX_TURNS)
        return Conversation(answers[drop:], self.first + drop)

    def history(self) -> list[str]:
        """The earlier questions as they were searched, for follow-ups."""
        return [a.searched or a.question for a in self.answers]

    def messages(self) -> list[dict]:
        out = []
        for turn, answer in enumerate(self.answers, self.first):
            out.append({"role": "user", "content": question_html(answer.question)})
            out.append({"role": "assistant", "content": answer_html(answer, turn)})
        return out

    def sources(self) -> str:
        return sources_html(self.answers, self.first)


def conversation_steps(service: WebService, question: str, conv: Conversation, k: int,
                       mode: str, since: int | None = None, issuer: str | None = None
                       ) -> Iterator[tuple[list[dict], Conversation | None]]:
    """What the chat shows while a question is answered: (messages, None) for each
    piece of a model's answer as it is written, then (messages, the conversation with
    the checked answer added). ZhiceError for a bad question, before anything is shown.
    `since` and `issuer` narrow the documents answered from (WebService.ask)."""
    final = None
    for event in service.stream(question, k, mode, conv.history(), since, issuer):
        if isinstance(event, Answer):
            final = event
        else:
            yield [*conv.messages(), {"role": "user", "content": question_html(question)},
                   {"role": "assistant", "content": draft_html(event)}], None
    conv = conv.add(final)
    yield conv.messages(), conv


def build_app(assistant: Assistant, admin_password: str | None = None, *,
              assistants: dict[str, Assistant] | None = None, default_mode: str = "extractive",
              max_upload_mb: float = MAX_UPLOAD_MB, concurrency: int = ASK_CONCURRENCY,
              throttle: Throttle | None = None):
    """The Blocks app over an open assistant; nothing is served until `launch()`.

    Args:
        assistant: the extractive assistant (its index is the one managed).
        admin_password: turns document management on; None leaves it off.
        assistants: more answer modes by name (keys of ANSWER_MODES), e.g. {"llm": ...}.
        default_mode: the mode selected on the page and used by the `ask` endpoint.
        max_upload_mb: the per-file upload limit.
        concurrency: questions (page and API) answered at the same time.
        throttle: slows down a client guessing the admin password (default waits).
    """
    import gradio as gr

    service = WebService({"extractive": assistant, **(assistants or {})}, admin_password,
                         max_upload_mb, throttle)
    if default_mode not in service.assistants:
        raise ValueError(f"default_mode {default_mode!r} has no assistant; "
                         f"have {list(service.assistants)}")

    def warn(e: ZhiceError) -> None:
        gr.Warning(escape(e.zh), title="提示")  # toasts render HTML: names are escaped

    # asking -------------------------------------------------------------------------
    def on_ask(question: str, conv: Conversation, k: float, mode: str, since: float | None,
               issuer: str | None):  # an untouched textbox may send None
        # a generator: in llm mode the chat shows the answer as the model writes it;
        # sources and citations follow once it is complete and checked
        try:
            year = None if since is None else int(since)
            for messages, done in conversation_steps(service, question, conv, int(k), mode,
                                                     year, (issuer or "").strip() or None):
                if done is None:
                    yield gr.skip(), messages, gr.skip(), gr.skip()
                else:
                    yield "", messages, done.sources(), done
        except ZhiceError as e:
            warn(e)
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()

    def on_example(_typed: str, conv: Conversation, k: float, mode: str, since: float | None,
                   issuer: str, evt: gr.SelectData):
        yield from on_ask(evt.value.get("text", ""), conv, k, mode, since, issuer)

    def on_clear():
        conv = Conversation()
        return "", [], conv.sources(), conv

    def api_ask(question: str, k: int = 5) -> dict:
        """Answer one question with citations; returns the result object of INTERFACES.md."""
        try:
            return service.ask(question, k, default_mode).to_dict()
        except ZhiceError as e:
            raise gr.Error(escape(str(e))) from None

    def viewed(show) -> str:
        """What the sources panel's viewer shows: `show()`, or the error in one line."""
        try:
            return show()
        except ZhiceError as e:
            return f'<div class="zc-abstain">{escape(e.zh)}</div>'

    def document_context(args) -> str:
        """Called from the sources panel's script: a passage in its document."""
        args = args if isinstance(args, dict) else {}
        quotes = args.get("quotes")
        return viewed(lambda: service.document_context(
            args.get("source", ""), args.get("start", 0), args.get("end", 0),
            quotes if isinstance(quotes, list) else ()))

    def page_image(args) -> str:
        """Called from the sources panel's script: the scanned page OCR read."""
        args = args if isinstance(args, dict) else {}
        return viewed(lambda: service.page_image(args.get("source", ""), args.get("page", 0)))

    # managing -----------------------------------------------------------------------
    def docs_view():
        files = service.documents()
        return documents_html(files), gr.update(choices=[f.source for f in files], value=None)

    def on_upload(files, password: str, request: gr.Request,
                  progress=gr.Progress()):  # noqa: B008 - Gradio's way
        def report(done: int, total: int, source: str) -> None:
            progress((done, total), desc=f"正在索引 {source}" if done < total else "完成",
                     unit="个文件")

        def report_pages(source: str, done: int, total: int) -> None:
            progress((done, total), desc=f"正在用OCR识别 {source}", unit="页")

        pairs = [(_upload_name(f), Path(_upload_path(f))) for f in (files or [])]
        try:
            summary = service.upload(pairs, password, report, client=_client(request),
                                     pages=report_pages)
        except ZhiceError as e:
            warn(e)
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip())
        # ingested (or named as failed): no longer pending (guard.Guard's cap). A refused
        # upload stays, so that the admin can retype the password and click again.
        for _, path in pairs:
            path.unlink(missing_ok=True)
        for failure in summary.failures:
            gr.Warning(escape(failure.reason), title="未能索引")
        done = summary.added + summary.updated + summary.unchanged
        status = (f"已处理 {done} 个文件：新增 {summary.added}，更新 {summary.updated}，"
                  f"未变 {summary.unchanged}，失败 {len(summary.failures)}；"
                  f"索引了 {summary.chunks} 个段落，用时 {summary.seconds:.1f} 秒。")
        if done:
            gr.Info(escape(status), title="上传完成")
        status = "<br>".join([escape(status)] + [f"未能索引：{escape(f.reason)}"
                                                  for f in summary.failures])
        table, choices = docs_view()
        return status, table, choices, None

    def on_remove(source: str, password: str, request: gr.Request):
        try:
            service.remove(source, password, client=_client(request))
        except ZhiceError as e:
            warn(e)
            return gr.skip(), gr.skip(), gr.skip()
        gr.Info(escape(f"已删除 {source}"), title="删除完成")
        table, choices = docs_view()
        return escape(f"已删除 {source}。"), table, choices

    # layout -------------------------------------------------------------------------
    private = {"api_visibility": "private"}
    # uploads wait in Gradio's cache until ingested; an hour later they are deleted
    with gr.Blocks(title="知策 zhice · 政策文件问答", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as app:
        conv = gr.State(Conversation())
        gr.HTML("<div class='zc-header'><h1>知策 · 政策文件问答</h1><p>答案的每一句都标出"
                "出处 [n]，点击可查看原文；文档里没有答案时会直接说明。</p></div>",
                js_on_load=None)
        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=360):
                        chat = gr.Chatbot(
                            elem_id="zc-chat", show_label=False, height=540,
                            examples=[{"text": q} for q in EXAMPLES],
                            placeholder="**向你的文档提问**<br>可以接着追问，例如先问宜宾的做法，"
                                        "再问“那株洲呢？”",
                            sanitize_html=True, allow_tags=False, latex_delimiters=[],
                            buttons=[], feedback_options=None, layout="panel")
                        with gr.Row():
                            question = gr.Textbox(
                                show_label=False, scale=6, lines=1, max_lines=4,
                                placeholder="输入问题，例如：首批示范区有哪些城市？（回车提问）",
                                elem_id="zc-question", autofocus=True)
                            ask_btn = gr.Button("提问", variant="primary", scale=1,
                                                min_width=80, elem_id="zc-ask")
                            clear_btn = gr.Button("新对话", variant="secondary", scale=1,
                                                  min_width=80, elem_id="zc-clear")
                        with gr.Accordion("设置", open=False):
                            k = gr.Slider(1, 20, value=5, step=1, label="参考段落数（k）",
                                          info="回答时参考的检索段落数")
                            mode = gr.Radio(
                                [(label, key) for key, label in ANSWER_MODES.items()
                                 if key in service.assistants],
                                value=default_mode, label="回答方式")
                            with gr.Row():
                                since = gr.Number(label="只看此年份及以后的文件", value=None,
                                                  precision=0, minimum=1900, maximum=2100,
                                                  elem_id="zc-since")
                                issuer = gr.Textbox(label="只看此发文机关的文件",
                                                    placeholder="例如：国务院",
                                                    elem_id="zc-issuer")
                    with gr.Column(scale=2, min_width=320):
                        sources = gr.HTML(conv.value.sources(), elem_id="zc-sources-panel",
                                          js_on_load=asset("sources.js"),
                                          server_functions=[document_context, page_image])
            with gr.Tab("文档管理", id="docs") as docs_tab:
                if service.management:
                    gr.Markdown(f"上传文档（{'、'.join(SUPPORTED_SUFFIXES)}，每个文件不超过 "
                                f"{max_upload_mb:g} MB）后即可提问；同名文件会替换旧版本。")
                    password = gr.Textbox(label="管理密码", type="password",
                                          elem_id="zc-admin-password")
                    with gr.Row(equal_height=False):
                        with gr.Column():
                            upload = gr.File(label="选择文档", file_count="multiple",
                                             file_types=list(SUPPORTED_SUFFIXES),
                                             elem_id="zc-upload")
                            upload_btn = gr.Button("上传并索引", variant="primary",
                                                   elem_id="zc-upload-btn")
                        with gr.Column():
                            doomed = gr.Dropdown(label="删除文档", choices=[],
                                                 elem_id="zc-remove-choice")
                            remove_btn = gr.Button("删除", variant="stop",
                                                   elem_id="zc-remove-btn")
                    status = gr.HTML(elem_id="zc-manage-status", js_on_load=None)
                else:
                    gr.HTML(f"<div class='zc-off'>文档管理未开启。启动服务时设置环境变量 "
                            f"<code>{ADMIN_ENV}</code>（或参数 <code>--admin-password</code>）"
                            "即可上传和删除文档。</div>", js_on_load=None)
                    doomed = gr.Dropdown(visible=False)
                docs = gr.HTML(elem_id="zc-docs", js_on_load=None)

        ask_args = {"inputs": [question, conv, k, mode, since, issuer],
                    "outputs": [question, chat, sources, conv],
                    "concurrency_limit": concurrency, "concurrency_id": "ask", **private}
        question.submit(on_ask, **ask_args)
        ask_btn.click(on_ask, **ask_args)
        chat.example_select(on_example, **ask_args)
        clear_btn.click(on_clear, outputs=[question, chat, sources, conv], **private)
        chat.clear(on_clear, outputs=[question, chat, sources, conv], **private)
        app.load(docs_view, outputs=[docs, doomed], **private)
        docs_tab.select(docs_view, outputs=[docs, doomed], **private)
        if service.management:
            upload_btn.click(on_upload, inputs=[upload, password],
                             outputs=[status, docs, doomed, upload], concurrency_limit=1,
                             **private)
            remove_btn.click(on_remove, inputs=[doomed, password],
                             outputs=[status, docs, doomed], concurrency_limit=1, **private)
        gr.api(api_ask, api_name="ask", concurrency_limit=concurrency, concurrency_id="ask")
    app.zhice_service = service  # for tests and embedding code
    return app


def launch(app, host: str = "127.0.0.1", port: int = 7860, password: str | None = None,
           max_upload_mb: float = MAX_UPLOAD_MB, block: bool = True, quiet: bool = False,
           throttle: Throttle | None = None, api_keys: tuple[str, ...] = ()):
    """Serve a built app; with `password`, the page and the API need it (any user name).

    Returns (app, local_url, share_url) like Gradio's launch; with `block=False` the
    server runs in a thread until `app.close()`. `throttle` slows down a client that
    guesses the page password (default: guard.Throttle's waits). The OpenAI-compatible
    and Dify endpoints (assistant/api/http.py) are served on the same port, behind
    `api_keys` (without any, to this machine only). A port in use is a ZhiceError.
    """
    import hmac

    import gradio as gr
    from starlette.middleware import Middleware

    auth = None
    if password:
        def auth(user: str, given: str) -> bool:
            return hmac.compare_digest(given.encode(), password.encode())

    guard = Middleware(Guard, login=throttle or Throttle("page password") if password else None,
                       uploads=app.zhice_service.management,
                       max_pending=int(PENDING_UPLOADS * max_upload_mb * 1024 * 1024))
    api = Middleware(ApiMount, api=build_api(app.zhice_service, tuple(api_keys),
                                             concurrency=ASK_CONCURRENCY))
    theme = gr.themes.Soft(primary_hue="blue", font=FONTS, font_mono=MONO_FONTS)
    app.queue(default_concurrency_limit=ASK_CONCURRENCY, max_size=256)
    try:
        return app.launch(
            server_name=host, server_port=port, auth=auth, app_kwargs={"middleware": [api, guard]},
            auth_message="请输入访问密码（用户名可任意填写）" if password else None,
            prevent_thread_lock=not block, quiet=quiet, share=False, ssr_mode=False,
            max_file_size=int(max_upload_mb * 1024 * 1024), run_history=False,
            footer_links=["api"], theme=theme, css=asset("page.css"), show_error=False,
            mcp_server=False, pwa=False)
    except OSError:  # Gradio's "Cannot find empty port in range: 7860-7860"
        raise ZhiceError(f"cannot serve on {host}:{port}: the port is in use; choose another "
                         "with --port, or stop what is using it") from None


def serve(index: str | Path, host: str = "127.0.0.1", port: int = 7860,
          admin_password: str | None = None, password: str | None = None,
          embedder: str | None = None, max_upload_mb: float = MAX_UPLOAD_MB,
          llm=None, api_keys: tuple[str, ...] = ()) -> None:
    """Open the index (a folder or a milvus: spec) and serve the chat page until
    interrupted (`zhice serve`).

    With `llm` (an LlmConfig) the page also offers the LLM answer mode, selected by
    default, and the `ask` endpoint uses it.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    _log_to_stderr()
    with Assistant.open(index, embedder=embedder) as assistant, _private_uploads():
        more = {}
        if llm is not None:  # the same open index: one copy of the stores in memory
            more["llm"] = Assistant.open(assistant.index, mode="llm", llm=llm)
        try:
            app = build_app(assistant, admin_password, assistants=more,
                            default_mode="llm" if more else "extractive",
                            max_upload_mb=max_upload_mb)
            try:
                _, url, _ = launch(app, host, port, password=password,
                                   max_upload_mb=max_upload_mb, block=False, quiet=True,
                                   api_keys=api_keys)
                print(f"zhice serve: {url} (Ctrl+C to stop); document management "
                      + ("on" if admin_password else f"off (set ${ADMIN_ENV} to turn it on)")
                      + ("; password required" if password else "")
                      + f"; OpenAI-compatible API at {url.rstrip('/')}/v1 ("
                      + (f"{len(api_keys)} API key(s)" if api_keys else "this machine only")
                      + ")", flush=True)
                app.block_thread()
            finally:
                app.close()
        finally:
            for other in more.values():
                other.close()


@contextmanager
def _private_uploads() -> Iterator[Path]:
    """A folder of this server's own for Gradio's uploads, removed when it stops
    (Ctrl+C, or SIGTERM from a service manager): uploads never outlive the server."""
    folder = Path(tempfile.mkdtemp(prefix="zhice-serve-"))
    before = os.environ.get(UPLOAD_DIR_ENV)
    os.environ[UPLOAD_DIR_ENV] = str(folder)  # read by Gradio as the app is built
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield folder
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
        if before is None:
            os.environ.pop(UPLOAD_DIR_ENV, None)
        else:
            os.environ[UPLOAD_DIR_ENV] = before
        shutil.rmtree(folder, ignore_errors=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # the way Ctrl+C stops the server, cleaning up on the way


def _log_to_stderr() -> None:
    """The server's own log lines (wrong passwords) on stderr, once."""
    log = logging.getLogger("zhice.web")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("zhice serve: %(asctime)s %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def _client(request) -> str:
    """Who is asking, for the password throttle: the peer's address."""
    return getattr(getattr(request, "client", None), "host", None) or "unknown"


def _upload_path(f) -> str:
    """Where Gradio put an uploaded file (a path string, or an object with `.name`)."""
    return f if isinstance(f, str) else getattr(f, "path", None) or f.name


def _upload_name(f) -> str:
    """The name the browser gave the file; Gradio keeps it as the cached file's name."""
    return getattr(f, "orig_name", None) or Path(_upload_path(f)).name
