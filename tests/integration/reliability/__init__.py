"""The bad-input corpus: what a user sees for each bad input, and that nothing collected is lost (issue 11)."""
