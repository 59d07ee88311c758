"""OSV records (https://ossf.github.io/osv-schema/) into :class:`Advisory` values.

Everything a record says that matching or prioritising needs is kept: ECOSYSTEM, SEMVER and
GIT ranges with ``introduced``/``fixed``/``last_affected``/``limit`` events, ``versions``
lists, ``withdrawn``, ``aliases``, ``related``, ``upstream``, and the free-form
``database_specific``/``ecosystem_specific`` blocks. Severity comes from the record's CVSS
vectors scored by the ``cvss`` library; where a record has none, from the severity word that
distributions and GHSA write (``Ubuntu`` severity entries, ``database_specific.severity``,
``ubuntu_priority``, ...).

Range event versions are checked against their ecosystem's rules here, at import, so that a
version no tool could order is reported against its record and field instead of failing an
assessment later. Ecosystems patchwarden cannot order (Maven, RubyGems, ...) are kept as
they are; matching then relies on their ``versions`` lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, get_args

from patchwarden.domain.advisories import Advisory, Affected, Range, RangeEvent, Severity
from patchwarden.errors import InputError, InvalidVersion, UnknownEcosystem
from patchwarden.feeds.severity import CVSSError, score_cvss, severity_word
from patchwarden.versions import ecosystem_for, parser_for

__all__ = ["InvalidRecord", "parse_osv", "score_cvss"]

_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_RANGE_TYPES = ("ECOSYSTEM", "SEMVER", "GIT")
# When a record carries several CVSS versions, the newest one decides.
_CVSS_ORDER = {"CVSS_V4": 0, "CVSS_V3": 1, "CVSS_V2": 2}
_CLASSIFICATIONS: tuple[str, ...] = get_args(Advisory.model_fields["classification"].annotation)
# Keys under which distributions put a severity word in their *_specific blocks.
_WORD_KEYS = ("severity", "urgency", "ubuntu_priority", "priority")


class InvalidRecord(InputError):
    """An OSV record that cannot be used; the message says which record, field and why."""


class _Bad(Exception):
    """A problem at a field path; turned into :class:`InvalidRecord` with the record id."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)


def parse_osv(record: Mapping[str, Any]) -> Advisory:
    """Turn one OSV JSON object into an advisory.

    Raises:
        InvalidRecord: the record breaks the OSV schema in a way that matters; the message
            names the record id and the field (``affected[2].ranges[0].events[1]``).

    Example:
        >>> a = parse_osv({"id": "X-1", "modified": "2024-01-01T00:00:00Z", "affected": [
        ...     {"package": {"ecosystem": "PyPI", "name": "demo"},
        ...      "ranges": [{"type": "ECOSYSTEM",
        ...                  "events": [{"introduced": "0"}, {"fixed": "1.2"}]}]}]})
        >>> a.affected[0].ranges[0].events[1].fixed
        '1.2'
    """
    if not isinstance(record, Mapping):
        raise InvalidRecord(f"OSV record is a JSON {type(record).__name__}, not an object")
    ident = record.get("id")
    if not isinstance(ident, str) or not ident.strip():
        raise InvalidRecord("OSV record without an 'id'")
    try:
        return _parse(record, ident)
    except _Bad as error:
        raise InvalidRecord(f"OSV record {ident}: {error}") from error


def _parse(record: Mapping[str, Any], ident: str) -> Advisory:
    raw_affected = _list(record, "affected", "")
    affected = tuple(_affected(raw, f"affected[{i}]") for i, raw in enumerate(raw_affected))
    vector, score, severity = _severity(record, raw_affected)
    specific = _dict(record, "database_specific", "")
    classification = specific.get("classification", "security")
    details = record.get("details")
    summary = record.get("summary") or (details[:200] if isinstance(details, str) else "")
    return Advisory(
        id=ident,
        aliases=_strings(record, "aliases", ""),
        related=_strings(record, "related", ""),
        upstream=_strings(record, "upstream", ""),
        summary=str(summary),
        published=_time(record, "published"),
        modified=_required_time(record, "modified"),
        withdrawn=_time(record, "withdrawn"),
        severity=severity,
        cvss_vector=vector,
        cvss_score=score,
        classification=classification if classification in _CLASSIFICATIONS else "security",
        reboot_required=specific.get("reboot_required") is True,
        affected=affected,
        database_specific=specific,
    )


# -- fields ------------------------------------------------------------------------------


def _list(raw: Mapping[str, Any], key: str, path: str) -> Sequence[Any]:
    value = raw.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Bad(_join(path, key), f"must be a list, not {type(value).__name__}")
    return value


