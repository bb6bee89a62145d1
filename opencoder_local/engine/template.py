"""Chat templates: the GGUF's own Jinja template, rendered in a bounded sandbox.

A template is code from a model file: the sandbox stops it touching anything, and the
bounds (engine/bounded_jinja.py) stop it running for ever or filling memory. Compiling is
bounded too, since Jinja evaluates constant filters while it compiles.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Sequence

from jinja2 import TemplateError

from opencoder_local.engine.bounded_jinja import (
    MAX_SIZE,
    BoundedEnvironment,
    TooBig,
    TooLong,
    check_constant_folding,
    run_within,
)
from opencoder_local.engine.protocol import Message
from opencoder_local.errors import UserError

RENDER_SECONDS = 2.0  # a real template formats a long conversation in well under a millisecond
MAX_SOURCE = 1 << 20  # characters of template source


class ChatTemplateError(UserError):
    """The model's chat template could not be rendered (or tried something unsafe or endless)."""


def opencoder_template() -> str:
    """OpenCoder-Instruct's ChatML template with its default system prompt."""
    return resources.files("opencoder_local.assets").joinpath("opencoder_chatml.jinja").read_text("utf-8")


def _raise(message: str) -> None:
    raise TemplateError(message)


@lru_cache(maxsize=8)
def _compile(source: str):
    if len(source) > MAX_SOURCE:
        raise ChatTemplateError(f"the model's chat template is {len(source):,} characters long; at most {MAX_SOURCE:,} are read")
    env = BoundedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    check_constant_folding(env, source)
    return env.from_string(source)


def check_template(source: str) -> None:
    """Compile a template now, so a broken one is one ChatTemplateError before anything uses it."""
    _bounded(lambda: _compile(source), "is broken")


def render_chat(
    source: str,
    messages: Sequence[Message],
    *,
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
) -> str:
    """Render messages through a chat template; unsafe, broken or runaway templates raise ChatTemplateError."""
    template = _bounded(lambda: _compile(source), "is broken")
    context = {
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "add_generation_prompt": add_generation_prompt,
        "bos_token": bos_token,
        "eos_token": eos_token,
    }
    return _bounded(lambda: template.environment.concat(template.generate(**context)), "failed")


def _bounded(work: Callable[[], Any], failed: str) -> Any:
    """Run `work` within the time and size bounds; every way a template fails is one ChatTemplateError."""
    try:
        return run_within(RENDER_SECONDS, work)
    except TooLong:
        raise ChatTemplateError(
            f"the model's chat template took too long (over {RENDER_SECONDS:g} s) to format the conversation; "
            "it may loop without end: use another model file"
        ) from None
    except (TooBig, MemoryError):
        raise ChatTemplateError(
            f"the model's chat template builds text or numbers too large for a prompt (over {MAX_SIZE:,} characters); "
            "use another model file"
        ) from None
    except ChatTemplateError:
        raise
    except Exception as exc:  # the template is input from a model file: any failure is its own
        raise ChatTemplateError(f"the model's chat template {failed}: {exc}") from None
