"""Command-line entry points (placeholder until the engine lands)."""

import sys


def main(argv=None) -> int:
    return 0


def chat_main(argv=None) -> int:
    return 0
