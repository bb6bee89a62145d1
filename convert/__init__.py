"""HF checkpoint -> GGUF converter (imported as opencoder_convert)."""
