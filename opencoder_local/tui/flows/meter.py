"""The context meter: the prompt as the next turn would send it, counted in a thread shortly after the
draft stops changing (the count includes the draft); a slow count of an older draft never overwrites
a newer one. While no answer runs, the model then reads that prompt so far (without the draft) ahead
of the turn: the files, the map and the history are in its cache before Enter."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Callable

from textual.css.query import NoMatches
from textual.timer import Timer

from opencoder_local.tui.flows.host import ChatHost, in_thread
from opencoder_local.tui.phase import Phase

COUNT_DELAY_S = 0.15


class ContextMeter:
    def __init__(self, host: ChatHost, suggest: Callable[[str], None]):
        self.host = host
        self._suggest = suggest  # the project map's suggestions follow the draft too
        self._timer: Timer | None = None
        self._seq = 0  # numbers the counts, so a slow old one cannot overwrite a newer one
        self._shown = 0  # the newest count shown

    def schedule(self) -> None:
        self.stop()
        self._timer = self.host.set_timer(COUNT_DELAY_S, self._count_now)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()

    def _count_now(self) -> None:
        host = self.host
        try:
            draft = host.prompt_input.text.strip()
        except NoMatches:
            return  # the screen is closing (its widgets go before it does)
        if host.session.engine is None:
            return
        self._seq += 1
        host.run_worker(partial(self._count, draft, self._seq), group="count", exclusive=True)  # made when it starts
        self._suggest(draft)

    async def _count(self, draft: str, seq: int) -> None:
        host = self.host
        try:
            prompt = await in_thread(host, partial(host.session.prompt, draft), group="count-thread")
        except asyncio.CancelledError:
            raise
        except Exception:  # the meter is advisory; a failed count must not disturb typing
            return
        if seq < self._shown:
            return  # a slow count of an older draft
        self._shown = seq
        try:
            host.status.show_context(prompt.budget.n_ctx, prompt.parts, prompt.dropped)
        except NoMatches:
            return
        await host.log_view.mark_dropped(prompt.dropped)
        if host.phase in (Phase.IDLE, Phase.STOPPED):
            try:
                await in_thread(host, host.session.prefill, group="count-thread")
            except asyncio.CancelledError:
                raise
            except Exception:  # reading ahead only saves time; the turn reads whatever it did not
                return