def _strings(raw: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    values = _list(raw, key, path)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise _Bad(f"{_join(path, key)}[{i}]", f"must be a string, not {value!r}")
    return tuple(values)


def _dict(raw: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(_join(path, key), f"must be an object, not {type(value).__name__}")
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _time(raw: Mapping[str, Any], key: str) -> datetime | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Bad(key, f"must be an RFC 3339 time string, not {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(key, f"not an RFC 3339 time: {value!r}") from None
    # OSV times are UTC; a record that forgets the zone still means UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _required_time(raw: Mapping[str, Any], key: str) -> datetime:
    value = _time(raw, key)
    if value is None:
        raise _Bad(key, "missing (every OSV record has one)")
    return value


# -- affected ----------------------------------------------------------------------------


def _affected(raw: Any, path: str) -> Affected:
    if not isinstance(raw, dict):
        raise _Bad(path, "must be an object")
    package = _dict(raw, "package", path)
    ecosystem = package.get("ecosystem", "")
    name = package.get("name", "")
    if not isinstance(ecosystem, str) or not isinstance(name, str):
        raise _Bad(f"{path}.package", "ecosystem and name must be strings")
    ranges_raw = _list(raw, "ranges", path)
    if package and (not ecosystem or not name):
        raise _Bad(f"{path}.package", "needs both 'ecosystem' and 'name'")
    if not package and any(isinstance(r, dict) and r.get("type") != "GIT" for r in ranges_raw):
        raise _Bad(path, "has no 'package', which only GIT ranges may omit")
    scheme = _scheme(ecosystem)
    ranges = tuple(
        _range(r, f"{path}.ranges[{i}]", ecosystem, scheme) for i, r in enumerate(ranges_raw)
    )
    purl = package.get("purl", "")
    return Affected(
        ecosystem=ecosystem,
        package=name,
        ranges=ranges,
        versions=_strings(raw, "versions", path),
        purl=purl if isinstance(purl, str) else "",
        ecosystem_specific=_dict(raw, "ecosystem_specific", path),
        database_specific=_dict(raw, "database_specific", path),
    )


def _scheme(ecosystem: str) -> str:
    """The ordering of an ecosystem, or ``""`` when patchwarden has none (Maven, ...)."""
    if not ecosystem:
        return ""
    try:
        return ecosystem_for(ecosystem)
    except UnknownEcosystem:
        return ""


def _range(raw: Any, path: str, ecosystem: str, scheme: str) -> Range:
    if not isinstance(raw, dict):
        raise _Bad(path, "must be an object")
    kind = raw.get("type")
    if kind not in _RANGE_TYPES:
        raise _Bad(f"{path}.type", f"must be one of {', '.join(_RANGE_TYPES)}, not {kind!r}")
    repo = raw.get("repo", "")
    if kind == "GIT" and (not isinstance(repo, str) or not repo):
        raise _Bad(f"{path}.repo", "a GIT range needs the repository URL")
    raw_events = _list(raw, "events", path)
    if not raw_events:
        raise _Bad(f"{path}.events", "a range needs at least one event")
    events = tuple(_event(e, f"{path}.events[{i}]") for i, e in enumerate(raw_events))
    if not any(e.introduced is not None for e in events):
        raise _Bad(f"{path}.events", "a range needs an 'introduced' event")
    # SEMVER ranges are SemVer whatever the ecosystem; GIT events are commit hashes.
    check = "semver" if kind == "SEMVER" else scheme if kind == "ECOSYSTEM" else ""
    if check:
        parse = parser_for(check)
        for i, event in enumerate(events):
            for value in (event.introduced, event.fixed, event.last_affected, event.limit):
                # "0" (introduced) means "from the start", "*" (limit) means "no limit".
                if value is None or value in ("0", "*"):
                    continue
                try:
                    parse(value)
                except InvalidVersion as error:
                    where = f"{path}.events[{i}]"
                    raise _Bad(where, f"not a valid {ecosystem} version: {error}") from None
    return Range(type=kind, events=events, repo=repo if isinstance(repo, str) else "")


def _event(raw: Any, path: str) -> RangeEvent:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise _Bad(path, f"must be an object with exactly one of {', '.join(_EVENT_KINDS)}")
    ((kind, value),) = raw.items()
    if kind not in _EVENT_KINDS:
        raise _Bad(path, f"unknown event {kind!r}; expected one of {', '.join(_EVENT_KINDS)}")
    if not isinstance(value, str) or not value:
        raise _Bad(f"{path}.{kind}", f"must be a non-empty string, not {value!r}")
    return RangeEvent(**{kind: value})


# -- severity ----------------------------------------------------------------------------


def _severity(
    record: Mapping[str, Any], affected: Sequence[Any]
) -> tuple[str, float | None, Severity]:
    """(vector, score, severity): the best CVSS vector, else the first severity word."""
    blocks: list[tuple[str, Sequence[Any]]] = [("severity", _list(record, "severity", ""))]
    for i, raw in enumerate(affected):
        if isinstance(raw, dict):
            path = f"affected[{i}]"
            blocks.append((f"{path}.severity", _list(raw, "severity", path)))
    vectors: list[tuple[int, str, str]] = []
    words: list[object] = []
    for path, entries in blocks:
        for j, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("score"), str):
                raise _Bad(f"{path}[{j}]", "must be an object with 'type' and 'score' strings")
            kind = entry.get("type")
            if kind in _CVSS_ORDER:
                vectors.append((_CVSS_ORDER[kind], f"{path}[{j}]", entry["score"]))
            else:
                words.append(entry["score"])  # e.g. {"type": "Ubuntu", "score": "medium"}
    if vectors:
        _, where, vector = min(vectors, key=lambda v: v[0])
        try:
            score, severity = score_cvss(vector)
        except CVSSError as error:
            raise _Bad(where, f"invalid CVSS vector {vector!r}: {error}") from None
        return vector, score, severity
    words.append(_dict(record, "database_specific", "").get("severity"))
    for raw in affected:
        if isinstance(raw, dict):
            for key in ("database_specific", "ecosystem_specific"):
                block = raw.get(key)
                if isinstance(block, dict):
                    words.extend(block.get(k) for k in _WORD_KEYS)
    for word in words:
        found = severity_word(word)
        if found is not None:
            return "", None, found
    return "", None, Severity.MEDIUM
