"""YAML to plain Python values, remembering the line of every key and item.

PyYAML's ordinary loaders forget where things were; people fixing a file need the line.
Composing the node graph first keeps every node's mark, so each path such as
``("assets", 3, "memory_gb")`` maps to a line. Duplicate keys, which PyYAML silently lets
the last one win, are reported instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from patchwarden.errors import Problem

__all__ = ["LocatedDocument", "Path", "dotted_path", "load_located"]

Path = tuple[str | int, ...]

Loader = yaml.SafeLoader | yaml.CSafeLoader

_DEFAULT_LOADER: type[Loader] = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
"""libyaml's safe loader where PyYAML was built with it (several times faster on a fleet's
inventory, with the same marks), else the pure-Python one."""


@dataclass
class LocatedDocument:
    """A parsed YAML document and the 1-based line of each path in it."""

    file: str
    value: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, path: Path) -> int:
        """Line of the deepest known prefix of ``path`` (a missing key points at its parent)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


def load_located(file: str, text: str, loader_class: type[Loader] | None = None) -> LocatedDocument:
    r"""Parse one YAML document, keeping lines; syntax errors become problems.

    Example:
        >>> doc = load_located("x.yaml", "a:\n  b: 1\n")
        >>> doc.value, doc.line_of(("a", "b"))
        ({'a': {'b': 1}}, 2)
    """
    if loader_class is None:
        doc = _load(file, text, _DEFAULT_LOADER)
        if doc.problems and _DEFAULT_LOADER is not yaml.SafeLoader:
            # libyaml words its errors its own way: people get the messages PyYAML writes.
            return _load(file, text, yaml.SafeLoader)
        return doc
    return _load(file, text, loader_class)


def _load(file: str, text: str, loader_class: type[Loader]) -> LocatedDocument:
    doc = LocatedDocument(file=file, value=None)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            doc.value = _build(loader, node, (), doc)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 0
        message = error.problem or str(error)
        doc.problems.append(
            Problem(
                file, line, "", f"YAML syntax error: {message}", "check indentation and quoting"
            )
        )
    except yaml.YAMLError as error:
        doc.problems.append(Problem(file, 0, "", f"YAML error: {error}", ""))
    finally:
        loader.dispose()
    return doc


def _build(loader: Loader, node: yaml.Node, path: Path, doc: LocatedDocument) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<) as the safe loader would
        merged = len(node.value) - own  # flattening puts merged pairs first
        result: dict[Any, Any] = {}
        from_merge: set[Any] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                key = str(key)
            child = (*path, key)
            if index < merged:
                if key in result:
                    continue  # the first merged mapping wins, as in YAML
                from_merge.add(key)
            elif key in from_merge:
                from_merge.discard(key)  # an explicit key overrides a merged one
            elif key in result:
                first = doc.lines.get(child, 0)
                doc.problems.append(
                    Problem(
                        doc.file,
                        key_node.start_mark.line + 1,
                        dotted_path(child),
                        f"duplicate key (first at line {first})",
                        "keep one of them",
                    )
                )
                continue
            doc.lines[child] = key_node.start_mark.line + 1
            result[key] = _build(loader, value_node, child, doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), doc) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def dotted_path(path: Path) -> str:
    """Render a path the way people write it: ``assets[3].memory_gb``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
