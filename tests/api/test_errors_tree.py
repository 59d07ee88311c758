"""The tree drawn in errors.py's docstring is the hierarchy the code defines, class for class."""

from __future__ import annotations

import inspect
import re
from types import ModuleType

from patchwarden import errors

# A tree line: the drawing (spaces, │, ├──, └──), a class name, two or more spaces, a text.
_LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)(?:\s{2,}(?P<text>.*))?$")
_STEP = 4  # each level of the drawing is four characters wide


def _drawn() -> dict[str, tuple[str, str]]:
    """Class name -> (parent name, description), read from every tree in the docstring."""
    doc = errors.__doc__ or ""
    out: dict[str, tuple[str, str]] = {}
    stack: list[str] = []
    for block in doc.split("::\n")[1:]:
        stack.clear()
        for raw in block.splitlines()[1:]:
            if raw and not raw.startswith("    "):
                break  # the prose after the drawing
            match = _LINE.match(raw[4:])
            if not raw.strip() or match is None:
                continue
            depth = len(match["indent"]) // _STEP
            del stack[depth:]
            name = match["name"]
            assert name not in out, f"{name} is drawn twice"
            out[name] = (stack[-1] if stack else "", match["text"] or "")
            stack.append(name)
    return out


def _defined(modules: list[ModuleType]) -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in modules:
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                # Private signals (feeds.osv's _Bad) never leave their module.
                and not name.startswith("_")
            ):
                assert name not in found, f"two exception classes named {name}"
                found[name] = value
    return found


def test_the_drawing_is_read_as_a_tree() -> None:
    drawn = _drawn()
    assert drawn["PatchwardenError"][0] == ""
    assert drawn["NoSpareCapacity"][0] == "InputError"
    assert drawn["HeldPackageError"][0] == "DriverError"
    assert drawn["LabError"][0] == "PatchwardenError"
    assert drawn["StaleChange"][0] == "ValueError"


def test_every_exception_class_is_drawn_under_its_parent(modules: list[ModuleType]) -> None:
    drawn = _drawn()
    defined = _defined(modules)
    assert len(defined) >= 20  # the walk found the classes, not an empty package
    missing = sorted(set(defined) - set(drawn))
    assert not missing, f"exception classes not drawn in errors.py's docstring: {missing}"
    for name, cls in defined.items():
        (base,) = cls.__bases__
        parent = drawn[name][0] or "Exception"  # the root of a drawing derives from Exception
        assert parent == base.__name__, f"{name} derives from {base.__name__}, not {parent}"


def test_nothing_is_drawn_that_does_not_exist(modules: list[ModuleType]) -> None:
    drawn = _drawn()
    defined = _defined(modules)
    roots = {parent for parent, _ in drawn.values()} - set(drawn) - {""}
    assert roots <= {"ValueError"}, roots
    stale = sorted(set(drawn) - set(defined) - {"ValueError"})
    assert not stale, f"drawn in errors.py but defined nowhere: {stale}"


def test_a_class_defined_elsewhere_names_its_module(modules: list[ModuleType]) -> None:
    drawn = _drawn()
    for name, cls in _defined(modules).items():
        where = cls.__module__.removeprefix("patchwarden.")
        text = drawn[name][1]
        if cls.__module__ == errors.__name__:
            assert ":" not in text.split(" ")[0], f"{name} is in errors.py: {text!r}"
        else:
            assert text.startswith(f"{where}: "), f"{name} lives in {where}: {text!r}"
