"""Keep llama.cpp's own log lines off the user's terminal.

llama-cpp-python maps ggml's log levels from an older numbering, so llama.cpp's warnings
(per-tensor quantization fallbacks, for one) arrive as "errors"; only CRITICAL silences them.
We report every failure ourselves, in one line.
"""

import logging


def quiet_llama() -> None:
    logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
