"""Benchmark opencoder-convert against a read+write baseline measured in the same run.

    python bench/convert.py                      # ~300 MB generated checkpoint
    python bench/convert.py --shape 1.5b --layers 4

Each step runs in a child process that reports its wall time and peak RSS (VmHWM), so
the figures are the conversion's own; baseline and conversion take the fastest of --runs. Prints throughput (MB/s of checkpoint read), peak RSS
as a fraction of the checkpoint size, and time as a ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.checkpoint import OPENCODER_1_5B, RELEASE_VOCAB, Shape, scaled, write_checkpoint  # noqa: E402

# A mid-sized GQA shape whose rows are multiples of 256, so every k-quant applies.
DEFAULT_SHAPE = Shape(1024, 8, 16, 4, 64, 2816, 4096, 10000.0)
DEFAULT_VOCAB = 32000


def child_baseline(folder: str, out: str) -> dict:
    """Read every safetensors file sequentially and write as many bytes, fsynced: like `cat`, one
    reused buffer (a fresh 16 MB bytes object per read costs a page fault per 4 KB)."""
    total = 0
    buffer = bytearray(16 << 20)
    view = memoryview(buffer)
    with open(out, "wb", buffering=0) as dst:
        for path in sorted(Path(folder).glob("*.safetensors")):
            with path.open("rb", buffering=0) as src:
                while n := src.readinto(buffer):
                    dst.write(view[:n])
                    total += n
        os.fsync(dst.fileno())
    return {"bytes": total}


def child_convert(folder: str, out: str, outtype: str) -> dict:
    from opencoder_convert.cli import main

    assert main([folder, "--outtype", outtype, "-o", out]) == 0
    return {}


def child_quantize(source: str, out: str, outtype: str) -> dict:
    from opencoder_convert.quantize import quantize

    quantize(Path(source), Path(out), outtype, Path(source).stat().st_size // 3)
    return {}


CHILDREN = {"baseline": child_baseline, "convert": child_convert, "quantize": child_quantize}


def run_child(kind: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, *args],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_rss() -> int:
    """VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would report the
    parent's peak (here: generating the checkpoint)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_main(kind: str, args: list[str]) -> None:
    start = time.perf_counter()
    result = CHILDREN[kind](*args)
    result["seconds"] = time.perf_counter() - start
    result["max_rss"] = peak_rss()
    print(json.dumps(result))


def make_checkpoint(work: Path, args: argparse.Namespace) -> Path:
    from fixtures.opencoder_tokenizer import ReferenceTokenizer, write_tokenizer

    tok = write_tokenizer(work / "tokenizer")
    n_tokens = ReferenceTokenizer(tok).vocab_size
    if args.shape == "1.5b":
        shape, vocab = scaled(OPENCODER_1_5B, layers=args.layers or OPENCODER_1_5B.layers), RELEASE_VOCAB
    else:
        shape, vocab = scaled(DEFAULT_SHAPE, layers=args.layers or DEFAULT_SHAPE.layers), DEFAULT_VOCAB
    shape = scaled(shape, vocab_pad=vocab - n_tokens)
    print(f"generating checkpoint: {shape}", flush=True)
    return write_checkpoint(work / f"bench-{args.shape}", shape, tok, n_tokens, shards=2)


def _run(kind: str, *args: str) -> dict:
    os.sync()  # start each run with no writeback left over from the one before
    result = run_child(kind, *args)
    Path(args[1]).unlink(missing_ok=True)
    return result


def paired_runs(runs: int, baseline_args: tuple[str, ...], convert_args: tuple[str, ...]) -> tuple[dict, dict, float]:
    """Baseline and conversion run alternately; page-cache writes on a shared machine swing by
    several x from minute to minute, so each conversion is compared with the baseline run next
    to it. Returns the fastest of each and the median of the paired ratios."""
    pairs = []
    for i in range(runs):  # alternate which goes first, so neither always follows the other's writeback
        if i % 2:
            converted = _run("convert", *convert_args)
            pairs.append((_run("baseline", *baseline_args), converted))
        else:
            baseline = _run("baseline", *baseline_args)
            pairs.append((baseline, _run("convert", *convert_args)))
    best = []
    for side in (0, 1):
        results = [pair[side] for pair in pairs]
        fastest = dict(min(results, key=lambda r: r["seconds"]))
        fastest["max_rss"] = max(r["max_rss"] for r in results)
        best.append(fastest)
    return best[0], best[1], statistics.median(c["seconds"] / b["seconds"] for b, c in pairs)


def report(label: str, result: dict, size: int, baseline: dict) -> None:
    print(f"{label:<24} {result['seconds']:7.2f} s  {size / result['seconds'] / 1e6:8.1f} MB/s  "
          f"peak RSS {result['max_rss'] / 1e6:7.1f} MB = {result['max_rss'] / size:.3f}x checkpoint  "
          f"time {result['seconds'] / baseline['seconds']:.2f}x baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("default", "1.5b"), default="default")
    parser.add_argument("--layers", type=int, help="number of layers (default: the shape's own)")
    parser.add_argument("--outtype", default="f16", help="type written by our code (default f16)")
    parser.add_argument("--quant", default="q4_k_m", help="llama.cpp type quantized from it")
    parser.add_argument("--runs", type=int, default=3, help="runs per step; the fastest counts (default 3)")
    parser.add_argument("--workdir", type=Path, help="where to generate (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        folder = make_checkpoint(work, args)
        size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
        print(f"checkpoint: {size / 1e6:.1f} MB bf16 in {folder}")
        out = work / f"model-{args.outtype}.gguf"
        baseline, converted, paired = paired_runs(
            args.runs, (str(folder), str(work / "baseline.bin")), (str(folder), str(out), args.outtype)
        )
        report("baseline read+write", baseline, size, baseline)
        report(f"convert -> {args.outtype}", converted, size, baseline)
        print(f"convert / baseline, median of {args.runs} adjacent pairs: {paired:.2f}x (target <= 1.5x)")
        run_child("convert", str(folder), str(out), args.outtype)
        quant = run_child("quantize", str(out), str(work / f"model-{args.quant}.gguf"), args.quant)
        report(f"{args.outtype} -> {args.quant} (llama.cpp)", quant, size, baseline)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3:])
    else:
        main()
