"""Users (for global admins) and workspace members (for workspace admins)."""
