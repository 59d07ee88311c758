"""Shared fixtures for the report tests: the sample report, an empty one, and an HTML checker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from patchwarden.report.model import ReportData
from patchwarden.report.sample import sample_report

# Elements that never have an end tag in HTML.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class TagChecker(HTMLParser):
    """Parses a page, checks every tag is closed in order, and keeps what the tests look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> at {self.getpos()} but open: {self.stack[-3:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def values(self, attr: str) -> list[str]:
        return [a[attr] or "" for _, a in self.attrs if attr in a]


def _parse(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == [], f"never closed: {checker.stack}"
    return checker


@pytest.fixture(scope="session")
def parse() -> Callable[[str], TagChecker]:
    """Parse a page and fail on tags closed out of order or left open."""
    return _parse


@pytest.fixture(scope="session")
def sample() -> ReportData:
    return sample_report()


@pytest.fixture
def empty() -> ReportData:
    return ReportData(title="Nothing yet", generated_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
