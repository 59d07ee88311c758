"""The base of every domain value: frozen, strict about unknown fields, JSON round-trip."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Value"]


class Value(BaseModel):
    """A frozen value: unknown fields are errors, equal content means equal values."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)
