"""Many people at once: a real `zhice serve` on 127.0.0.1, 10 users (threads, each its
own client) asking 20 questions each, through the page's `ask` endpoint (gradio_client)
or the OpenAI-compatible API (the `openai` package).

    python benchmarks/web_concurrency.py > benchmarks/results/web_concurrency.txt
    python benchmarks/web_concurrency.py --via openai --questions 10 \
        > benchmarks/results/api_concurrency.txt
    python benchmarks/web_concurrency.py --index DIR --users 4 --questions 5
    python benchmarks/web_concurrency.py --via http --users 20 --questions 10

Without --index the bundled corpus is ingested into a temporary index with the default
embedder first. Prints client-side p50/p95/max per question, the total time, the
server's own latency_ms, and every error; bounded by --deadline seconds.
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from zhice.index.index import ZhiceIndex
from zhice.index.pipeline import index_files

ROOT = Path(__file__).resolve().parents[1]


QUESTIONS = ROOT / "eval" / "data" / "questions.jsonl"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", type=Path, help="an existing index (default: build one)")
    p.add_argument("--embedder", default="e5-small", help="for the index built (default e5-small)")
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--questions", type=int, default=20, help="questions per user")
    p.add_argument("--deadline", type=float, default=600, help="seconds for the whole run")
    p.add_argument("--via", choices=("gradio", "http", "openai"), default="gradio",
                   help="the page's ask endpoint through gradio_client, the same endpoint "
                        "through Gradio's REST protocol (httpx), or POST /v1/chat/completions")
    args = p.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; load average before: "
          + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index
        if index_dir is None:
            index_dir = Path(tmp) / "index"
            with ZhiceIndex.open(index_dir, embedder=args.embedder, create=True) as index:
                summary = index_files(index, [ROOT / "corpus"])
            print(f"index: bundled corpus, embedder {args.embedder}: {summary.line()}")
        else:
            print(f"index: {index_dir}")
        port = _free_port()
        log = open(Path(tmp) / "serve.log", "w+b")  # noqa: SIM115 - closed with tmp
        server = subprocess.Popen(
            [sys.executable, "-m", "zhice.assistant.cli", "serve", "--index", str(index_dir),
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "ZHICE_ADMIN_PASSWORD": "",
                 "ZHICE_PASSWORD": ""})
        try:
            url = f"http://127.0.0.1:{port}"
            started = time.perf_counter()
            _wait_ready(url, server, log, timeout=120)
            print(f"server: zhice serve, ready in {time.perf_counter() - started:.1f} s")
            return _run(url, args)
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()


def _asker(url: str, via: str):
    """A new client's ask(question) -> (question answered, server latency_ms)."""
    if via == "openai":
        import openai

        client = openai.OpenAI(base_url=f"{url}/v1", api_key="loopback", max_retries=0)

        def ask(q: str) -> tuple[str, float]:
            message = client.chat.completions.create(
                model="zhice", messages=[{"role": "user", "content": q}]).choices[0].message
            details = message.model_extra["zhice"]
            return details["question"], details["latency_ms"]
        return ask
    if via == "http":
        # Gradio's documented REST route: POST the question, read the event stream; one
        # session a user, as a page keeps (a new session costs the server a copy of every
        # block's config). gradio_client costs ~100 ms of client CPU a question here,
        # which on two shared cores is more than the server's own work.
        import uuid

        import httpx

        http = httpx.Client(base_url=url, timeout=60, trust_env=False)
        session = uuid.uuid4().hex

        def ask(q: str) -> tuple[str, float]:
            event = http.post("/gradio_api/call/ask",
                              json={"data": [q, 5], "session_hash": session}).json()["event_id"]
            stream = http.get(f"/gradio_api/call/ask/{event}").text
            kind, _, data = stream.partition("\ndata:")
            if "complete" not in kind:
                raise RuntimeError(f"{kind.strip()}: {data.strip()[:200]}")
            r = json.loads(data)[0]
            return r.get("question"), r["latency_ms"]
        return ask
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)

    def ask(q: str) -> tuple[str, float]:
        r = client.predict(q, api_name="/ask")
        return r.get("question"), r["latency_ms"]
    return ask


def _run(url: str, args: argparse.Namespace) -> int:
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text("utf-8").splitlines()
                 if line.strip()]
    latencies: list[float] = []
    server_ms: list[float] = []
    errors: list[str] = []
    answered = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + args.deadline

    def user(u: int) -> None:
        try:
            ask = _asker(url, args.via)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            with lock:
                errors.append(f"user {u}: cannot connect: {e}")
            return
        for i in range(args.questions):
            if time.monotonic() > deadline:
                with lock:
                    errors.append(f"user {u}: deadline reached after {i} questions")
                return
            q = questions[(u * args.questions + i) % len(questions)]
            t = time.perf_counter()
            try:
                answered_q, chain_ms = ask(q)
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append(f"user {u} q{i}: {type(e).__name__}: {e}")
                continue
            elapsed = (time.perf_counter() - t) * 1000
            with lock:
                if answered_q != q:
                    errors.append(f"user {u} q{i}: answer to another question: {answered_q}")
                    continue
                latencies.append(elapsed)
                server_ms.append(chain_ms)
                answered[0] += 1

    # one question first: the server loads its index and models on the first ask (its
    # cold start is benchmarks/startup_bench.py's); what follows is the steady state
    _asker(url, args.via)(questions[-1])
    started = time.perf_counter()
    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(args.users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 30)
    total = time.perf_counter() - started
    asked = args.users * args.questions
    via = {"gradio": "gradio_client (/ask)",
           "http": "httpx, Gradio's REST protocol (POST /gradio_api/call/ask, then its events)",
           "openai": "the openai package (POST /v1/chat/completions)"}[args.via]
    print(f"load: {args.users} users x {args.questions} questions = {asked}, via {via}, "
          "all at once")
    print(f"answered: {answered[0]} of {asked}; errors: {len(errors)}")
    if latencies:
        print(f"client latency ms: p50 {_pct(latencies, 50):.0f}, p95 {_pct(latencies, 95):.0f}, "
              f"max {max(latencies):.0f}, mean {statistics.mean(latencies):.0f}")
        print(f"server latency_ms (in the chain): p50 {_pct(server_ms, 50):.0f}, "
              f"p95 {_pct(server_ms, 95):.0f}")
    print(f"total: {total:.1f} s, {answered[0] / total:.1f} questions/s")
    for e in errors[:20]:
        print(f"error: {e}")
    return 0 if answered[0] == asked and not errors else 1


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, server: subprocess.Popen, log, timeout: float) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if server.poll() is not None:
            log.seek(0)
            raise SystemExit(f"zhice serve exited: {log.read().decode()[-2000:]}")
        try:
            with opener.open(f"{url}/config", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"zhice serve did not answer on {url} within {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
