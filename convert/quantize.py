"""Phase 5: k-quants and q4_0 through llama.cpp's own quantizer (llama_model_quantize).

llama.cpp quantizes from an intermediate GGUF we wrote; tensors whose rows are not whole
256-value super-blocks get llama.cpp's own fallback type, as with its quantize tool.
"""

from __future__ import annotations

import threading
from pathlib import Path

import llama_cpp

from opencoder_local.engine.quiet import quiet_llama
from opencoder_local.errors import UserError
from opencoder_local.progress import Bars, terminal_bars

LLAMA_TYPES = {
    "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
    "q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "q5_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M,
    "q6_k": llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K,
}


class QuantizeError(UserError):
    """llama.cpp's quantizer failed."""


def quantize(source: Path, dest: Path, outtype: str, expected_bytes: int, threads: int = 0,
             bars: Bars | None = None) -> None:
    """Quantize GGUF `source` into `dest` with llama.cpp; runs in a thread so Ctrl+C is seen."""
    quiet_llama()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = LLAMA_TYPES[outtype]
    params.nthread = threads
    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(
            llama_cpp.llama_model_quantize(str(source).encode(), str(dest).encode(), params)
        ),
        daemon=True,
    )
    progress = (bars or terminal_bars())(f"quantizing {outtype}", expected_bytes, "B")
    worker.start()
    try:
        while worker.is_alive():
            worker.join(timeout=0.2)
            if dest.exists():
                progress.set(min(dest.stat().st_size, expected_bytes))
    finally:
        progress.close()
    if not result or result[0] != 0:
        raise QuantizeError(f"llama.cpp could not quantize to {outtype} (code {result[0] if result else '?'})")
