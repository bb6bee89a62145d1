"""Chat templates render in Jinja's sandbox; OpenCoder gets its own when a GGUF has none."""

from pathlib import Path

import gguf
import pytest

from opencoder_local.engine.gguf_file import GGUFFile
from opencoder_local.engine.model_file import chat_template_for
from opencoder_local.engine.protocol import Message
from opencoder_local.engine.template import ChatTemplateError, check_template, opencoder_template, render_chat

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


ENDLESS = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize(
    "endless",
    [
        ENDLESS,
        "{% for a in range(100000) %}{% for b in 'x' * 100000 %}{{ '' }}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
        "{% for a in range(100000) recursive %}{{ loop(range(100000)) if loop.depth < 3 }}{% endfor %}",
    ],
)
def test_a_template_that_would_run_for_ever_stops_with_one_error(endless, monkeypatch):
    monkeypatch.setattr("opencoder_local.engine.template.RENDER_SECONDS", 0.2)
    with pytest.raises(ChatTemplateError, match="took too long"):
        render_chat(endless, HI)


@pytest.mark.parametrize(
    "huge",
    [
        "{{ 'x' * 10**10 }}",
        "{{ [1] * 10**10 }}",
        "{{ 2 ** (10**9) }}",
        "{% set ns = namespace(n=3) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{{ 'x'|center(10000000000) }}",
        "{{ 'x'.ljust(10**10) }}",
        "{{ '{:>9999999999}'.format(1) }}",
        "{{ '%9999999999d' % 1 }}",
        "{{ ('{0}' * 1000).format('x' * 8000000) }}",
        "{{ ('{a}' * 1000).format_map({'a': 'x' * 8000000}) }}",
        "{{ ('%s' * 1000) % (('x' * 8000000,) * 1000) }}",
        "{{ ('x' * 8000000).join(range(100000)|map('string')) }}",
        "{{ range(100000)|map('string')|join('x' * 8000000) }}",
        "{{ ('a' * 1000000).replace('a', 'b' * 1000) }}",
        "{{ ('\t' * 1000).expandtabs(100000) }}",
        "{{ ('\n' * 1000000)|indent(100000) }}",
        "{{ ('a ' * 1000000)|wordwrap(1, wrapstring='x' * 1000) }}",
        "{{ lipsum(n=10000000) }}",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% else %}{{ 'x' * 8000000 }}{% endif %}{% endmacro %}{{ f(40) }}",
        "{% for a in range(100000) %}{% for b in range(1000) %}{{ 'x' * 1000 }}{% endfor %}{% endfor %}",
    ],
)
def test_a_template_building_a_huge_value_is_refused_before_it_fills_memory(huge):
    with pytest.raises(ChatTemplateError, match="too large"):
        render_chat(huge, HI)


def test_a_broken_template_is_one_error_and_normal_templates_keep_working():
    with pytest.raises(ChatTemplateError, match="is broken"):
        render_chat("{% for %}", HI)
    ok = "{% for m in messages %}{% if loop.index > 5 %}{% break %}{% endif %}{{ m.role ~ ':' ~ m.content * 2 }}{% endfor %}"
    assert render_chat(ok, HI * 9) == "user:hihi" * 5


@pytest.mark.parametrize("bomb", ["{{ 'x' * 10**10 }}", "{{ ('x' * 100) * 10**8 }}", "{{ 'x'|center(10000000000) }}"])
def test_a_template_that_other_jinja_environments_would_blow_up_compiling_is_refused(bomb):
    # Jinja folds constants while compiling; llama-cpp-python compiles every GGUF template as it loads.
    with pytest.raises(ChatTemplateError, match="too large"):
        check_template(bomb)
