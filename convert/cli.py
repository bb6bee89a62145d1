"""opencoder-convert: not yet implemented."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("opencoder-convert: not yet available", file=sys.stderr)
    return 2
