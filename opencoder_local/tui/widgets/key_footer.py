"""The footer of keys: Textual's, recomposed once for all the binding changes before a refresh."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.screen import Screen


class KeyFooter(Footer):
    """Textual (pinned 8.2.8) recomposes its Footer, every key a widget styled anew, after each
    `refresh_bindings`, however many come before the next refresh: at start-up five times before the
    input had the focus (the focus, the screen stack, the edit history, the model's load). Here they
    share one recompose, which reads the bindings as they are by then."""

    _recompose_waiting = False

    def bindings_changed(self, screen: Screen) -> None:
        # Footer.bindings_changed, but scheduling no second recompose while one waits.
        self._bindings_ready = True
        if self._recompose_waiting or not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self._recompose_waiting = self.call_after_refresh(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._recompose_waiting = False
        await self.recompose()
