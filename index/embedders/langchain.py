"""Any zhice `Embedder` as a LangChain `Embeddings`."""

from langchain_core.embeddings import Embeddings

from zhice.index.embedders.base import Embedder


class LangChainEmbeddings(Embeddings):
    """Any zhice `Embedder` as a LangChain `Embeddings`; loads it on first use."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._loaded = False

    def _ready(self) -> Embedder:
        if not self._loaded:
            self.embedder.load()
            self._loaded = True
        return self.embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages as lists of floats."""
        return self._ready().embed_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed a question as a list of floats."""
        return self._ready().embed_query(text).tolist()
