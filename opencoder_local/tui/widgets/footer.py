"""Textual's footer, rebuilt once however often the bindings change before the next refresh."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """Textual (pinned 8.2.8) rebuilds every key of the footer, and restyles each, for every
    `refresh_bindings`: a focus change, a phase change, an edit card. The chat screen starting made
    eight rebuilds, a fifth of its start-up; changes that come together now make one."""

    _rebuild_pending = False

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if self._rebuild_pending or not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False  # a change from here on is shown by another rebuild
        await self.recompose()
