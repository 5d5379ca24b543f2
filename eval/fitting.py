"""What the commands that fit parameters share: the INDEX=DATASET pairs they are given,
and the data file they write (assistant/params.py reads it back).

    pairs = index_dataset_pairs(parser, "--set", args.set)
    write_params(path, "Retrieval parameters fitted by ...", fitted_on, params)
"""

import argparse
import json
from datetime import date
from pathlib import Path


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
