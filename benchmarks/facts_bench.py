"""Document facts against the blind table (eval/data/facts.jsonl): how many of the
fields each file states are extracted exactly, and how many are invented where the
text states none. Tuning files (the bundled corpus and the dev tuning half) and the
dev held-out half are reported apart; eval/README.md has the split. The held-out half
is counted only with --heldout, for the record: tuning runs never see it.

    python benchmarks/facts_bench.py            # while tuning
    python benchmarks/facts_bench.py --heldout > benchmarks/results/facts.txt
"""

import json
import sys
from pathlib import Path

from zhice.ingest.facts import extract_facts
from zhice.ingest.loaders import load

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TABLE = ROOT / "eval" / "data" / "facts.jsonl"
# documents a helper wrote for tuning the extraction, forms the real ones lack (blind,
# eval/data/facts_more/README.md)
MORE_TABLE = ROOT / "eval" / "data" / "facts_more.jsonl"
MORE_DOCS = ROOT / "eval" / "data" / "facts_more"
HELD_OUT = {"gongtong_fuyu_zhejiang_2021.html", "zhejiang_gaozhong_kegai_2012.html",
            "zhejiang_dangdaihui_baogao_2022.pdf", "yihao_wenjian_2025.docx",
            "liuzhong_quanhui_gongbao_2021_zhtw.txt"}
FIELDS = ("title", "issuers", "doc_numbers", "date")  # what the numbers count
ALSO = ("published", "period")


def main(argv: list[str]) -> int:
    heldout = "--heldout" in argv
    sets = {"tuning (corpus + dev tuning half)": [], "held out (dev held-out half)": [],
            "tuning, second table (documents written for it)": []}
    for row in _rows(TABLE):
        source = row["source"]
        path = SHARED / "corpus" / source
        path = path if path.exists() else SHARED / "devdocs" / source
        if source in HELD_OUT and not heldout:
            continue
        sets[list(sets)[source in HELD_OUT]].append((source, row, _facts(path)))
    for row in _rows(MORE_TABLE):
        sets[list(sets)[2]].append((row["source"], row, _facts(MORE_DOCS / row["source"])))
    for name, items in sets.items():
        if not items:
            continue
        print(f"## {name}: {len(items)} files")
        for fields in (FIELDS, ALSO):
            stated = exact = invented = 0
            for _source, want, got in items:
                for field in fields:
                    w, g = want.get(field) or None, got.get(field) or None
                    if w:
                        stated += 1
                        exact += _same(w, g)
                    elif g:
                        invented += 1
            share = exact / stated if stated else 0
            print(f"{'/'.join(fields)}: {exact} of {stated} stated fields exact ({share:.3f}); "
                  f"{invented} invented where the text states none")
        for source, want, got in items:
            wrong = [f for f in FIELDS + ALSO if (want.get(f) or got.get(f))
                     and not _same(want.get(f) or None, got.get(f) or None)]
            if name.startswith("tuning") and wrong:  # held-out misses are counted, not shown
                print(f"  {source}: " + "; ".join(f"{f} {want.get(f)!r} -> {got.get(f)!r}"
                                                  for f in wrong))
    return 0


def _rows(table: Path) -> list[dict]:
    return [json.loads(line) for line in table.read_text("utf-8").splitlines() if line.strip()]


def _facts(path: Path) -> dict:
    doc = load(path)
    return extract_facts(doc.text, doc.title).to_dict()


def _same(want, got) -> bool:
    """Exact, but for spaces a title broken over lines may or may not keep."""
    def norm(v):
        return [x.replace(" ", "") for x in v] if isinstance(v, list) else str(v).replace(" ", "")
    return got is not None and norm(want) == norm(got)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
