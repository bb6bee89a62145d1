"""SQLite conversations: no Textual here."""

from opencoder_local.store.conversations import (
    DONE,
    STOPPED,
    STREAMING,
    Conversation,
    Store,
    StoreError,
    StoredMessage,
)

__all__ = ["DONE", "STOPPED", "STREAMING", "Conversation", "Store", "StoreError", "StoredMessage"]
