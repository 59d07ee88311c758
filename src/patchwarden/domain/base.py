"""The base of every domain value: frozen, strict about unknown fields, JSON round-trip."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict

__all__ = ["Value"]


class Value(BaseModel):
    """A frozen value: unknown fields are errors, equal content means equal values."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """Build from values that are already typed and complete, skipping validation.

        For code that creates hundreds of thousands of values from parts it holds typed
        (a planner's steps): it sets exactly what pydantic's ``model_construct`` sets, at
        a fraction of the cost. Every field must be given; a test checks the result equals
        the validated construction.
        """
        obj = cls.__new__(cls)
        object.__setattr__(obj, "__dict__", values)
        object.__setattr__(obj, "__pydantic_fields_set__", set(values))
        object.__setattr__(obj, "__pydantic_extra__", None)
        object.__setattr__(obj, "__pydantic_private__", None)
        return obj
