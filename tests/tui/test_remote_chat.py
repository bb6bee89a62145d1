"""The app on a model served by llama-server (--model http://...), through Pilot: the local model's
greedy answer, the server's address in the status bar, Esc stopping the server's generation, a server
killed mid-answer, and an API key that reaches neither the database, the files nor the screen."""

from __future__ import annotations

import time

import httpx
import pytest

from opencoder_local import locations
from opencoder_local.engine.protocol import GenParams, Message
from opencoder_local.settings import ChatSettings, load_config
from opencoder_local.tui.app import make_app
from opencoder_local.tui.widgets.chat_log import AssistantMessage

from tui.helpers import answered, ask, notices, ready, status_label, wait_for

pytestmark = pytest.mark.anyio

QUESTION = "Write a Python function that reverses a string. Answer with a code block."
LONG = "Write a very long essay about the history of computers, with many sections."


def slot(server) -> dict:
    return httpx.get(f"{server.url}/slots", timeout=10).json()[0]


async def start_long_answer(pilot, chars: int = 40) -> AssistantMessage:
    screen = pilot.app.screen
    screen.prompt_input.text = LONG
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen.generating and len(screen.query(AssistantMessage).last().content) > chars)
    return screen.query(AssistantMessage).last()


async def test_chat_answers_like_the_local_model_and_shows_the_server(llama_server, demo_engine):
    app = make_app(ChatSettings(model=llama_server.url, max_tokens=60))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert status_label(app, "backend") == llama_server.url
        assert status_label(app, "model") == "SmolLM2-135M-Instruct.Q4_1"
        await ask(pilot, QUESTION)
        served = app.screen.session.messages[-1]
        assert "tok/s" in status_label(app, "rate")
        await ask(pilot, "Now make it recursive.")  # the follow-up reuses the server's cache
        cached, prompt = status_label(app, "backend").removeprefix(llama_server.url + " · ").split(" ")[0].split("/")
        assert 0 < int(cached.replace(",", "")) < int(prompt.replace(",", ""))
    local = "".join(d.text for d in demo_engine.stream([Message("user", QUESTION)], GenParams(max_tokens=60)))
    assert served.status == "done" and served.content == local


async def test_esc_stops_the_servers_generation(llama_server):
    app = make_app(ChatSettings(model=llama_server.url, max_tokens=3000))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await start_long_answer(pilot)
        await pilot.press("escape")
        await answered(pilot, 2)
        assert app.screen.session.messages[-1].status == "stopped"
        deadline = time.monotonic() + 10
        while slot(llama_server)["is_processing"] and time.monotonic() < deadline:
            time.sleep(0.05)
        decoded = slot(llama_server)["next_token"][0]["n_decoded"]
        assert not slot(llama_server)["is_processing"] and decoded < 3000


async def test_a_server_killed_mid_answer_is_a_notice_and_the_partial_answer_stays(start_llama_server):
    server = start_llama_server()
    app = make_app(ChatSettings(model=server.url, max_tokens=3000))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        view = await start_long_answer(pilot)
        server.stop(kill=True)
        await answered(pilot, 2)
        cut = app.screen.session.messages[-1]
        assert cut.status == "cut" and cut.content.strip() and view.content == cut.content
        assert "cut short" in str(view.query_one(".note").render())
        assert f"the server at {server.url}" in notices(app)
        assert app.screen.session.engine is None  # the next question connects again


async def test_an_api_key_never_reaches_the_database_the_files_or_the_screen(start_llama_server, monkeypatch):
    key = "sk-live-5up3r-s3cr3t-k3y"
    server = start_llama_server(extra=("--api-key", key))
    config = locations.config_path()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'model = "gpu-box"\nmax_tokens = 20\n\n[endpoints.gpu-box]\nurl = "{server.url}"\n'
                      'api_key_env = "GPU_BOX_KEY"\n')
    monkeypatch.setenv("GPU_BOX_KEY", key)
    app = make_app(load_config())
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "Say hello.")
        assert app.screen.session.messages[-1].status == "done"
        screen_text = app.export_screenshot()
        shown = notices(app) + screen_text + repr(app.settings)
    assert server.url in screen_text
    assert key not in shown
    home = locations.data_dir().parent
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
