"""--verify: run the GGUF in llama.cpp and the checkpoint in numpy on the same code prompt.

Agreement is judged per output type. llama.cpp computes in reduced precision (bf16 and f16
weights are multiplied with bf16/f16 activations), so where the reference's top two logits are
closer than the type's delta allowance even a bit-exact file may pick the other one: such
near-ties are reported but not counted. Everywhere else the lossless types must agree on
every top-1 token; quantized types are judged by KL divergence and top-1 agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from opencoder_convert.checkpoint import Checkpoint
from opencoder_convert.reference import forward
from opencoder_local.engine.quiet import quiet_llama
from opencoder_local.engine.tokenizer import pre_split
from opencoder_local.progress import Bars, silent_bars

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
    max_delta: float | None = None  # lossless types: max |delta logit| as a fraction of the logits' RMS
    max_kl: float | None = None  # quantized types: mean KL divergence (nats) of the next-token distribution


# Lossless types must pick the reference's token wherever it is decisive. Quantized types are
# judged as llama.cpp's own perplexity tool judges them, by KL divergence from the reference:
# their max |delta| grows with outlier logits and says little (on SmolLM2-135M's real weights
# q4_k_m reaches 1.26x the logit RMS while agreeing on 88% of tokens). Measured there (top-1,
# mean KL): q8_0 0.97/0.005, q6_k 0.97/0.014, q5_k_m 0.93/0.094, q4_k_m 0.88/0.068,
# q4_0 0.83/0.32; a mis-converted model is far off (KL of whole nats, top-1 near 0).
TOLERANCES = {
    "f32": Tolerance(1.0, max_delta=0.01),
    "f16": Tolerance(1.0, max_delta=0.02),
    "bf16": Tolerance(1.0, max_delta=0.08),
    "q8_0": Tolerance(0.9, max_kl=0.02),
    "q6_k": Tolerance(0.8, max_kl=0.05),
    "q5_k_m": Tolerance(0.6, max_kl=0.25),
    "q4_k_m": Tolerance(0.6, max_kl=0.25),
    "q4_0": Tolerance(0.5, max_kl=0.6),
}


@dataclass(frozen=True)
class Report:
    outtype: str
    n_tokens: int
    top1: float  # raw agreement over all positions
    decisive_top1: float  # agreement where the reference's top-2 margin exceeds the delta allowance
    near_ties: int
    max_delta: float
    logit_rms: float
    mean_kl: float

    @property
    def relative_delta(self) -> float:
        return self.max_delta / max(self.logit_rms, 1e-12)

    @property
    def passed(self) -> bool:
        tol = TOLERANCES[self.outtype]
        if tol.max_kl is not None:
            return self.top1 >= tol.min_top1 and self.mean_kl <= tol.max_kl
        return self.decisive_top1 >= tol.min_top1 and self.relative_delta <= tol.max_delta

    def summary(self) -> str:
        return (
            f"verify {self.outtype}: {self.n_tokens} tokens, top-1 agreement {self.top1:.3f} "
            f"({self.decisive_top1:.3f} excluding {self.near_ties} near-ties), "
            f"max |delta logit| {self.max_delta:.4f} ({self.relative_delta:.3f} of logit RMS {self.logit_rms:.3f}), "
            f"mean KL {self.mean_kl:.4f}"
        )

    def failure(self) -> str:
        tol = TOLERANCES[self.outtype]
        if tol.max_kl is not None:
            found = f"top-1 {self.top1:.3f} (needs {tol.min_top1}), mean KL {self.mean_kl:.4f} (allowed {tol.max_kl})"
        else:
            found = (f"top-1 {self.decisive_top1:.3f} (needs {tol.min_top1}), "
                     f"delta {self.relative_delta:.3f} (allowed {tol.max_delta})")
        return f"the GGUF disagrees with the checkpoint beyond what {self.outtype} allows: {found}"


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def mean_kl(reference: np.ndarray, logits: np.ndarray) -> float:
    """Mean over positions of KL(reference || gguf) between next-token distributions."""
    ref_log, our_log = _log_softmax(reference.astype(np.float64)), _log_softmax(logits.astype(np.float64))
    return float(np.mean(np.sum(np.exp(ref_log) * (ref_log - our_log), axis=-1)))


def gguf_logits(path: Path, text: str, threads: int | None = None) -> tuple[list[int], np.ndarray]:
    """Tokens of `text` and llama.cpp's logits for them. Tokens are encoded per pre-split piece as
    the engine does for OpenCoder; for other vocabularies they only need to be valid ids."""
    import llama_cpp

    from opencoder_local.engine.backend import safe_model_params

    quiet_llama()
    with safe_model_params():
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
    allowance = TOLERANCES[outtype].max_delta or 0.0
    decisive = top2[:, 1] - top2[:, 0] > allowance * rms
    decisive_top1 = float(np.mean(agree[decisive])) if decisive.any() else 1.0
    delta = float(np.max(np.abs(reference - logits)))
    return Report(outtype, n, float(np.mean(agree)), decisive_top1, int(n - decisive.sum()), delta, rms,
                  mean_kl(reference, logits))


def verify(checkpoint: Checkpoint, gguf_path: Path, outtype: str, text: str = PROMPT,
           bars: Bars | None = None) -> Report:
    """The GGUF's logits against the reference's; one step for llama.cpp, then one per layer."""
    bar = (bars or silent_bars)("verifying", checkpoint.config.n_layers + 1, "")
    try:
        tokens, logits = gguf_logits(gguf_path, text)
        bar.advance(1)
        return compare(forward(checkpoint, tokens, lambda: bar.advance(1)), logits, outtype)
    finally:
        bar.close()
