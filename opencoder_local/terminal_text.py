"""Text from outside (a model, a file, a server, a child process) made safe to show on a terminal.

A terminal obeys control characters: `ESC ]0;title BEL` renames the window, `ESC ]52;c;...` writes
the clipboard, `ESC [2J` clears the screen, and the 8-bit CSI/OSC (U+009B, U+009D) do the same on
some terminals. `printable` shows each such character as a visible escape (`\\x1b`) instead. It works
character by character, so it is as safe on a stream's fragments (an escape sequence split across
two of them) as on the whole text.

Kept: newline and tab. Removed: carriage return, so a Windows line end shows as a plain one and a
lone CR cannot move the cursor back to write over what is already on the line. Everything else in
C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F) is escaped.

Only what is shown goes through here: what is stored or sent to the model is never changed.
"""

from __future__ import annotations

import re

_KEPT = {"\n", "\t"}
_REMOVED = {"\r"}
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]

_TABLE: dict[int, str | None] = {
    code: (None if chr(code) in _REMOVED else f"\\x{code:02x}")
    for code in _CONTROLS if chr(code) not in _KEPT
}


def printable(text: str) -> str:
    """`text` with every control character but newline and tab escaped (`\\x1b`), and CR removed."""
    return text.translate(_TABLE)


def printable_lines(text: str) -> str:
    """As `printable`, but a line that ends in CRLF keeps it (a diff of a file with Windows line ends)."""
    return "".join(printable(line[:-2]) + "\r\n" if line.endswith("\r\n") else printable(line)
                   for line in text.splitlines(keepends=True))


# Colour and cursor codes a program writes (CSI, OSC, the 8-bit CSI, two-character escapes).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]")
# Text a lone carriage return goes back over. Anchored at a line's start: unanchored, a long line
# without one is scanned again from each of its characters (100 KB of one line took 10 s).
_OVERWRITTEN = re.compile(r"^[^\n]*\r(?=[^\r\n])", re.MULTILINE)


def program_output(text: str) -> str:
    """A program's output as its terminal would leave it to read: colour and cursor codes removed, a
    line a carriage return went back over (a progress bar) kept as last written, the rest `printable`."""
    return printable(_OVERWRITTEN.sub("", _ANSI.sub("", text)))
