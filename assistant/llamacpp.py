"""A local GGUF model through llama-cpp-python, as a LangChain chat model.

Thin on purpose: llama.cpp's own chat template and sampler, temperature 0 and a
repetition penalty, so a small model cannot loop. `bash scripts/fetch_model.sh`
installs the runtime and a verified Qwen2.5-Coder-1.5B-Instruct file.
"""

import os
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from .errors import LlmError

REPEAT_PENALTY = 1.1
_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class LlamaCppChatModel(BaseChatModel):
    """`LlamaCppChatModel(model_path=...)`; the file loads on `load()` or first use."""

    model_path: str
    max_tokens: int = 400
    n_ctx: int = 4096
    n_threads: int | None = None
    _llama: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def load(self) -> "LlamaCppChatModel":
        """Load the GGUF file; a clear LlmError when it is missing or broken."""

        if self._llama is not None:
            return self
        if not os.path.isfile(self.model_path):
            raise LlmError(f"model file not found: {self.model_path}; "
                           "fetch one with: bash scripts/fetch_model.sh")
        try:
            from llama_cpp import Llama
        except ImportError:
            raise LlmError("a GGUF model needs llama-cpp-python; install it with: "
                           "bash scripts/fetch_model.sh") from None
        try:
            self._llama = Llama(model_path=self.model_path, n_ctx=self.n_ctx,
                                n_threads=self.n_threads or os.cpu_count(), verbose=False)
        except Exception as e:
            raise LlmError(f"cannot load model file {self.model_path} ({type(e).__name__}: "
                           f"{str(e)[:120]}); is it a complete GGUF file?") from None
        return self

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool):
        self.load()
        return self._llama.create_chat_completion(
            messages=[{"role": _ROLES.get(m.type, "user"), "content": str(m.content)}
                      for m in messages],
            temperature=0.0, repeat_penalty=REPEAT_PENALTY, max_tokens=self.max_tokens,
            stop=stop, stream=stream,
        )

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        out = self._request(messages, stop, stream=False)
        text = out["choices"][0]["message"]["content"] or ""
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for part in self._request(messages, stop, stream=True):
            delta = part["choices"][0].get("delta", {}).get("content")
            if delta:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                if run_manager:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk
