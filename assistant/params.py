"""Parameters fitted on data, each set in a data file beside this module with the
datasets it was fitted on and their SHA-256, read when an assistant opens:

- `retrieval.json` (RetrievalParams), written by `python -m zhice.eval.fit_retrieval`;
- `answer_model.json` (answer_model.AnswerModel), written by
  `python -m zhice.eval.calibrate --write`.

    params = RetrievalParams.load()
    CoverageReranker(scorer, params.fused_weight, params.bm25_weight, params.list_bonus)
"""

import json
from dataclasses import asdict, dataclass, fields
from importlib.resources import files
from pathlib import Path

from .errors import BadParamsError

PARAMS_FILE = "retrieval.json"


@dataclass(frozen=True)
class RetrievalParams:
    """What decides a ranking; see CoverageReranker and HybridRetriever for each."""

    fused_weight: float = 0.7
    bm25_weight: float = 0.3
    list_bonus: float = 0.1
    rerank_depth: int = 20
    title_credit: float = 0.0  # ExtractiveAnswerer.passage_scores: a title term's credit

    @classmethod
    def load(cls, path: Path | None = None) -> "RetrievalParams":
        """The fitted parameters (`path`, else the packaged file)."""
        return _load(cls, path or files(__package__).joinpath(PARAMS_FILE),
                     "python -m zhice.eval.fit_retrieval")

    def to_dict(self) -> dict:
        return asdict(self)


def _load(cls, source, command: str):
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        return cls(**{f.name: data["params"][f.name] for f in fields(cls)})
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BadParamsError(
            f"{source}: not a parameter file ({type(e).__name__}: {e}); refit it with: {command}"
        ) from e
