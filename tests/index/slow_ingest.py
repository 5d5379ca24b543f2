"""`zhice ingest` in a subprocess, slowed so that a test can kill it part way: the fake
embedder sleeps `delay` seconds a file, and the heavy imports happen before the process
says "ready", so the kills land in the ingest, not in Python's start-up."""

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys, time
import zhice.index.embedders.fake as fake
real = fake.FakeEmbedder.embed_documents
def slow(self, texts):
    time.sleep({delay})
    return real(self, texts)
fake.FakeEmbedder.embed_documents = slow
import {preload}
{setup}
import zhice.assistant.cli, zhice.assistant.cli.documents
print("ready", flush=True)
sys.exit(zhice.assistant.cli.main(sys.argv[1:]))
"""


def start_ingest(docs: Path, where: str | Path, delay: float = 0.05,
                 preload: str = "faiss, jieba", setup: str = "") -> subprocess.Popen:
    """`zhice ingest DOCS --index WHERE --embedder fake`, started and ready; `setup`
    is a line of Python run before it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(delay=delay, preload=preload, setup=setup), "ingest",
         str(docs), "--index", str(where), "--embedder", "fake"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc
