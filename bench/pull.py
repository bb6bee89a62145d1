"""Benchmark `opencoder pull` against its parts measured alone in the same run, over real HTTP.

    python bench/pull.py                 # ~270 MB generated checkpoint, 3 rounds
    python bench/pull.py --layers 4 --runs 1

A generated OpenCoder-layout checkpoint is served by the Hub stand-in (tests/fixtures/hub_server.py)
on 127.0.0.1, in a process of its own. Each round, in one process each:
  - download alone: huggingface_hub's snapshot_download of the same files, and our downloader alone;
  - convert alone: our converter to q4_k_m plus --verify, from a local copy of the checkpoint;
  - pull: `opencoder pull` into an empty OPENCODER_HOME (download, convert, quantize, verify, install).
Prints pull time / (download time + conversion time), median of the rounds (target <= 1.1x), then
interrupts a pull (SIGINT while the largest file is half sent), resumes it, and prints the bytes the
server sent for the resumed pull / the bytes that were missing on disk (target 1.0x), likewise for a
connection dropped mid-file in one pull.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.checkpoint import Shape, scaled, write_checkpoint  # noqa: E402

REPO = "infly/OpenCoder-1.5B-Instruct"
NAME = "opencoder-1.5b-instruct"
DEFAULT_SHAPE = Shape(1024, 12, 16, 4, 64, 2816, 4096, 10000.0)


def child(kind: str, *args: str) -> None:
    """One timed step, in a fresh process; prints {"seconds": ...} last."""
    start = time.perf_counter()
    if kind == "hf":
        from huggingface_hub import snapshot_download

        snapshot_download(REPO, local_dir=args[0], endpoint=os.environ["HF_ENDPOINT"],
                          allow_patterns=["*.json", "*.model", "*.safetensors"])
    elif kind == "ours":
        from opencoder_local.models.download import download
        from opencoder_local.models.hub import resolve_repo
        from opencoder_local.models.pull import CHECKPOINT_FILES
        from opencoder_local.progress import silent_bars

        repo = resolve_repo(REPO)
        files = [f for f in repo.files if f.path in CHECKPOINT_FILES or f.path.endswith(".safetensors")]
        download(repo, files, Path(args[0]), silent_bars("", 0))
    elif kind == "convert":
        from opencoder_convert.pipeline import prepare, run
        from opencoder_convert.verify import verify
        from opencoder_local.progress import silent_bars

        job = prepare(Path(args[0]), "q4_k_m", Path(args[1]), "OpenCoder-1.5B-Instruct")
        assert verify(job.checkpoint, run(job, silent_bars), "q4_k_m").passed
    elif kind == "pull":
        from opencoder_local.models.pull import pull

        pull(NAME)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def timed(kind: str, *args: str, env: dict | None = None) -> float:
    os.sync()
    proc = subprocess.run([sys.executable, __file__, "--child", kind, *args], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


def start_server(repos: Path) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fixtures" / "hub_server.py"), "--repos",
                               str(repos), "--port", "0"], stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    return server, line.split("HF_ENDPOINT=")[1].rstrip(")\n")


def timing_rounds(work: Path, checkpoint: Path, runs: int) -> None:
    server, url = start_server(work / "repos")
    try:
        rows = []
        for i in range(runs):
            home = work / f"home-{i}"
            env = {**os.environ, "HF_ENDPOINT": url, "OPENCODER_HOME": str(home), "HF_HOME": str(work / "hf")}
            os.environ.update({"HF_ENDPOINT": url, "OPENCODER_HOME": str(home)})
            hf = timed("hf", str(work / f"hf-{i}"), env=env)
            ours = timed("ours", str(work / f"ours-{i}"), env=env)
            convert = timed("convert", str(checkpoint), str(work / f"convert-{i}.gguf"), env=env)
            pulled = timed("pull", env=env)
            rows.append((hf, ours, convert, pulled))
            print(f"round {i + 1}: download alone {hf:.2f} s (huggingface_hub), {ours:.2f} s (ours); "
                  f"convert+verify alone {convert:.2f} s; pull {pulled:.2f} s", flush=True)
        print(f"pull / (huggingface_hub download + convert), median of {runs}: "
              f"{statistics.median(p / (h + c) for h, _o, c, p in rows):.3f}x (target <= 1.1x)")
        print(f"pull / (our download + convert), median of {runs}: "
              f"{statistics.median(p / (o + c) for _h, o, c, p in rows):.3f}x")
    finally:
        server.terminate()
        server.wait()


def resume_ratios(work: Path, checkpoint: Path) -> None:
    from fixtures.hub_server import HubServer

    largest = max(checkpoint.glob("*.safetensors"), key=lambda p: p.stat().st_size)
    total = sum(p.stat().st_size for p in checkpoint.iterdir())
    with HubServer() as hub:
        hub.add_repo(REPO, checkpoint)
        home = work / "home-resume"
        env = {**os.environ, "HF_ENDPOINT": hub.url, "OPENCODER_HOME": str(home)}
        held = largest.stat().st_size // 2
        block = hub.block(largest.name, after=held)
        first = subprocess.Popen([sys.executable, "-m", "opencoder_local", "pull", NAME], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        block.reached.wait(300)
        part = next(iter((home / "data" / "downloads").rglob(largest.name + ".part")))
        while part.stat().st_size < held:
            time.sleep(0.01)
        first.send_signal(signal.SIGINT)
        first.wait(60)
        block.release.set()
        on_disk = sum(p.stat().st_size for p in (home / "data" / "downloads").rglob("*") if p.is_file())
        sent_before = sum(hub.sent.values())
        subprocess.run([sys.executable, "-m", "opencoder_local", "pull", NAME], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        resent = sum(hub.sent.values()) - sent_before
        print(f"interrupted pull (SIGINT with {on_disk / 1e6:.1f} of {total / 1e6:.1f} MB on disk): "
              f"resumed pull downloaded {resent / 1e6:.1f} MB for {(total - on_disk) / 1e6:.1f} MB missing = "
              f"{resent / (total - on_disk):.3f}x (target 1.0x)")
        hub.requests.clear()
        hub.sent.clear()
        hub.drop(largest.name, after=held)
        env["OPENCODER_HOME"] = str(work / "home-drop")
        subprocess.run([sys.executable, "-m", "opencoder_local", "pull", NAME], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"connection dropped mid-file: {sum(hub.sent.values()) / 1e6:.1f} MB sent for a "
              f"{total / 1e6:.1f} MB checkpoint = {sum(hub.sent.values()) / total:.3f}x (target 1.0x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, help=f"layers of the generated model (default {DEFAULT_SHAPE.layers})")
    parser.add_argument("--runs", type=int, default=3, help="timing rounds (default 3)")
    parser.add_argument("--workdir", type=Path, help="where to generate (default: a temp folder)")
    args = parser.parse_args()
    from fixtures.opencoder_tokenizer import ReferenceTokenizer, write_tokenizer

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        (work / "tokenizer").mkdir()
        tokenizer = write_tokenizer(work / "tokenizer")
        n_tokens = ReferenceTokenizer(tokenizer).vocab_size
        shape = scaled(DEFAULT_SHAPE, layers=args.layers or DEFAULT_SHAPE.layers)
        checkpoint = write_checkpoint(work / "repos" / REPO, shape, tokenizer, n_tokens, shards=2)
        size = sum(p.stat().st_size for p in checkpoint.iterdir())
        print(f"checkpoint: {size / 1e6:.1f} MB served from 127.0.0.1", flush=True)
        timing_rounds(work, checkpoint, args.runs)
        resume_ratios(work, checkpoint)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], *sys.argv[3:])
    else:
        main()
