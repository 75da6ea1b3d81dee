"""Operators of the Import.io provider."""
