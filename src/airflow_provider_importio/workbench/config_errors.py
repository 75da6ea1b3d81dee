"""``ConfigError``: every problem found in one project file, each with its path inside the file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def format_path(parts: Iterable[str | int]) -> str:
    """``("flows", 1, "definition", "chunks")`` → ``flows[1].definition.chunks``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class ConfigError(ValueError):
    """A project file is invalid.

    ``errors`` lists ``(path, message)`` pairs — ``path`` like ``flows[1].definition.chunks`` (``""`` for the
    file as a whole) — in file order; ``lines`` maps a path to its 1-based line where known.
    """

    def __init__(
        self,
        file: str,
        errors: Sequence[tuple[str, str]],
        lines: Mapping[str, int] | None = None,
    ) -> None:
        self.file = file
        self.errors = list(errors)
        self.lines = dict(lines or {})
        super().__init__(self._message())

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, or of its nearest enclosing path with a known line."""
        probe = path
        while True:
            if probe in self.lines:
                return self.lines[probe]
            if not probe:
                return None
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""

    def _message(self) -> str:
        count = len(self.errors)
        lines = [f"{self.file}: {count} configuration error{'s' if count != 1 else ''}"]
        for path, message in self.errors:
            line = self.line_of(path)
            where = path or "(file)"
            if line is not None:
                where += f" (line {line})"
            lines.append(f"  - {where}: {message}")
        return "\n".join(lines)
