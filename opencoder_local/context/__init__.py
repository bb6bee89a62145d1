"""Conversation + attached files -> the messages sent, within the window. No Textual here."""
