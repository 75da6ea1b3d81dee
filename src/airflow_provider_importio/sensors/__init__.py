"""Sensors of the Import.io provider."""
