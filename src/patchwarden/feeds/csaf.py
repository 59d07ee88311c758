"""CSAF 2.0 vendor advisories (and CSAF VEX) into :class:`Advisory` values.

Vendors publish advisories for appliances and firmware in CSAF, where no package feed
exists. One document becomes one advisory (id = ``document.tracking.id``, aliases = its
CVEs); what it says about each product is kept as :class:`CsafStatement` rows in
``database_specific["csaf"]``, one per (product, vulnerability), for
:mod:`patchwarden.assess.firmware` to match against appliances and storage parts.

Rules:

- Product ids are per document: each is resolved through ``product_tree``: its branches
  (``vendor`` → ``product_family``/``product_name`` → ``product_version`` or
  ``product_version_range``, refined by ``service_pack``/``patch_level``), its
  ``full_product_names`` (vendor, product and version read from a CPE where given), its
  ``relationships`` (the component installed on a platform: matched as the component) and
  its ``product_groups`` (a group id stands for its products).
- A version range is kept in vers syntax (``vers:generic/>=2.9|<=4.1``); a bare constraint
  list (``<=1.14.0``) is read as a ``vers:generic`` one. Anything else is kept as text and
  matched by nobody, with a warning.
- Status is per vulnerability: a product fixed for one CVE may still be affected by another.
- A ``vendor_fix`` remediation of an affected product names its fix by the products of the
  same vendor and product the vulnerability lists as ``recommended``, ``fixed`` or
  ``first_fixed``, and by the versions of that product from the tree its text names
  ("Update to version 4.2 or later"). :attr:`CsafStatement.fixes` holds them in version order.
- ``known_not_affected`` keeps its justification: the flag label
  (``component_not_present``, ...) and the vendor's impact statement.
- ``document.tracking.version`` is the revision; a newer one replaces the older (the import
  compares them with :func:`revision_key`).

A document that breaks these rules raises :class:`InvalidCsaf` naming the JSON path
(``/vulnerabilities/0/product_status/known_affected/3``) and how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from patchwarden.domain.advisories import Advisory, Severity
from patchwarden.domain.base import Value
from patchwarden.errors import InputError
from patchwarden.feeds.severity import CVSSError, score_cvss, severity_word
from patchwarden.versions.firmware import firmware_key

__all__ = [
    "CsafProduct",
    "CsafStatement",
    "InvalidCsaf",
    "csaf_statements",
    "is_csaf",
    "parse_csaf",
    "revision_key",
    "to_vers",
]

Status = Literal["known_affected", "known_not_affected", "fixed", "under_investigation"]

# product_status keys → the status they state (first_affected/last_affected are affected).
_STATUS: dict[str, Status] = {
    "known_affected": "known_affected",
    "first_affected": "known_affected",
    "last_affected": "known_affected",
    "known_not_affected": "known_not_affected",
    "fixed": "fixed",
    "first_fixed": "fixed",
    "under_investigation": "under_investigation",
}
_FIX_STATUSES = ("recommended", "fixed", "first_fixed")


class InvalidCsaf(InputError):
    """A CSAF document that cannot be used; the message names the file and JSON path."""


class CsafProduct(Value):
    """A product id of one document, resolved: who makes it, what it is, which versions."""

    vendor: str = ""
    product: str = ""
    version: str = ""
    """One exact version (``product_version``, ``service_pack``, a CPE's version)."""
    vers: str = ""
    """A version range in vers syntax (``product_version_range``)."""
    range_text: str = ""
    """A range that is not in vers syntax: kept to show, never matched."""
    platform: str = ""
    """For a relationship: the product it is installed on or part of."""


class CsafStatement(Value):
    """What a document says about one product for one vulnerability."""

    cve: str
    status: Status
    product: CsafProduct
    fixes: tuple[str, ...] = ()
    """Versions of the same product that fix it, in version order."""
    recommended: str = ""
    remedy: str = ""
    """The vendor's words: the ``vendor_fix`` or, without one, the workaround or mitigation."""
    justification: str = ""
    """For ``known_not_affected``: the flag label and impact statement."""
    cvss_score: float | None = None
    severity: Severity = Severity.MEDIUM


def revision_key(revision: str) -> tuple[tuple[int, int | str], ...]:
    """Order ``document.tracking.version`` values (semantic or integer versioning).

    Example:
        >>> revision_key("3.0.0") < revision_key("3.1.0"), revision_key("2") < revision_key("10")
        (True, True)
    """
    return firmware_key(revision)


_CONSTRAINT = re.compile(r"^\s*(?:[<>]=?|=|!=)?\s*[^\s|<>=!]+\s*$")


def to_vers(name: str) -> str:
    """A range name in vers syntax, or ``""`` if it cannot be read as one.

    Example:
        >>> to_vers("vers:generic/>=2.9|<=4.1"), to_vers("<=1.14.0"), to_vers("all before 2")
        ('vers:generic/>=2.9|<=4.1', 'vers:generic/<=1.14.0', '')
    """
    text = name.strip()
    if text.startswith("vers:"):
        return text
    parts = text.split("|")
    if all(_CONSTRAINT.match(p) for p in parts) and any(c in text for c in "<>="):
        return "vers:generic/" + "|".join(p.replace(" ", "") for p in parts)
    return ""


def is_csaf(data: object) -> bool:
    """Whether a parsed JSON value looks like a CSAF document."""
    return (
        isinstance(data, Mapping)
        and isinstance(data.get("document"), Mapping)
        and "csaf_version" in data["document"]
    )


class _Bad(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")


def parse_csaf(
    document: Mapping[str, Any], name: str, warnings: list[str] | None = None
) -> Advisory:
    """One CSAF 2.0 document as an advisory; statements in ``database_specific["csaf"]``.

    Args:
        document: The parsed JSON.
        name: The file or URL, for messages.
        warnings: Collects what is kept but cannot be matched (ranges not in vers syntax).

    Raises:
        InvalidCsaf: the document breaks a rule that matters; the message names ``name``,
            the JSON path and the fix.

    Example:
        >>> doc = {"document": {"category": "csaf_vex", "csaf_version": "2.0",
        ...   "title": "t", "publisher": {"name": "P", "category": "vendor",
        ...   "namespace": "https://p.example"},
        ...   "tracking": {"id": "P-1", "version": "2", "current_release_date":
        ...     "2024-01-01T00:00:00Z", "initial_release_date": "2024-01-01T00:00:00Z",
        ...     "status": "final", "revision_history": []}},
        ...  "product_tree": {"branches": [{"category": "vendor", "name": "P", "branches": [
        ...    {"category": "product_name", "name": "Box", "branches": [
        ...      {"category": "product_version", "name": "1.0",
        ...       "product": {"product_id": "A", "name": "Box 1.0"}}]}]}]},
        ...  "vulnerabilities": [{"cve": "CVE-2024-1",
        ...    "product_status": {"known_affected": ["A"]}}]}
        >>> a = parse_csaf(doc, "p-1.json")
        >>> a.id, a.aliases, a.database_specific["csaf"]["revision"]
        ('P-1', ('CVE-2024-1',), '2')
        >>> csaf_statements(a)[0].product.version
        '1.0'
    """
    try:
        return _parse(document, warnings if warnings is not None else [])
    except _Bad as error:
        raise InvalidCsaf(f"{name}: {error}") from None


def csaf_statements(advisory: Advisory) -> list[CsafStatement]:
    """The statements an advisory parsed from CSAF carries; ``[]`` for other advisories."""
    data = advisory.database_specific.get("csaf")
    if not isinstance(data, Mapping):
        return []
    try:
        return [CsafStatement.model_validate(s) for s in data.get("statements", ())]
    except ValidationError:
        return []  # a stored row of another shape: nothing to match


# -- document ---------------------------------------------------------------------------


def _get(raw: Mapping[str, Any], key: str, path: str, kind: type, required: bool = True) -> Any:
    value = raw.get(key)
    if value is None:
        if required:
            raise _Bad(f"{path}/{key}", f"missing; a CSAF 2.0 document must have {key}")
        return kind()
    if not isinstance(value, kind):
        raise _Bad(f"{path}/{key}", f"must be a {_KIND_NAMES[kind]}, not {type(value).__name__}")
    return value


_KIND_NAMES: dict[type, str] = {dict: "JSON object", list: "JSON list", str: "string"}


def _time(raw: Mapping[str, Any], key: str, path: str, required: bool) -> datetime | None:
    text = _get(raw, key, path, str, required)
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(
            f"{path}/{key}", f"{text!r} is no date-time; write e.g. 2024-01-01T00:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise _Bad(f"{path}/{key}", f"{text!r} has no time zone; add Z or +00:00")
    return value


def _parse(doc: Mapping[str, Any], warnings: list[str]) -> Advisory:
    if not isinstance(doc, Mapping):
        raise _Bad("", "a CSAF document is a JSON object")
    meta = _get(doc, "document", "", dict)
    version = _get(meta, "csaf_version", "/document", str)
    if version != "2.0":
        raise _Bad("/document/csaf_version", f"{version!r}: only CSAF 2.0 is read")
    _get(meta, "category", "/document", str)
    tracking = _get(meta, "tracking", "/document", dict)
    ident = _get(tracking, "id", "/document/tracking", str).strip()
    if not ident:
        raise _Bad("/document/tracking/id", "empty; the publisher's id of this document")
    revision = _get(tracking, "version", "/document/tracking", str)
    modified = _time(tracking, "current_release_date", "/document/tracking", True)
    published = _time(tracking, "initial_release_date", "/document/tracking", False)
    publisher = _get(meta, "publisher", "/document", dict)
    products = _products(_get(doc, "product_tree", "", dict, required=False), warnings, ident)
    groups = _groups(_get(doc, "product_tree", "", dict, required=False))
    statements: list[CsafStatement] = []
    cves: list[str] = []
    for i, vuln in enumerate(_get(doc, "vulnerabilities", "", list, required=False)):
        path = f"/vulnerabilities/{i}"
        if not isinstance(vuln, Mapping):
            raise _Bad(path, "must be a JSON object")
        found = list(_statements(vuln, path, products, groups))
        statements.extend(found)
        cve = vuln.get("cve")
        if isinstance(cve, str) and cve:
            cves.append(cve)
    affected = [s for s in statements if s.status == "known_affected"]
    scored = [s for s in affected if s.cvss_score is not None]
    top = max(scored, key=lambda s: s.cvss_score or 0.0) if scored else None
    severity = max((s.severity for s in affected), key=lambda s: s.rank, default=Severity.MEDIUM)
    return Advisory(
        id=ident,
        aliases=tuple(dict.fromkeys(c for c in cves if c != ident)),
        summary=str(meta.get("title", ""))[:200],
        published=published,
        modified=modified,
        severity=top.severity if top else severity,
        cvss_score=top.cvss_score if top else None,
        database_specific={
            "csaf": {
                "revision": revision,
                "category": meta["category"],
                "publisher": str(publisher.get("name", "")),
                "status": str(tracking.get("status", "")),
                "statements": [
                    s.model_dump(mode="json", exclude_defaults=True) for s in statements
                ],
            }
        },
    )


# -- product tree -----------------------------------------------------------------------

_VERSION_BRANCHES = {"product_version", "service_pack", "patch_level"}
_PRODUCT_BRANCHES = {"product_name", "product_family"}


def _products(tree: Mapping[str, Any], warnings: list[str], ident: str) -> dict[str, CsafProduct]:
    out: dict[str, CsafProduct] = {}

    def walk(branches: Any, path: str, at: CsafProduct, named: bool) -> None:
        if not isinstance(branches, list):
            raise _Bad(path, "must be a JSON list of branches")
        for i, branch in enumerate(branches):
            here = f"{path}/{i}"
            if not isinstance(branch, Mapping):
                raise _Bad(here, "must be a JSON object")
            category = _get(branch, "category", here, str)
            name = _get(branch, "name", here, str)
            update: dict[str, str] = {}
            if category == "vendor":
                update["vendor"] = name
            elif category == "product_name" or (category == "product_family" and not named):
                update["product"] = name
            elif category in _VERSION_BRANCHES:
                update["version"] = name
            elif category == "product_version_range":
                vers = to_vers(name)
                update.update(vers=vers, range_text="" if vers else name, version="")
                if not vers:
                    warnings.append(
                        f"{ident}: {here}: range {name!r} is not in vers syntax; not matched"
                    )
            node = at.model_copy(update=update)
            product = branch.get("product")
            if product is not None:
                _add(out, product, f"{here}/product", node)
            if "branches" in branch:
                walk(branch["branches"], f"{here}/branches", node,
                     named or category == "product_name")  # fmt: skip

    if "branches" in tree:
        walk(tree["branches"], "/product_tree/branches", CsafProduct(), False)
    for i, product in enumerate(_get(tree, "full_product_names", "/product_tree", list, False)):
        _add(out, product, f"/product_tree/full_product_names/{i}", CsafProduct())
    for i, rel in enumerate(_get(tree, "relationships", "/product_tree", list, False)):
        path = f"/product_tree/relationships/{i}"
        if not isinstance(rel, Mapping):
            raise _Bad(path, "must be a JSON object")
        component = _known(
            out, _get(rel, "product_reference", path, str), f"{path}/product_reference"
        )
        platform = _known(
            out, _get(rel, "relates_to_product_reference", path, str),
            f"{path}/relates_to_product_reference",
        )  # fmt: skip
        label = " ".join(p for p in (platform.vendor, platform.product, platform.version) if p)
        _add(out, _get(rel, "full_product_name", path, dict), f"{path}/full_product_name",
             component.model_copy(update={"platform": label}))  # fmt: skip
    return out


def _add(out: dict[str, CsafProduct], product: Any, path: str, node: CsafProduct) -> None:
    if not isinstance(product, Mapping):
        raise _Bad(path, "must be a JSON object with product_id and name")
    pid = _get(product, "product_id", path, str)
    helper = product.get("product_identification_helper")
    cpe = helper.get("cpe") if isinstance(helper, Mapping) else None
    if isinstance(cpe, str) and not (node.vendor and node.product):
        node = _from_cpe(cpe, node)
    out[pid] = node


def _from_cpe(cpe: str, node: CsafProduct) -> CsafProduct:
    """Vendor, product and version from a CPE 2.2 URI or 2.3 string, where the tree has none.

    Example:
        >>> _from_cpe("cpe:2.3:o:cisco:ios:15.0:*:*:*:*:*:*:*", CsafProduct()).version
        '15.0'
        >>> _from_cpe("cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-alpha", CsafProduct()).product
        'cvrf-csaf-converter'
    """
    parts = cpe[len("cpe:2.3:") :].split(":") if cpe.startswith("cpe:2.3:") else cpe[5:].split(":")
    fields = [p.replace("\\", "") for p in parts[1:4]] + ["", "", ""]
    vendor, product, version = (f if f not in ("*", "-") else "" for f in fields[:3])
    return node.model_copy(
        update={
            "vendor": node.vendor or vendor,
            "product": node.product or product,
            "version": node.version or (version if not node.vers else ""),
        }
    )


def _known(products: Mapping[str, CsafProduct], pid: str, path: str) -> CsafProduct:
    found = products.get(pid)
    if found is None:
        raise _Bad(path, f"product id {pid!r} is not defined in /product_tree; define it there")
    return found


def _groups(tree: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for i, group in enumerate(_get(tree, "product_groups", "/product_tree", list, False)):
        path = f"/product_tree/product_groups/{i}"
        if not isinstance(group, Mapping):
            raise _Bad(path, "must be a JSON object")
        ids = _get(group, "product_ids", path, list)
        out[_get(group, "group_id", path, str)] = tuple(str(x) for x in ids)
    return out


# -- vulnerabilities --------------------------------------------------------------------


def _ids(
    raw: Mapping[str, Any], path: str, products: Mapping[str, CsafProduct],
    groups: Mapping[str, tuple[str, ...]],
) -> list[str]:  # fmt: skip
    """The product ids an element names directly and through its groups, each checked."""
    out: list[str] = []
    for key in ("product_ids", "products"):
        for j, pid in enumerate(_get(raw, key, path, list, False)):
            if not isinstance(pid, str):
                raise _Bad(f"{path}/{key}/{j}", "must be a product id string")
            _known(products, pid, f"{path}/{key}/{j}")
            out.append(pid)
    for j, gid in enumerate(_get(raw, "group_ids", path, list, False)):
        if gid not in groups:
            raise _Bad(
                f"{path}/group_ids/{j}", f"group {gid!r} is not in /product_tree/product_groups"
            )
        out.extend(groups[gid])
    return out


def _statements(
    vuln: Mapping[str, Any], path: str, products: Mapping[str, CsafProduct],
    groups: Mapping[str, tuple[str, ...]],
) -> Iterator[CsafStatement]:  # fmt: skip
    cve = vuln.get("cve")
    if not isinstance(cve, str) or not cve:
        ids = vuln.get("ids")
        first = ids[0] if isinstance(ids, list) and ids and isinstance(ids[0], Mapping) else {}
        cve = str(first.get("text", "")) or path
    status = _get(vuln, "product_status", path, dict, required=False)
    by_status: dict[str, list[str]] = {}
    for key, values in status.items():
        if not isinstance(values, list):
            raise _Bad(f"{path}/product_status/{key}", "must be a JSON list of product ids")
        for j, pid in enumerate(values):
            _known(products, str(pid), f"{path}/product_status/{key}/{j}")
        by_status[key] = [str(p) for p in values]
    scores = _scores(vuln, path, products, groups)
    fixes, remedies = _remediations(vuln, path, products, groups, by_status)
    why = _justifications(vuln, path, products, groups)
    recommended = [products[p] for p in by_status.get("recommended", ())]
    for key, ids in by_status.items():
        state = _STATUS.get(key)
        if state is None:
            continue  # "recommended": a fix target, stated with the affected ones
        for pid in dict.fromkeys(ids):
            product = products[pid]
            score, severity = scores.get(pid, scores.get("", (None, Severity.MEDIUM)))
            rec = next(
                (r.version for r in recommended if _same(r, product) and r.version), ""
            ) if state == "known_affected" else ""  # fmt: skip
            yield CsafStatement(
                cve=cve,
                status=state,
                product=product,
                fixes=fixes.get(pid, ()) if state == "known_affected" else (),
                recommended=rec if pid in fixes else "",
                remedy=remedies.get(pid, ""),
                justification=why.get(pid, "") if state == "known_not_affected" else "",
                cvss_score=score,
                severity=severity,
            )


def _same(a: CsafProduct, b: CsafProduct) -> bool:
    return (a.vendor.lower(), a.product.lower()) == (b.vendor.lower(), b.product.lower())


def _scores(
    vuln: Mapping[str, Any], path: str, products: Mapping[str, CsafProduct],
    groups: Mapping[str, tuple[str, ...]],
) -> dict[str, tuple[float | None, Severity]]:  # fmt: skip
    """Product id → (CVSS base score, severity); ``""`` → the highest of the vulnerability."""
    out: dict[str, tuple[float | None, Severity]] = {}
    for i, score in enumerate(_get(vuln, "scores", path, list, False)):
        here = f"{path}/scores/{i}"
        if not isinstance(score, Mapping):
            raise _Bad(here, "must be a JSON object")
        for key in ("cvss_v3", "cvss_v2"):
            cvss = score.get(key)
            if not isinstance(cvss, Mapping):
                continue
            vector = cvss.get("vectorString")
            try:
                value, severity = score_cvss(str(vector))
            except CVSSError as error:
                raise _Bad(f"{here}/{key}/vectorString", f"{vector!r}: {error}") from None
            severity = severity_word(cvss.get("baseSeverity")) or severity
            for pid in [*_ids(score, here, products, groups), ""]:
                old = out.get(pid)
                if old is None or (old[0] or 0.0) < value:
                    out[pid] = (value, severity)
            break
    return out


def _remediations(
    vuln: Mapping[str, Any], path: str, products: Mapping[str, CsafProduct],
    groups: Mapping[str, tuple[str, ...]], by_status: Mapping[str, Sequence[str]],
) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:  # fmt: skip
    """Per affected product id: the fix versions of its vendor fixes, and the vendor's words."""
    fixing = [products[p] for key in _FIX_STATUSES for p in by_status.get(key, ())]
    affected = {p for key in ("known_affected", "first_affected", "last_affected")
                for p in by_status.get(key, ())}  # fmt: skip
    exact = [p for p in products.values() if p.version and not p.vers]
    fixes: dict[str, tuple[str, ...]] = {}
    words: dict[str, str] = {}
    for i, rem in enumerate(_get(vuln, "remediations", path, list, False)):
        here = f"{path}/remediations/{i}"
        if not isinstance(rem, Mapping):
            raise _Bad(here, "must be a JSON object")
        category = _get(rem, "category", here, str)
        text = " ".join(str(rem.get(k, "")) for k in ("details", "url")).strip()
        for pid in _ids(rem, here, products, groups):
            if category == "vendor_fix":
                product = products[pid]
                named = {p.version for p in exact if _same(p, product) and _names(text, p.version)
                         and not any(products[a] == p for a in affected)}  # fmt: skip
                found = {p.version for p in fixing if _same(p, product) and p.version} | named
                fixes[pid] = tuple(sorted({*fixes.get(pid, ()), *found}, key=firmware_key))
                words[pid] = f"vendor fix: {text}"
            elif pid not in words:
                words[pid] = f"{category.replace('_', ' ')}: {text}"
    return fixes, words


def _names(text: str, version: str) -> bool:
    """Whether ``text`` names ``version`` as a word of its own (not ``4.2`` in ``14.2.1``)."""
    return re.search(rf"(?<![\w.]){re.escape(version)}(?![\w]|\.\d)", text) is not None


def _justifications(
    vuln: Mapping[str, Any], path: str, products: Mapping[str, CsafProduct],
    groups: Mapping[str, tuple[str, ...]],
) -> dict[str, str]:  # fmt: skip
    """Product id → why it is not affected: the VEX flag label and the impact statement."""
    out: dict[str, list[str]] = {}
    for i, flag in enumerate(_get(vuln, "flags", path, list, False)):
        here = f"{path}/flags/{i}"
        if isinstance(flag, Mapping):
            label = str(flag.get("label", "")).replace("_", " ")
            for pid in _ids(flag, here, products, groups):
                out.setdefault(pid, []).append(label)
    for i, threat in enumerate(_get(vuln, "threats", path, list, False)):
        here = f"{path}/threats/{i}"
        if isinstance(threat, Mapping) and threat.get("category") == "impact":
            for pid in _ids(threat, here, products, groups):
                out.setdefault(pid, []).append(str(threat.get("details", "")).strip())
    return {pid: "; ".join(t for t in texts if t) for pid, texts in out.items()}
