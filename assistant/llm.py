"""LLM answers: a LangChain chat model writes the answer from numbered passages, and
the citation check decides what the user sees.

    rewrite -> retrieve -> abstain? -> prompt -> chat model -> parse -> check

Abstention is decided from the retrieved evidence before the model is called: a
small model invents answers when the passages lack one, even when told not to. When
the model fails (unreachable, timeout, rate limit, bad key, broken model file), or
most of what it wrote is unsupported by the passages it cites, the extractive answer
is given instead, with the reason in `Answer.extra["llm_note"]` (and in Chinese, for
the page, in `extra["llm_note_zh"]`).
"""

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableLambda

from zhice.ingest.normalize import is_traditional, to_simplified

from .check import check_answer, claims
from .errors import LlmError
from .extractive import NOT_FOUND, ExtractiveAnswerer
from .followup import standalone
from .types import Answer, Citation, Hit

MAX_ANSWER_TOKENS = 400
TIMEOUT_S = 60.0
# Above this share of unsupported sentences the model's answer is replaced by the
# extractive one; at or below it, unsupported sentences are dropped and listed.
MAX_UNSUPPORTED = 0.5

SYSTEM_PROMPT = (
    "你是政策文件问答助手。只根据用户给出的编号段落回答问题，不要使用段落以外的知识。"
    "每个句子末尾用方括号标注它依据的段落编号，例如：示范区共有20个[1]。"
    "段落中没有答案时，只回答：文档中没有找到能回答这个问题的内容。"
    "回答简洁，不超过三句话，使用简体中文。"
)
REWRITE_PROMPT = (
    "根据对话历史，把用户的最后一个问题改写成一个不依赖上下文、可以单独检索的完整问题。"
    "只输出改写后的问题，不要解释。"
)


