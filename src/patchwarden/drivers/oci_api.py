"""The OCI distribution API's small print: tag list pages, ``Link`` headers, auth challenges.

Pure functions over what a registry answers; :class:`patchwarden.drivers.channels.ChannelReader`
does the requests.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from patchwarden.domain.base import Value

__all__ = ["Challenge", "next_page", "parse_challenge", "parse_tag_list"]


class _TagList(Value, extra="ignore"):
    name: str
    tags: tuple[str, ...] | None = None


def parse_tag_list(text: str, repository: str) -> tuple[str, ...]:
    """The tags of one page of ``GET /v2/<repository>/tags/list``, in the registry's order.

    A repository without tags answers ``"tags": null``, which is read as none.

    Example:
        >>> parse_tag_list('{"name": "acme/gw", "tags": ["latest", "1.2.0"]}', "acme/gw")
        ('latest', '1.2.0')
        >>> parse_tag_list('{"name": "acme/gw", "tags": null}', "acme/gw")
        ()
        >>> parse_tag_list('{"name": "other", "tags": []}', "acme/gw")
        Traceback (most recent call last):
        ...
        ValueError: tag list: names repository 'other', not 'acme/gw'
    """
    try:
        page = _TagList.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ValueError(f"tag list: {where}: {first['msg']}") from None
    if page.name != repository:
        raise ValueError(f"tag list: names repository {page.name!r}, not {repository!r}")
    return page.tags or ()


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


def next_page(link: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header (RFC 8288), as written (maybe relative).

    Example:
        >>> next_page('</v2/acme/gw/tags/list?last=1.2.0&n=2>; rel="next"')
        '/v2/acme/gw/tags/list?last=1.2.0&n=2'
        >>> next_page('<https://r/a>; rel="prev", <https://r/b>; rel=next')
        'https://r/b'
        >>> next_page("") is None
        True
    """
    for target, params in _LINK.findall(link):
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "rel" and "next" in value.strip().strip('"').split():
                return str(target)
    return None


class Challenge(Value):
    """A ``WWW-Authenticate`` challenge: its scheme and parameters (names in lower case)."""

    scheme: str
    params: dict[str, str]


_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


def parse_challenge(header: str) -> Challenge | None:
    """The challenge of a ``WWW-Authenticate`` header, or ``None`` for an empty one.

    A registry that wants a token answers ``Bearer realm="...",service="...",scope="..."``
    (the distribution token flow); one that wants a password, ``Basic realm="..."``.

    Example:
        >>> c = parse_challenge(
        ...     'Bearer realm="https://auth.example/token",service="registry",'
        ...     'scope="repository:acme/gw:pull"')
        >>> c.scheme, c.params["realm"], c.params["scope"]
        ('bearer', 'https://auth.example/token', 'repository:acme/gw:pull')
        >>> parse_challenge('Basic realm="r"').scheme
        'basic'
    """
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {
        key.lower(): quoted.replace('\\"', '"') if quoted else bare
        for key, quoted, bare in _PARAM.findall(rest)
    }
    return Challenge(scheme=scheme.lower(), params=params)
