"""SQLite conversations: no Textual here."""

from opencoder_local.store.conversations import (
    CUT_SHORT,
    DONE,
    STOPPED,
    STREAMING,
    Conversation,
    Store,
    StoreError,
    StoredMessage,
)

__all__ = ["CUT_SHORT", "DONE", "STOPPED", "STREAMING", "Conversation", "Store", "StoreError", "StoredMessage"]
