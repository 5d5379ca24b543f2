"""Parameters fitted on data, each set in a data file beside this module with the
datasets it was fitted on and their SHA-256, read when an assistant opens:

- `retrieval.json` (RetrievalParams), written by `python -m zhice.eval.fit_retrieval`;
- `abstention.json` (AbstentionParams), written by `python -m zhice.eval.calibrate --write`.

    params = RetrievalParams.load()
    CoverageReranker(scorer, params.fused_weight, params.bm25_weight, params.list_bonus)
"""

import json
from dataclasses import asdict, dataclass, fields
from importlib.resources import files
from pathlib import Path

from .errors import BadParamsError

PARAMS_FILE = "retrieval.json"
ABSTENTION_FILE = "abstention.json"


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


@dataclass(frozen=True)
class AbstentionParams:
    """When the extractive answerer abstains: below `threshold`, the evidence score
    (extractive.evidence_score) is too weak; the weights are its penalties."""

    threshold: float
    missing_weight: float
    figure_penalty: float
    focus_weight: float
    type_penalty: float

    @classmethod
    def load(cls, path: Path | None = None) -> "AbstentionParams":
        """The fitted parameters (`path`, else the packaged file)."""
        return _load(cls, path or files(__package__).joinpath(ABSTENTION_FILE),
                     "python -m zhice.eval.calibrate --index DIR --write")

    @property
    def weights(self) -> tuple[float, float, float, float]:
        return (self.missing_weight, self.figure_penalty, self.focus_weight, self.type_penalty)

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
