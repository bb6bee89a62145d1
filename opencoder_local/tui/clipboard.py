"""Copy text so that it lands on the user's clipboard, locally, over SSH and inside tmux."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from textual.app import App


def _platform_commands() -> list[list[str]]:
    """Local clipboard tools that can work in this session (none over a bare SSH login)."""
    commands = []
    if os.environ.get("TMUX") and shutil.which("tmux"):
        commands.append(["tmux", "load-buffer", "-w", "-"])  # tmux's paste buffer, and on to the terminal
    if sys.platform == "darwin" and shutil.which("pbcopy"):
        commands.append(["pbcopy"])
    elif os.environ.get("WAYLAND_DISPLAY") and shutil.which("wl-copy"):
        commands.append(["wl-copy"])
    elif os.environ.get("DISPLAY"):
        if shutil.which("xclip"):
            commands.append(["xclip", "-selection", "clipboard"])
        elif shutil.which("xsel"):
            commands.append(["xsel", "--clipboard", "--input"])
    return commands


def copy_text(app: App, text: str) -> list[str]:
    """OSC 52 through the terminal (works over SSH), plus every local tool present; returns what was used."""
    app.copy_to_clipboard(text)
    used = ["OSC 52"]
    for command in _platform_commands():
        try:
            subprocess.run(command, input=text.encode("utf-8"), timeout=3, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            continue
        used.append(command[0])
    return used
