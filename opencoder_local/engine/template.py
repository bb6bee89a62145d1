"""Chat templates: the GGUF's own Jinja template, rendered in Jinja's sandbox."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Sequence

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from opencoder_local.engine.protocol import Message
from opencoder_local.errors import UserError


class ChatTemplateError(UserError):
    """The model's chat template could not be rendered (or tried something unsafe)."""


def opencoder_template() -> str:
    """OpenCoder-Instruct's ChatML template with its default system prompt."""
    return resources.files("opencoder_local.assets").joinpath("opencoder_chatml.jinja").read_text("utf-8")


def _raise(message: str) -> None:
    raise TemplateError(message)


@lru_cache(maxsize=8)
def _compile(source: str):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(source)


def render_chat(
    source: str,
    messages: Sequence[Message],
    *,
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
) -> str:
    """Render messages through a chat template; unsafe or broken templates raise ChatTemplateError."""
    try:
        template = _compile(source)
        return template.render(
            messages=[{"role": m.role, "content": m.content} for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
        )
    except Exception as exc:  # the template is input from a model file: any failure is its own
        raise ChatTemplateError(f"the model's chat template failed: {exc}") from None
