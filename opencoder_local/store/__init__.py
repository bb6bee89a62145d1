"""SQLite conversations: no Textual here."""

from opencoder_local.store.conversations import (
    AppliedEdit,
    AppliedFile,
    CUT_SHORT,
    DONE,
    STOPPED,
    STREAMING,
    Conversation,
    Store,
    StoreError,
    StoredMessage,
)

__all__ = ["AppliedEdit", "AppliedFile", "CUT_SHORT", "DONE", "STOPPED", "STREAMING", "Conversation", "Store", "StoreError", "StoredMessage"]
