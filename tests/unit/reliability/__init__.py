"""The bad-input corpus: what a user sees for each bad project file (issue 11)."""