@dataclass(frozen=True)
class LlmConfig:
    """Where the chat model is: an OpenAI-compatible endpoint or a local GGUF file."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    gguf: str | None = None
    timeout: float = TIMEOUT_S
    max_tokens: int = MAX_ANSWER_TOKENS

    @classmethod
    def from_env(cls, **overrides) -> "LlmConfig":
        """ZHICE_LLM_BASE_URL, ZHICE_LLM_MODEL, ZHICE_LLM_API_KEY, ZHICE_LLM_GGUF,
        ZHICE_LLM_TIMEOUT; explicit overrides (CLI flags) win when not None."""
        env = {
            "base_url": os.environ.get("ZHICE_LLM_BASE_URL"),
            "model": os.environ.get("ZHICE_LLM_MODEL"),
            "api_key": os.environ.get("ZHICE_LLM_API_KEY"),
            "gguf": os.environ.get("ZHICE_LLM_GGUF"),
        }
        if os.environ.get("ZHICE_LLM_TIMEOUT"):
            env["timeout"] = _seconds(os.environ["ZHICE_LLM_TIMEOUT"])
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**{k: v for k, v in env.items() if v is not None})

    @property
    def configured(self) -> bool:
        return bool(self.gguf or self.base_url)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise LlmError(f"ZHICE_LLM_TIMEOUT must be a number of seconds above 0; got {value!r}")
    return seconds


HOW_TO_CONFIGURE = (
    "llm mode needs a chat model: set ZHICE_LLM_BASE_URL (an OpenAI-compatible endpoint, "
    "e.g. http://127.0.0.1:8000/v1) with ZHICE_LLM_MODEL and ZHICE_LLM_API_KEY, or "
    "ZHICE_LLM_GGUF=/path/model.gguf (needs llama-cpp-python: bash scripts/fetch_model.sh); "
    "or pass --llm-base-url/--llm-model/--llm-api-key/--llm-gguf"
)


def make_chat_model(config: LlmConfig) -> BaseChatModel:
    """The chat model for a configuration, with sampling that cannot loop: temperature
    0, a repetition penalty where the backend has one, and an answer length cap."""
    if config.gguf:
        from .llamacpp import LlamaCppChatModel

        return LlamaCppChatModel(model_path=config.gguf, max_tokens=config.max_tokens)
    if config.base_url:
        try:
            from langchain_openai import ChatOpenAI
        except ImportError:
            raise LlmError("the OpenAI-compatible backend needs langchain-openai; "
                           "install it with: pip install 'zhice[llm]'") from None
        return ChatOpenAI(
            base_url=config.base_url, model=config.model or "default",
            api_key=config.api_key or "not-needed", temperature=0.0,
            frequency_penalty=0.3, max_retries=0, timeout=config.timeout,
            # llama.cpp and older vLLM servers know max_tokens, not max_completion_tokens
            extra_body={"max_tokens": config.max_tokens},
        )
    raise LlmError(HOW_TO_CONFIGURE)


def numbered_passages(hits: Sequence[Hit]) -> str:
    """The passages as the prompt shows them: [n] title > heading, then the text."""
    blocks = []
    for n, hit in enumerate(hits, 1):
        c = hit.chunk
        where = f"{c.title} > {c.path}" if c.path else c.title
        blocks.append(f"[{n}] （{where}）\n{c.text}")
    return "\n\n".join(blocks)


# Repeated after the question: a small model that reads the rule only in the system
# prompt, 2,000 characters earlier, often leaves the markers out.
ANSWER_CUE = "回答（只用上面的段落；每句话末尾必须标注依据的段落编号，如[1]）："


def prompt_messages(question: str, hits: Sequence[Hit]) -> list:
    return [SystemMessage(SYSTEM_PROMPT),
            HumanMessage(f"段落：\n{numbered_passages(hits)}\n\n问题：{question}\n\n{ANSWER_CUE}")]


_REPEAT = re.compile(r"(.{8,}?)\1{2,}", re.S)
# a sentence, with its markers, said again right after itself
_REPEATED_SENTENCE = re.compile(r"([^。！？；!?;]+[。！？；!?;](?:\s*\[\d+\])*)(?:\s*\1)+")
# "根据[2]，X。" / "根据段落[2]的内容，X。": a small model's way of citing up front; the
# markers belong at the end of the sentence they source
_LEADING_CITE = re.compile(
    r"(?:根据|依据|据)(?:段落)?\s*((?:\[\d+\])+)(?:段落)?(?:的?内容)?\s*[，,：:]?\s*"
    r"([^。！？；!?;\[]+)(?=[。！？；!?;]|$)")


def parse(text: str) -> str:
    """The model's text cleaned for checking: no think blocks, no runaway repeats,
    markers put up front moved behind their sentence."""
    text = re.sub(r"<think>.*?</think>", "", text, flags=re.S).strip()
    text = _LEADING_CITE.sub(r"\2\1", text)
    text = _REPEATED_SENTENCE.sub(r"\1", text)  # a loop that slipped past the penalty
    text = _REPEAT.sub(r"\1", text)
    return re.sub(r"\s*\n\s*", "", text)


def cite(question: str, text: str, hits: Sequence[Hit]) -> Answer:
    """The model's answer as an Answer: one citation per passage number it used."""
    used = sorted({m for _, markers in claims(text) for m in markers if 1 <= m <= len(hits)})
    citations = tuple(Citation(m, hits[m - 1]) for m in used)
    return Answer(question, text, False, citations, tuple(hits))


