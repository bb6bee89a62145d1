"""What the chat screen's keys, palette entries and slash commands do, one object per job.

Each flow sees the screen only as a ChatHost (flows/host.py) and is handed the other flows it asks
for things; none imports the screen, and none writes another's state. The screen's actions are one
line each that hand over to a flow, so the screen reads as its layout, its model and its turns."""
