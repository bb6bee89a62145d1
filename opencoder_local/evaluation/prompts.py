"""What the model is asked, exactly as OpenCoder's harness asks it (OpenCodeEval in the OpenCoder-llm
repository: src/args.py, src/main.py, src/benchmark/base.py, src/backend/vllm.py)."""

from __future__ import annotations

from dataclasses import dataclass

from opencoder_local.evaluation.data import Problem

# args.py: the prefix and suffix an Instruct ("Chat") model's user message gets.
INSTRUCTION_PREFIX = ("Please provide a self-contained Python script that solves the following problem in a "
                      "markdown code block:\n```python\n")
INSTRUCTION_SUFFIX = "\n```\n"
# benchmark/base.py: every model stops at these; a Base model at the completion ones too.
GENERAL_STOPS = ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(", "\n```\n")
COMPLETION_STOPS = ("\ndef ", "\nclass ", "\nimport ", "\nfrom ", "\nassert ")
# The harness's vLLM runs cap prompt and answer together at --max_tokens (2048 by default).
WINDOW = 2048


def refine(text: str) -> str:
    """utils.refine_text: tabs to four spaces, one kind of newline, stripped, one newline at the end."""
    text = text.replace("\t", "    ").replace("\r\n", "\n").replace("\r", "\n")
    return text.strip() + "\n"


@dataclass(frozen=True)
class Prompt:
    text: str  # the user message (Instruct) or the text to complete (Base)
    chat: bool
    stops: tuple[str, ...]


def prompt_for(problem: Problem, chat: bool) -> Prompt:
    """main.py refines the prompt with its prefix and suffix; a Base model gets no prefix or suffix."""
    if chat:
        return Prompt(refine(INSTRUCTION_PREFIX + refine(problem.prompt) + INSTRUCTION_SUFFIX), True, GENERAL_STOPS)
    return Prompt(refine(problem.prompt), False, GENERAL_STOPS + COMPLETION_STOPS)


def first_stop(text: str, stops: tuple[str, ...], start: int = 0) -> int | None:
    """Where the earliest stop word begins at or after `start`, or None."""
    found = [i for i in (text.find(stop, start) for stop in stops) if i >= 0]
    return min(found) if found else None


def completion(prompt: Prompt, answer: str) -> str:
    """backend/vllm.py: the text post-processing reads; a Base model's answer follows its prompt."""
    return refine(answer) if prompt.chat else refine(prompt.text + "\n\n" + answer)
