"""SizedByLayout: a widget whose size only layout sets asks for no second layout pass."""

from __future__ import annotations

from textual.geometry import Size
from textual.reactive import Reactive


class SizedByLayout:
    """Mixin for widgets whose size only layout sets: a new size asks for no second layout pass.

    Textual (pinned 8.2.8) declares Widget.virtual_size with layout=True, so each widget that grew in a
    layout pass asked for another pass right after it, which found nothing to move but repainted the
    whole log: once a frame while an answer streams, about 12% of the frame's CPU. Only for widgets
    that never set their own virtual size (a ScrollView such as TextArea does, and needs the flag)."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False, repaint=False)
