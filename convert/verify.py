"""--verify: run the GGUF in llama.cpp and the checkpoint in numpy on the same code prompt.

Agreement is judged per output type. llama.cpp computes in reduced precision (bf16 and f16
weights are multiplied with bf16/f16 activations), so where the reference's top two logits are
closer than the type's delta allowance even a bit-exact file may pick the other one: such
near-ties are reported but not counted. Everywhere else the lossless types must agree on
every top-1 token; quantized types may differ a little more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from opencoder_convert.checkpoint import Checkpoint
from opencoder_convert.quantize import quiet_llama
from opencoder_convert.reference import forward
from opencoder_local.engine.tokenizer import pre_split

PROMPT = (
    "def fibonacci(n: int) -> int:\n"
    "    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"
    "    a, b = 0, 1\n"
    "    for _ in range(n):\n"
    "        a, b = b, a + b\n"
    "    return a\n"
)


@dataclass(frozen=True)
class Tolerance:
    min_top1: float
    max_delta: float  # max |delta logit| as a fraction of the reference logits' RMS


TOLERANCES = {
    "f32": Tolerance(1.0, 0.005),
    "f16": Tolerance(1.0, 0.02),
    "bf16": Tolerance(1.0, 0.05),
    # Quantized types may flip near-ties; the delta bound is what catches a broken conversion.
    "q8_0": Tolerance(0.9, 0.2),
    "q6_k": Tolerance(0.8, 0.35),
    "q5_k_m": Tolerance(0.7, 0.5),
    "q4_k_m": Tolerance(0.6, 0.9),
    "q4_0": Tolerance(0.5, 1.1),
}


@dataclass(frozen=True)
class Report:
    outtype: str
    n_tokens: int
    top1: float  # raw agreement over all positions
    decisive_top1: float  # agreement where the reference's top-2 margin exceeds the allowance
    near_ties: int
    max_delta: float
    logit_rms: float

    @property
    def relative_delta(self) -> float:
        return self.max_delta / max(self.logit_rms, 1e-12)

    @property
    def passed(self) -> bool:
        tol = TOLERANCES[self.outtype]
        return self.decisive_top1 >= tol.min_top1 and self.relative_delta <= tol.max_delta

    def summary(self) -> str:
        return (
            f"verify {self.outtype}: {self.n_tokens} tokens, top-1 agreement {self.top1:.3f} "
            f"({self.decisive_top1:.3f} excluding {self.near_ties} near-ties), "
            f"max |delta logit| {self.max_delta:.4f} ({self.relative_delta:.3f} of logit RMS {self.logit_rms:.3f})"
        )

    def failure(self) -> str:
        tol = TOLERANCES[self.outtype]
        return (
            f"the GGUF disagrees with the checkpoint beyond what {self.outtype} allows "
            f"(top-1 {self.decisive_top1:.3f} < {tol.min_top1} or delta {self.relative_delta:.3f} > {tol.max_delta})"
        )


def gguf_logits(path: Path, text: str, threads: int | None = None) -> tuple[list[int], np.ndarray]:
    """Tokens of `text` and llama.cpp's logits for them. Tokens are encoded per pre-split piece as
    the engine does for OpenCoder; for other vocabularies they only need to be valid ids."""
    import llama_cpp

    quiet_llama()
    llm = llama_cpp.Llama(str(path), n_ctx=512, n_batch=512, logits_all=True, verbose=False,
                          n_threads=threads, seed=0)
    try:
        tokens = [t for piece in pre_split(text) for t in llm.tokenize(piece.encode(), add_bos=False)]
        llm.eval(tokens)
        return tokens, np.array(llm.scores[: len(tokens)], dtype=np.float32)
    finally:
        llm.close()


def compare(reference: np.ndarray, logits: np.ndarray, outtype: str) -> Report:
    n = min(len(reference), len(logits))
    reference, logits = reference[:n], logits[:n]
    agree = reference.argmax(-1) == logits.argmax(-1)
    rms = float(np.sqrt(np.mean(reference.astype(np.float64) ** 2)))
    top2 = np.sort(reference, axis=-1)[:, -2:]
    decisive = top2[:, 1] - top2[:, 0] > TOLERANCES[outtype].max_delta * rms
    decisive_top1 = float(np.mean(agree[decisive])) if decisive.any() else 1.0
    delta = float(np.max(np.abs(reference - logits)))
    return Report(outtype, n, float(np.mean(agree)), decisive_top1, int(n - decisive.sum()), delta, rms)


def verify(checkpoint: Checkpoint, gguf_path: Path, outtype: str, text: str = PROMPT) -> Report:
    tokens, logits = gguf_logits(gguf_path, text)
    return compare(forward(checkpoint, tokens), logits, outtype)
