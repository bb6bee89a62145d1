"""The types a conversion can write, and about how many bits a weight each takes (as llama.cpp's
quantize tool reports them): the converter's own fact, read by its progress bars and disk check and
by the model catalog's size estimates."""

from __future__ import annotations

BITS_PER_WEIGHT = {"f32": 32.0, "f16": 16.0, "bf16": 16.0, "q8_0": 8.5, "q6_k": 6.6, "q5_k_m": 5.7,
                   "q4_k_m": 4.9, "q4_0": 4.5}
