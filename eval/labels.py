"""The systems an evaluation can run side by side, and what reports call them."""

# name -> (label in tables, HybridRetriever options); "langchain" is built apart.
RETRIEVER_BASELINES: dict[str, tuple[str, dict]] = {
    "bm25": ("BM25 only", {"dense_weight": 0.0, "reranker": None}),
    "dense": ("dense only", {"bm25_weight": 0.0, "reranker": None}),
}
LABELS = {"zhice": "zhice", **{n: label for n, (label, _) in RETRIEVER_BASELINES.items()},
          "langchain": "LangChain (Chatchat defaults)"}
BASELINES = (*RETRIEVER_BASELINES, "langchain")
