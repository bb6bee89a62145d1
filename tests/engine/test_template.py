"""Chat templates render in Jinja's sandbox; OpenCoder gets its own when a GGUF has none."""

from pathlib import Path

import gguf
import pytest

from opencoder_local.engine.gguf_file import GGUFFile
from opencoder_local.engine.llama_engine import chat_template_for
from opencoder_local.engine.protocol import Message
from opencoder_local.engine.template import ChatTemplateError, opencoder_template, render_chat

HI = [Message("user", "hi")]


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('echo pwned').read() }}",
        "{% set x = messages.append(1) %}{{ x }}",
    ],
)
def test_a_template_reaching_for_python_internals_fails_safely(attack):
    with pytest.raises(ChatTemplateError):
        render_chat(attack, HI)


def test_raise_exception_in_a_template_is_a_clear_error():
    with pytest.raises(ChatTemplateError, match="only user roles"):
        render_chat("{{ raise_exception('only user roles') }}", HI)


def test_opencoder_template_adds_its_default_system_prompt():
    text = render_chat(opencoder_template(), HI)
    assert text == (
        "<|im_start|>system\nYou are OpenCoder, created by OpenCoder Team.<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    own = render_chat(opencoder_template(), [Message("system", "Be brief."), *HI])
    assert own.startswith("<|im_start|>system\nBe brief.<|im_end|>\n") and "OpenCoder Team" not in own


def _info(name: str, template: str | None = None) -> GGUFFile:
    meta = {gguf.Keys.Tokenizer.MODEL: "llama", gguf.Keys.General.NAME: name}
    if template:
        meta[gguf.Keys.Tokenizer.CHAT_TEMPLATE] = template
    return GGUFFile(Path(f"/models/{name}.gguf"), 3, meta)


def test_template_choice_follows_the_gguf():
    assert chat_template_for(_info("OpenCoder 8B Instruct")) == opencoder_template()
    assert chat_template_for(_info("OpenCoder 8B Base")) is None  # plain completion
    assert chat_template_for(_info("Other Instruct")) is None
    assert chat_template_for(_info("OpenCoder 8B Instruct", "{{ 'own' }}")) == "{{ 'own' }}"
