"""Inventory files in, a validated :class:`Inventory` out, or every problem at once.

Several files merge into one inventory. Each asset is validated on its own so one bad
asset does not hide the others; then references across files are checked: duplicate ids,
dangling references (a VM on a hypervisor that does not exist), references to the wrong
kind, and cycles in ``patch_after``. Problems name file, line and field, with a hint.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, get_args

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from patchwarden.domain.assets import Asset, AssetBase, Kind
from patchwarden.domain.channels import Channel
from patchwarden.domain.inventory import DEFAULT_ENVIRONMENTS, Inventory
from patchwarden.errors import InputError, Problem, ValidationFailed
from patchwarden.inventory.drivers import DriverCatalog, check_drivers
from patchwarden.inventory.problems import did_you_mean, explain, unknown_field
from patchwarden.inventory.references import check_references
from patchwarden.inventory.yamlmap import LocatedDocument, Path, dotted_path, load_located

__all__ = ["LoadedInventory", "parse_inventory", "read_inventory"]

_ASSET = TypeAdapter(Asset)
_TOP_KEYS = ("environments", "assets")
_KIND_MODELS: dict[str, type[AssetBase]] = {}


@dataclass(frozen=True)
class LoadedInventory:
    """An inventory and where each asset was defined (file, line)."""

    inventory: Inventory
    sources: dict[str, tuple[str, int]] = field(default_factory=dict)

    def source_of(self, asset_id: str) -> str:
        """``file:line`` of an asset's definition."""
        file, line = self.sources.get(asset_id, ("?", 0))
        return f"{file}:{line}"


def read_inventory(
    paths: Sequence[FilePath | str], drivers: DriverCatalog | None = None
) -> LoadedInventory:
    """Read and validate inventory files; raises :class:`ValidationFailed` on any problem.

    Args:
        paths: The inventory files, merged into one inventory.
        drivers: The registered drivers, to check each ``driver`` and ``driver_config``
            against; without them only their shape is checked.
    """
    if not paths:
        raise InputError("no inventory file given (pass one or more YAML files)")
    sources: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            sources.append((str(path), FilePath(path).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            problems.append(Problem(str(path), 0, "", f"cannot read: {reason}", "check the path"))
    if problems:
        raise ValidationFailed(problems)
    return parse_inventory(sources, drivers)


def parse_inventory(
    sources: Iterable[tuple[str, str]], drivers: DriverCatalog | None = None
) -> LoadedInventory:
    r"""Validate inventory texts given as ``(file name, text)`` pairs (``drivers`` as above).

    Example:
        >>> loaded = parse_inventory([("a.yaml", "assets:\n- {id: h1, kind: image, env: dev}\n")])
        >>> loaded.inventory.get("h1").kind, loaded.source_of("h1")
        ('image', 'a.yaml:2')
    """
    problems: list[Problem] = []
    environments: tuple[str, ...] | None = None
    env_origin = ""
    assets: list[AssetBase] = []
    origin: dict[str, tuple[LocatedDocument, Path]] = {}

    for file, text in sources:
        doc = load_located(file, text)
        problems.extend(doc.problems)
        if doc.problems:
            continue
        top = doc.value if doc.value is not None else {}
        if not isinstance(top, dict):
            problems.append(
                Problem(file, 1, "", "an inventory file is a mapping", "start with `assets:`")
            )
            continue
        for key in top:
            if key not in _TOP_KEYS:
                problems.append(unknown_field(doc, (key,), _TOP_KEYS))
        if "environments" in top:
            envs = _environments(doc, top["environments"], problems)
            if envs is not None and environments is not None and envs != environments:
                problems.append(
                    Problem(
                        file,
                        doc.line_of(("environments",)),
                        "environments",
                        f"differs from {env_origin}: {', '.join(environments)}",
                        "declare the environment order once, or identically in every file",
                    )
                )
            elif envs is not None and environments is None:
                environments, env_origin = envs, f"{file}:{doc.line_of(('environments',))}"
        raw_assets = top.get("assets", [])
        if raw_assets is None:
            raw_assets = []
        if not isinstance(raw_assets, list):
            problems.append(
                Problem(
                    file, doc.line_of(("assets",)), "assets", "must be a list", "use `- id: ...`"
                )
            )
            continue
        for index, raw in enumerate(raw_assets):
            path: Path = ("assets", index)
            try:
                asset: AssetBase = _ASSET.validate_python(raw)
            except ValidationError as error:
                problems.extend(_explain(doc, path, raw, e) for e in error.errors())
                continue
            if asset.id in origin:
                first_doc, first_path = origin[asset.id]
                problems.append(
                    Problem(
                        file,
                        doc.line_of((*path, "id")),
                        f"{dotted_path(path)}.id",
                        f"duplicate id {asset.id!r} (first defined at "
                        f"{first_doc.file}:{first_doc.line_of(first_path)})",
                        "ids are unique across all inventory files; rename one",
                    )
                )
                continue
            origin[asset.id] = (doc, path)
            assets.append(asset)

    envs = environments or DEFAULT_ENVIRONMENTS
    for asset in assets:
        doc, path = origin[asset.id]
        if asset.env not in envs:
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of((*path, "env")),
                    f"{dotted_path(path)}.env",
                    f"unknown environment {asset.env!r}",
                    f"use one of {', '.join(envs)}, or list it under `environments:`",
                )
            )
    problems.extend(check_references(assets, origin))
    if drivers is not None:
        problems.extend(check_drivers(assets, origin, drivers))
    if problems:
        raise ValidationFailed(problems)
    inventory = Inventory(environments=envs, assets=tuple(assets))
    sources_out = {
        a.id: (origin[a.id][0].file, origin[a.id][0].line_of(origin[a.id][1])) for a in assets
    }
    return LoadedInventory(inventory=inventory, sources=sources_out)


