"""The fitted answer model: which sentence answers a question, and whether the passages
answer it at all. Two logistic regressions over the named features of
assistant/features.py, fitted on tuning data by `python -m zhice.eval.calibrate --write`
and stored, with the SHA-256 of the examples they were fitted on, in
assistant/answer_model.json, read when an assistant opens.

    model = AnswerModel.load()
    score = model.sentence.logit(row.values)  # which sentence: the highest score
    p = model.answerable(evidence_values)     # P(the passages answer the question)
    model.answers(p)                          # answer, or abstain
"""

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from .errors import BadParamsError
from .features import EVIDENCE_FEATURES, SENTENCE_FEATURES

MODEL_FILE = "answer_model.json"
REFIT = "python -m zhice.eval.calibrate --set INDEX=DATASET ... --write (eval/README.md)"


@dataclass(frozen=True)
class Logistic:
    """P = sigmoid(bias + sum(weight * (value - mean) / scale)) over named features;
    standardised, so each weight says how much its feature counts. As the sentence
    model, a conditional logit: the scores of one question's sentences compared."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def logit(self, values: Sequence[float]) -> float:
        return self.bias + sum(w * (x - m) / s for x, m, s, w
                               in zip(values, self.mean, self.scale, self.weights))

    def probability(self, values: Sequence[float]) -> float:
        return sigmoid(self.logit(values))

    def to_dict(self) -> dict:
        return {"features": list(self.features), "mean": list(self.mean),
                "scale": list(self.scale), "weights": list(self.weights), "bias": self.bias}


@dataclass(frozen=True)
class AnswerModel:
    """`sentence` scores candidate sentences (all of SENTENCE_FEATURES); `evidence` gives
    the probability that the passages answer the question from the EVIDENCE_FEATURES
    cross-validation chose, below `threshold` the answerer abstains; a runner-up
    sentence joins the best when its odds are at least `runner_up` times the best's."""

    sentence: Logistic
    evidence: Logistic
    threshold: float
    runner_up: float
    data_sha256: str = ""

    def __post_init__(self):
        # where the evidence model's features stand among all the evidence values
        object.__setattr__(self, "_picks", tuple(EVIDENCE_FEATURES.index(n)
                                                 for n in self.evidence.features))

    def answerable(self, evidence_values: Sequence[float]) -> float:
        """P(the passages answer the question), from all the evidence values
        (features.evidence_values)."""
        return self.evidence.probability([evidence_values[i] for i in self._picks])

    @classmethod
    def load(cls, path: Path | None = None) -> "AnswerModel":
        """The fitted model (`path`, else the packaged file); BadParamsError when it is
        unreadable or was fitted on features this code no longer computes."""
        source = path or files(__package__).joinpath(MODEL_FILE)
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
            params = data["params"]
            stale = [n for n in params["evidence"]["features"] if n not in EVIDENCE_FEATURES]
            if params["sentence"]["features"] != list(SENTENCE_FEATURES) or stale:
                raise BadParamsError(
                    f"{source}: fitted on features this code does not compute "
                    f"({', '.join(stale) or 'the sentence features differ'}); refit it with: "
                    f"{REFIT}")
            return cls.from_dict(params, data.get("data_sha256", ""))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BadParamsError(f"{source}: not an answer model ({type(e).__name__}: {e}); "
                                 f"refit it with: {REFIT}") from e

    @classmethod
    def neutral(cls) -> "AnswerModel":
        """A model with every weight 0: it ranks sentences in passage order and never
        abstains. What the fitter opens indexes with, so a stale model file cannot stop
        its own refit."""
        def zeros(names) -> Logistic:
            n = len(names)
            return Logistic(tuple(names), (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0)

        return cls(zeros(SENTENCE_FEATURES), zeros(EVIDENCE_FEATURES), 0.0, 1.0)

    @classmethod
    def from_dict(cls, data: dict, data_sha256: str = "") -> "AnswerModel":
        parts = {}
        for name in ("sentence", "evidence"):
            d = data[name]
            part = Logistic(tuple(d["features"]), *(tuple(float(x) for x in d[k])
                                                    for k in ("mean", "scale", "weights")),
                            float(d["bias"]))
            if len({len(part.features), len(part.mean), len(part.scale),
                    len(part.weights)}) != 1 or 0.0 in part.scale:
                raise ValueError(f"{name}: features, mean, scale and weights differ in "
                                 "length, or a scale is 0")
            parts[name] = part
        return cls(parts["sentence"], parts["evidence"], float(data["threshold"]),
                   float(data["runner_up"]), data_sha256)

    def to_dict(self) -> dict:
        return {"sentence": self.sentence.to_dict(), "evidence": self.evidence.to_dict(),
                "threshold": self.threshold, "runner_up": self.runner_up}

    def answers(self, probability: float) -> bool:
        return probability >= self.threshold


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
