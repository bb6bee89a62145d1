"""The footer of keys: Textual's, recomposed only when the keys it shows have changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Hashable

from textual.app import ComposeResult
from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.screen import Screen


class KeyFooter(Footer):
    """Textual (pinned 8.2.8) recomposes its Footer, every key a widget styled anew, after each
    `refresh_bindings`, however many come before the next refresh and whether or not a key changed:
    at start-up five times before the input had the focus (the focus, the screen stack, the edit
    history, the model's load), and twice a turn as the phase changes. Here the changes before a
    refresh share one look at the bindings, and the keys are composed again only if they differ."""

    _recompose_waiting = False
    _composed: Hashable = None  # what the keys were composed from (None: nothing yet)

    def compose(self) -> ComposeResult:
        self._composed = self._shown() if self._bindings_ready else None
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        # Footer.bindings_changed, but scheduling no second look while one waits.
        self._bindings_ready = True
        if self._recompose_waiting or not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self._recompose_waiting = self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        self._recompose_waiting = False
        if self.is_attached and self._shown() != self._composed:  # (its screen may have closed meanwhile)
            await self.recompose()

    def _shown(self) -> Hashable:
        """What Footer.compose reads: the screen's bindings, each enabled or not, with its tooltip."""
        bindings = tuple((binding, enabled, tooltip) for _node, binding, enabled, tooltip
                         in self.screen.active_bindings.values())
        return self.show_command_palette, bindings
