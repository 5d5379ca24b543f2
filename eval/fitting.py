"""What the commands that fit parameters share: the INDEX=DATASET pairs they are given,
and the data file they write (assistant/params.py reads it back).

    pairs = index_dataset_pairs(parser, "--set", args.set)
    write_params(path, "Retrieval parameters fitted by ...", fitted_on, params)
"""

import argparse
import json
from datetime import date
from pathlib import Path

import numpy as np


def index_dataset_pairs(parser: argparse.ArgumentParser, option: str,
                        items: list[str]) -> list[tuple[Path, Path]]:
    """Each "INDEX_DIR=DATASET" of `option` as (index folder, dataset file); a malformed
    one is the parser's usage error."""
    pairs = []
    for item in items:
        directory, sep, dataset = item.partition("=")
        if not sep or not directory or not dataset:
            parser.error(f"{option} needs INDEX_DIR=DATASET.jsonl; got {item!r}")
        pairs.append((Path(directory), Path(dataset)))
    return pairs


def write_params(path: Path, fitted_by: str, fitted_on: list[dict], params: dict,
                 **extra) -> None:
    """Write a parameter file: what fitted it and when, the datasets it was fitted on,
    anything else worth keeping (`extra`), and the parameters."""
    path.write_text(json.dumps({
        "about": f"{fitted_by} on {date.today()}; refit with the same command "
                 "(eval/README.md).",
        "fitted_on": fitted_on, **extra, "params": params}, ensure_ascii=False, indent=2)
        + "\n", encoding="utf-8")


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A logistic regression by Newton's method on the L2-penalised, weighted log loss
    over standardised features: (mean, scale, weights, bias). `weight` is each row's
    share of the loss (normalised to sum to 1, so `l2` means the same whatever the
    number of rows); the bias is not shrunk."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant feature: weight 0, whatever its scale
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = weight / weight.sum()
    penalty = np.full(z.shape[1], 2 * l2)
    penalty[-1] = 0.0
    beta = np.zeros(z.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w * (p - y)) + penalty * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    return mean, scale, beta[:-1], float(beta[-1])


def fit_conditional_logit(groups: list[tuple[np.ndarray, np.ndarray]], weight: np.ndarray,
                          l2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A conditional logit (a softmax over each group's rows, McFadden's choice model):
    the weights that make each group's positive rows likeliest among its rows, by
    L-BFGS on the L2-penalised, weighted log loss over standardised features: (mean,
    scale, weights). `groups` are (values, labels) with at least one positive each;
    `weight` is each group's share of the loss."""
    from scipy.optimize import minimize

    stacked = np.vstack([x for x, _ in groups])
    mean = stacked.mean(axis=0)
    scale = stacked.std(axis=0)
    scale[scale < 1e-9] = 1.0
    zs = [(x - mean) / scale for x, _ in groups]
    ys = [y.astype(float) for _, y in groups]
    w = weight / weight.sum()

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = l2 * beta @ beta, 2 * l2 * beta
        for z, y, wg in zip(zs, ys, w):
            s = z @ beta
            p = np.exp(s - s.max())
            p /= p.sum()
            hit = (p * y).sum()
            total -= wg * np.log(hit)
            grad -= wg * (z.T @ (p * y / hit - p))
        return total, grad

    beta = minimize(loss, np.zeros(stacked.shape[1]), jac=True, method="L-BFGS-B").x
    return mean, scale, beta
