"""The collaboration service: co-editing workflow drafts over Yjs (see docs/collaboration.md)."""