class LlmAnswerer:
    """Answers with a chat model; same call shape as ExtractiveAnswerer."""

    def __init__(self, model: BaseChatModel, fallback: ExtractiveAnswerer):
        self.model = model
        self.fallback = fallback
        # prompt -> chat model -> text; parse and check follow once the text is complete
        self.generate = (RunnableLambda(lambda x: prompt_messages(x["question"], x["hits"]),
                                        name="prompt")
                         | model | StrOutputParser())

    def __call__(self, question: str, hits: Sequence[Hit]) -> Answer:
        final = None
        for event in self.stream(question, hits):
            if isinstance(event, Answer):
                final = event
        return final

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str | Answer]:
        """Yields the answer text as it is written ("" when the model is asked, before
        its first token), then the checked Answer."""
        extractive = self.fallback(question, hits)
        if extractive.abstained:  # weak evidence never reaches the model
            yield extractive
            return
        # the model reads the passages before its first token: about 20 s for a 1.5B
        # model on 2 cores. An empty text says at once that it has started.
        yield ""
        parts: list[str] = []
        try:
            for piece in self.generate.stream({"question": question, "hits": hits}):
                if piece:
                    parts.append(piece)
                    yield "".join(parts)
        except Exception as e:  # every backend failure ends in the extractive answer
            yield _with_note(extractive, *describe_error(e))
            return
        yield self.check("".join(parts), question, hits, extractive)

    def check(self, raw: str, question: str, hits: Sequence[Hit], extractive: Answer) -> Answer:
        """Checked model answer, or the extractive one when most of it is unsupported."""
        text = parse(raw)
        if not is_traditional(question):  # the model copies traditional passages as written
            text = to_simplified(text)
        extractive = replace(extractive, extra={**extractive.extra, "raw": raw})
        if not text or NOT_FOUND.rstrip("。") in text:
            return _with_note(extractive, "the model found no answer in the passages; "
                                          "showing the extracted sentences",
                              "模型在检索到的段落中没有找到答案，以下是摘录的原文句子")
        drafted = cite(question, text, hits)
        checked = check_answer(drafted, NOT_FOUND)
        total = len([s for s, _ in claims(text) if s.strip()])
        if checked.abstained or len(checked.unsupported) > MAX_UNSUPPORTED * total:
            note = (f"{len(checked.unsupported)} of {total} sentences of the model's answer "
                    "were not supported by the passages they cite; showing the extracted "
                    "sentences instead")
            zh = (f"模型答案的 {total} 句中有 {len(checked.unsupported)} 句在所引段落中找不到依据，"
                  "改为显示摘录的原文句子")
            return replace(_with_note(extractive, note, zh), unsupported=checked.unsupported)
        return replace(checked, extra={**checked.extra, "mode": "llm", "raw": raw})


def describe_error(e: Exception) -> tuple[str, str]:
    """A one-line reason for a failed model call, in the user's terms: in English, and
    in Chinese for the page."""
    name = type(e).__name__
    text = str(e).splitlines()[0][:200] if str(e) else name
    # match on the class and its bases: langchain-openai re-raises openai's errors as
    # subclasses of its own (OpenAIConnectionError is an APIConnectionError)
    names = [c.__name__ for c in type(e).__mro__]
    reasons = {
        "APITimeoutError": ("the model endpoint timed out", "模型服务超时"),
        "APIConnectionError": ("the model endpoint could not be reached", "连接不上模型服务"),
        "Timeout": ("the model endpoint timed out", "模型服务超时"),
        "RateLimitError": ("the model endpoint is rate-limiting requests", "模型服务限流"),
        "AuthenticationError": ("the model endpoint rejected the API key",
                                "模型服务拒绝了 API 密钥"),
        "PermissionDeniedError": ("the model endpoint rejected the API key",
                                  "模型服务拒绝了 API 密钥"),
        "NotFoundError": ("the model endpoint does not know that model", "模型服务没有这个模型"),
    }
    if isinstance(e, LlmError):  # already in the user's terms (a model file that fails)
        reason = (text, e.zh.splitlines()[0][:200])
    else:
        reason = next((reasons[n] for n in names if n in reasons),
                      (f"the model failed ({name}: {text})", f"模型调用失败（{name}: {text}）"))
    return (f"{reason[0]}; showing the extracted sentences",
            f"{reason[1]}，以下是摘录的原文句子")


def _with_note(answer: Answer, note: str, zh: str) -> Answer:
    return replace(answer, extra={**answer.extra, "mode": "extractive", "llm_note": note,
                                  "llm_note_zh": zh})


def rewrite_with_model(model: BaseChatModel, question: str, history: list[str]) -> str:
    """A follow-up rewritten by the model into a standalone question; the rule-based
    rewrite (followup.standalone) when the model fails or answers with something that
    is not a question."""
    if not history:
        return question
    turns = "\n".join(f"用户：{h}" for h in history[-3:])
    try:
        out = model.invoke([SystemMessage(REWRITE_PROMPT),
                            HumanMessage(f"对话历史：\n{turns}\n\n最后一个问题：{question}")])
    except Exception:
        return standalone(question, history)
    text = parse(str(out.content)).strip().strip("“”\"")
    if 2 <= len(text) <= 2 * len(question) + 60:
        return text
    return standalone(question, history)
