"""opencoder-convert: argument parsing only; the work is in pipeline and verify."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from opencoder_convert.pipeline import DEFAULT_OUTTYPE, OUTTYPES, prepare, run
from opencoder_local.errors import refuse_undecodable, run_guarded

PROG = "opencoder-convert"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Convert a Hugging Face OpenCoder/Llama checkpoint (safetensors) to GGUF."
    )
    parser.add_argument("checkpoint", type=Path, help="checkpoint folder (config.json, *.safetensors, tokenizer)")
    parser.add_argument("--outtype", default=DEFAULT_OUTTYPE, metavar="TYPE",
                        help=f"one of {', '.join(OUTTYPES)} (default {DEFAULT_OUTTYPE})")
    parser.add_argument("-o", "--outfile", type=Path, help="output file (default <model>-<TYPE>.gguf next to it)")
    parser.add_argument("--name", help="model name stored in the GGUF (default: the folder's name)")
    parser.add_argument("--verify", action="store_true",
                        help="compare the GGUF's logits in llama.cpp with a numpy reference forward pass")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_guarded(lambda: _convert(refuse_undecodable(build_parser().parse_args(argv))), PROG)


def _convert(args: argparse.Namespace) -> int:
    dest = None
    try:
        job = prepare(args.checkpoint, args.outtype.lower(), args.outfile, args.name)
        dest = run(job)
        print(f"wrote {dest}")
        if args.verify:
            from opencoder_convert.verify import verify

            report = verify(job.checkpoint, dest, job.outtype)
            print(report.summary())
            if not report.passed:
                print(f"{PROG}: error: {report.failure()}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        done = f"{dest} was written but not verified" if dest else "no output file was written"
        print(f"{PROG}: interrupted; {done}", file=sys.stderr)
        return 130
    return 0
