"""What the chat screen's keys, palette entries and slash commands do, one object per job.

Each flow holds the chat screen it works for and is typed against it; the screen's actions are
one line each that hand over to a flow, so the screen reads as its layout, its model and its turns."""
