"""The remote engine on llama.cpp's llama-server (built and cached by tests/fixtures/llama_server.py),
serving the demo model on 127.0.0.1; every figure is a ratio against a baseline from this run.

(a) generation tok/s through the app's engine (RemoteEngine: local tokenization, ids over the wire,
    text decoded from the returned ids) vs a bare httpx streaming client sending the same ids to the
    same server, both timed from the first token to the last (target >= 0.97)
(b) a follow-up turn's time to first token, with a ~1,500-token history the server has cached, vs
    the first turn's with that history evaluated from scratch (the server's prompt cache at work)

Run: python bench/remote.py [--tokens 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
import llama_cpp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures.llama_server import LlamaServer  # noqa: E402
from opencoder_local.engine.endpoint import Endpoint  # noqa: E402
from opencoder_local.engine.protocol import GenParams, Message  # noqa: E402
from opencoder_local.engine.remote import RemoteEngine  # noqa: E402
from opencoder_local.models.registry import open_model  # noqa: E402
from opencoder_local.engine.server_api import completion_body  # noqa: E402
from opencoder_local.models.registry import demo_path  # noqa: E402

QUESTION = [Message("user", "Write a long, well commented Python module implementing a linked list class.")]


def engine_rate(engine: RemoteEngine, n_tokens: int) -> float:
    stats = None
    for delta in engine.stream(QUESTION, GenParams(max_tokens=n_tokens)):
        stats = delta.stats or stats
    return stats.gen_tok_s


def bare_rate(url: str, body: dict) -> float:
    """The plainest streaming client: POST the app's own request body, read the events, time the first
    to the last token (same body, so only the client differs)."""
    first = last = None
    count = 0
    with httpx.stream("POST", f"{url}/completion", json=body, timeout=300) as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event.get("content"):
                last = time.perf_counter()
                first = first or last
                count += 1
            if event.get("stop"):
                break
    return (count - 1) / (last - first)


def rate_ratio(server: LlamaServer, n_tokens: int, repeats: int) -> tuple[float, float, float]:
    engine = open_model(Endpoint(server.url))
    body = completion_body(engine.prompt_ids(QUESTION), n_tokens, GenParams(max_tokens=n_tokens), "")
    ours, bare = [], []
    for turn in range(repeats):  # interleaved, first one then the other, so drift hits both alike
        if turn % 2:
            bare.append(bare_rate(server.url, body))
        ours.append(engine_rate(engine, n_tokens))
        if not turn % 2:
            bare.append(bare_rate(server.url, body))
    engine.close()
    return statistics.median(ours) / statistics.median(bare), statistics.median(ours), statistics.median(bare)


def follow_up_ratio(server: LlamaServer) -> tuple[float, int, int, int]:
    source = open(llama_cpp.__file__.replace("__init__.py", "llama_types.py")).read()[:5200]
    first = [Message("user", "Here is a module:\n```python\n" + source + "\n```\nWhat does it define?")]
    engine = open_model(Endpoint(server.url))
    httpx.post(f"{server.url}/slots/0?action=erase", timeout=30)  # the first turn starts from nothing
    ttft = {}
    for delta in engine.stream(first, GenParams(max_tokens=16)):
        if delta.stats:
            ttft["first"] = delta.stats.ttft_s
    answer = "It defines typed dictionaries for the OpenAI-compatible API."
    follow = first + [Message("assistant", answer), Message("user", "Which class is the largest?")]
    for delta in engine.stream(follow, GenParams(max_tokens=16)):
        if delta.stats:
            ttft["follow"], cached, total = delta.stats.ttft_s, delta.stats.reused_tokens, delta.stats.prompt_tokens
    engine.close()
    return ttft["first"] / ttft["follow"], engine.count(first).prompt_tokens, total, cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with LlamaServer(demo_path(), n_ctx=4096) as server:
        ratio, ours, bare = rate_ratio(server, args.tokens, args.repeats)
        print(f"(a) app engine / bare streaming client generation rate: {ratio:.3f}  "
              f"({ours:.1f} vs {bare:.1f} tok/s; target >= 0.97)")
        speedup, history, total, cached = follow_up_ratio(server)
        print(f"(b) follow-up TTFT speed-up over the first turn: {speedup:.1f}x  ({history}-token first prompt, "
              f"{total}-token follow-up of which {cached} came from the server's cache)")


if __name__ == "__main__":
    main()