def _environments(
    doc: LocatedDocument, raw: Any, problems: list[Problem]
) -> tuple[str, ...] | None:
    line = doc.line_of(("environments",))
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) and e for e in raw):
        problems.append(
            Problem(
                doc.file,
                line,
                "environments",
                "must be a non-empty list of names",
                "for example `environments: [dev, qa, staging, prod]`",
            )
        )
        return None
    if len(set(raw)) != len(raw):
        problems.append(
            Problem(doc.file, line, "environments", "lists a name twice", "list each once")
        )
        return None
    return tuple(raw)


def _model_for(kind: str) -> type[AssetBase] | None:
    if not _KIND_MODELS:
        from typing import get_args  # noqa: PLC0415 - computed once, on the error path

        union = get_args(Asset)[0]
        for model in get_args(union):
            _KIND_MODELS[model.model_fields["kind"].annotation.__args__[0]] = model
    return _KIND_MODELS.get(kind)


def _without_tags(raw: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` without the tags nested discriminated unions put in it (``channel.pypi.index``).

    A part is a tag when the value it would index is a mapping whose ``type`` it equals
    and that has no key of that name.
    """
    out: list[Any] = []
    value = raw
    for part in loc:
        if isinstance(value, dict) and part not in value and value.get("type") == part:
            continue
        out.append(part)
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            value = None
    return tuple(out)


def _channel_fields(channel: Any) -> list[str]:
    """The fields of the channel model its ``type`` names (a union's first model's otherwise)."""
    models = get_args(get_args(Channel)[0])
    tag = channel.get("type") if isinstance(channel, dict) else None
    for model in models:
        if model.model_fields["type"].annotation.__args__[0] == tag:
            return sorted(model.model_fields)
    return sorted(models[0].model_fields)


def _nested_tag(doc: LocatedDocument, path: Path, error: ErrorDetails) -> Problem:
    """A nested discriminated union (an application's ``channel``) without a known tag."""
    ctx = error.get("ctx") or {}
    tag_name = str(ctx.get("discriminator", "type")).strip("'")
    expected = str(ctx.get("expected_tags", "")).replace("'", "")
    where = (*path, tag_name)
    if error["type"] == "union_tag_not_found":
        message = f"missing field {tag_name!r}"
        hint = f"add `{tag_name}:` (one of {expected})"
    else:
        tag = str(ctx.get("tag", ""))
        message = f"unknown {tag_name} {tag!r}"
        hint = did_you_mean(tag, expected.split(", "), f"use one of {expected}")
    return Problem(doc.file, doc.line_of(where), dotted_path(where), message, hint)


def _explain(doc: LocatedDocument, base: Path, raw: Any, error: ErrorDetails) -> Problem:
    """Turn one pydantic error into a located problem with a hint for a person."""
    kind = raw.get("kind") if isinstance(raw, dict) else None
    loc = tuple(error["loc"])
    # A discriminated union puts the tag first in the location: drop it.
    if loc and isinstance(kind, str) and loc[0] == kind:
        loc = loc[1:]
    loc = _without_tags(raw, loc)
    if loc and error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return _nested_tag(doc, (*base, *loc), error)
    path: Path = (*base, *loc)
    if error["type"] == "extra_forbidden" and loc[:1] == ("channel",) and len(loc) == 2:
        return unknown_field(doc, path, _channel_fields(raw.get("channel")))
    line = doc.line_of(path)
    field_name = dotted_path(path)
    kind_type = error["type"]
    kinds = ", ".join(k.value for k in Kind)
    if kind_type == "union_tag_not_found":
        return Problem(
            doc.file,
            line,
            f"{field_name}.kind",
            "missing field 'kind'",
            f"add `kind:` (one of {kinds})",
        )
    if kind_type == "union_tag_invalid":
        hint = did_you_mean(str(kind), [k.value for k in Kind], f"use one of {kinds}")
        return Problem(
            doc.file,
            doc.line_of((*base, "kind")),
            f"{field_name}.kind",
            f"unknown kind {kind!r}",
            hint,
        )
    if kind_type == "model_type" and not loc:
        return Problem(
            doc.file,
            line,
            field_name,
            "an asset is a mapping of fields",
            "write `- id: ..., kind: ..., env: ...`",
        )
    return explain(doc, path, error, _model_for(str(kind)) or AssetBase, _HINTS)


_HINTS = {
    "int_parsing": "write a whole number, e.g. 64",
    "int_type": "write a whole number, e.g. 64",
    "float_parsing": "write a number, e.g. 2.5",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "quote the value to make it text",
    "string_pattern_mismatch": "ids use lowercase letters, digits, '.', '_' and '-', "
    "starting with a letter or digit",
    "tuple_type": "write a list, e.g. [a, b]",
    "list_type": "write a list, e.g. [a, b]",
    "too_short": "add at least one item",
    "greater_than_equal": "use a larger value",
    "less_than_equal": "use a smaller value",
}
