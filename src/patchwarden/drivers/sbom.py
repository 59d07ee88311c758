"""CycloneDX JSON SBOMs: the components of an application, per OSV ecosystem, by purl.

A pure parser (golden-tested in ``tests/golden/sbom``): :func:`parse_cyclonedx` reads the
document, walks nested ``components``, and turns each component's package URL into an OSV
ecosystem, package name and version (:func:`purl_package`). What it cannot place — no purl,
no version, a purl type OSV has no ecosystem for — is listed in
:attr:`SbomContents.skipped` with the reason, never dropped silently.

Example:
    >>> doc = '{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": ['
    >>> doc += '{"type": "library", "name": "lodash", "purl": "pkg:npm/lodash@4.17.20"}]}'
    >>> parse_cyclonedx(doc).packages[0]
    SbomPackage(ecosystem='npm', name='lodash', version='4.17.20', purl='pkg:npm/lodash@4.17.20')
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from patchwarden.domain.ecosystems import osv_release
from patchwarden.errors import InputError

__all__ = [
    "PackageUrl",
    "SbomContents",
    "SbomPackage",
    "parse_cyclonedx",
    "parse_purl",
    "purl_package",
]

# purl type → OSV ecosystem, for the language ecosystems whose name needs no distro.
_LANGUAGE_ECOSYSTEMS = {
    "npm": "npm",
    "pypi": "PyPI",
    "maven": "Maven",
    "golang": "Go",
    "cargo": "crates.io",
    "gem": "RubyGems",
    "nuget": "NuGet",
    "composer": "Packagist",
    "hex": "Hex",
    "pub": "Pub",
}
# Distribution (purl namespace or distro id) → OSV ecosystem; releases as OSV names them.
_DISTROS = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "almalinux": "AlmaLinux",
    "rocky": "Rocky Linux",
    "redhat": "Red Hat",
    "rhel": "Red Hat",
    "alpine": "Alpine",
}


@dataclass(frozen=True)
class PackageUrl:
    """A parsed purl: ``pkg:type/namespace/name@version?qualifiers#subpath``."""

    type: str
    namespace: str
    name: str
    version: str
    qualifiers: Mapping[str, str]


@dataclass(frozen=True)
class SbomPackage:
    """One component placed in an OSV ecosystem."""

    ecosystem: str
    name: str
    version: str
    purl: str


