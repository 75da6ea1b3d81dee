"""Reading a project file's YAML safely, with the line of every path and without silent duplicate keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from airflow_provider_importio.workbench.config_errors import format_path

#: A file larger than this is refused (a project file is a few kilobytes).
MAX_FILE_BYTES = 2 << 20
#: Nodes visited with aliases expanded; beyond this the file is refused ("billion laughs").
MAX_NODES = 200_000
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"


class YamlProblem(Exception):
    """The text is not a usable YAML document; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class ParsedYaml:
    """The document, the line of each path, and structural problems found while reading it."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)


def parse_yaml(text: str) -> ParsedYaml:
    """Parse one YAML document with the safe loader; raises :class:`YamlProblem`."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise YamlProblem(f"file is larger than {MAX_FILE_BYTES} bytes")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise YamlProblem("file is empty; it must hold a mapping with a 'project' key")
        parsed = ParsedYaml(data=None)
        _walk(node, [], parsed, [0])
        parsed.data = loader.construct_document(node)
        return parsed
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        context = exc.context
        if context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
            context += f" started on line {exc.context_mark.line + 1}"
        detail = "; ".join(p for p in (context, exc.problem) if p)
        raise YamlProblem(f"YAML syntax error: {detail or exc}", line) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML error: {exc}") from None
    finally:
        loader.dispose()


def _walk(node: yaml.Node, path: list[str | int], parsed: ParsedYaml, budget: list[int]) -> None:
    budget[0] += 1
    if budget[0] > MAX_NODES:
        raise YamlProblem(f"file expands to more than {MAX_NODES} nodes (aliases?)")
    key = format_path(path)
    parsed.lines.setdefault(key, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                child = format_path([*path, str(getattr(key_node, "value", "?"))])
                parsed.lines.setdefault(child, key_node.start_mark.line + 1)
                parsed.problems.append((child, "keys must be plain strings"))
                continue
            name = key_node.value
            child_path = [*path, name]
            if name in seen:
                again = key_node.start_mark.line + 1
                parsed.problems.append(
                    (format_path(child_path), f"duplicate key {name!r} on line {again} (first on line {seen[name]})")
                )
                continue
            seen[name] = key_node.start_mark.line + 1
            parsed.lines.setdefault(format_path(child_path), key_node.start_mark.line + 1)
            _walk(value_node, child_path, parsed, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, [*path, index], parsed, budget)