@dataclass(frozen=True)
class SbomContents:
    """What an SBOM says is in an application.

    Attributes:
        subject: The application described (``metadata.component``), ``name@version``.
        serial: The document's ``serialNumber`` (a URN), or ``""``.
        created: ``metadata.timestamp`` as written, or ``""``.
        packages: Every placed component, in document order.
        skipped: One line per component left out, with the reason.
    """

    subject: str
    serial: str
    created: str
    packages: tuple[SbomPackage, ...]
    skipped: tuple[str, ...]

    def by_ecosystem(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Ecosystem → package → every version present (bundled copies differ), first-seen."""
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        for package in self.packages:
            names = out.setdefault(package.ecosystem, {})
            if package.version not in names.get(package.name, ()):
                names[package.name] = (*names.get(package.name, ()), package.version)
        return out


def parse_purl(text: str) -> PackageUrl:
    """Parse a package URL (https://github.com/package-url/purl-spec).

    Raises:
        ValueError: ``text`` is not a purl.

    Example:
        >>> parse_purl("pkg:npm/%40angular/core@16.2.0").namespace
        '@angular'
    """
    if not text.startswith("pkg:"):
        raise ValueError("does not start with pkg:")
    rest = text[4:].lstrip("/").split("#", 1)[0]
    rest, _, query = rest.partition("?")
    qualifiers = {}
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        qualifiers[key.lower()] = unquote(value)
    path, at, version = rest.rpartition("@")
    if not at or "/" in version:  # no version; an "@" of an npm scope is not one
        path, version = rest, ""
    segments = [unquote(s) for s in path.strip("/").split("/") if s]
    if len(segments) < 2:
        raise ValueError("needs a type and a name")
    return PackageUrl(
        segments[0].lower(), "/".join(segments[1:-1]), segments[-1], unquote(version), qualifiers
    )


def _release(distro: str, ecosystem: str) -> str:
    """``"debian-12"`` or ``"alpine-3.19.1"`` → the release as OSV names it."""
    found = re.search(r"(\d+(?:\.\d+)*)", distro)
    if found is None:
        return ""
    release = ".".join(osv_release(ecosystem, found.group(1)).split(".")[:2])
    return f"v{release}" if ecosystem == "Alpine" else release


def purl_package(purl: PackageUrl, os_hint: str = "") -> tuple[str, str, str]:
    """``(OSV ecosystem, package, version)`` of a purl, names spelled as OSV spells them.

    ``os_hint`` (``debian-12``, from the SBOM's operating-system component) stands in for
    a distribution purl's missing ``distro`` qualifier.

    Raises:
        ValueError: no OSV ecosystem is known for the purl.
    """
    version = purl.version
    if purl.type in _LANGUAGE_ECOSYSTEMS:
        ecosystem, name = _LANGUAGE_ECOSYSTEMS[purl.type], purl.name
        if purl.type == "pypi":
            name = re.sub(r"[-_.]+", "-", name).lower()  # PEP 503, as OSV's PyPI names
        elif purl.type == "maven" and purl.namespace:
            name = f"{purl.namespace}:{name}"
        elif purl.namespace:  # npm scopes, Go module paths, composer vendors
            name = f"{purl.namespace}/{name}"
        if purl.type == "golang":
            version = version.removeprefix("v")  # OSV's Go versions carry no "v"
        return ecosystem, name, version
    if purl.type in ("deb", "rpm", "apk"):
        distro = purl.qualifiers.get("distro", "") or os_hint
        vendor = purl.namespace.lower() or distro.split("-")[0].lower()
        base = _DISTROS.get(vendor)
        if base is None:
            raise ValueError(f"no OSV ecosystem for {purl.type} packages of {vendor or '?'}")
        epoch = purl.qualifiers.get("epoch", "")
        if epoch and epoch != "0" and ":" not in version:
            version = f"{epoch}:{version}"
        release = _release(distro, base)
        return (f"{base}:{release}" if release else base), purl.name, version
    raise ValueError(f"no OSV ecosystem for purl type {purl.type!r}")


def _components(items: Any, trail: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        if isinstance(item, dict):
            where = f"{trail}[{index}]"
            yield where, item
            yield from _components(item.get("components"), f"{where}.components")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_cyclonedx(text: str, source: str = "SBOM") -> SbomContents:
    """Parse a CycloneDX JSON document (spec 1.2 to 1.6) into placed packages.

    Raises:
        InputError: the text is not JSON or not a CycloneDX BOM; names ``source``.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{source}: not JSON: {error}") from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise InputError(
            f'{source}: not a CycloneDX JSON SBOM (no "bomFormat": "CycloneDX"); '
            "export one with syft -o cyclonedx-json or cdxgen"
        )
    metadata = _mapping(doc.get("metadata"))
    subject = _mapping(metadata.get("component"))
    components = list(_components(doc.get("components"), "components"))
    os_hint = next(
        (
            f"{c.get('name', '')}-{c.get('version', '')}"
            for _, c in components
            if c.get("type") == "operating-system"
        ),
        "",
    )
    packages: list[SbomPackage] = []
    skipped: list[str] = []
    for where, component in components:
        kind = component.get("type", "library")
        label = f"{where} {component.get('name', '?')}"
        if kind in ("operating-system", "file", "data", "machine-learning-model"):
            continue  # describes the system or a file, not an installable package
        purl_text = component.get("purl")
        if not isinstance(purl_text, str) or not purl_text:
            skipped.append(f"{label}: no purl")
            continue
        try:
            ecosystem, name, version = purl_package(parse_purl(purl_text), os_hint)
        except ValueError as error:
            skipped.append(f"{label}: {error}")
            continue
        version = version or str(component.get("version", ""))
        if not version:
            skipped.append(f"{label}: no version")
            continue
        packages.append(SbomPackage(ecosystem, name, version, purl_text))
    name, version = subject.get("name", ""), subject.get("version", "")
    return SbomContents(
        subject=f"{name}@{version}" if name and version else str(name),
        serial=str(doc.get("serialNumber", "")),
        created=str(metadata.get("timestamp", "")),
        packages=tuple(packages),
        skipped=tuple(skipped),
    )
