"""docs/errors.md against the source: each documented fastff exception class exists in
``fastff.errors`` with the bases the page gives, every exception class defined in ``fastff/``
is documented, and every built-in type a ``raise`` in ``fastff/`` uses is on the page."""

from __future__ import annotations

import ast
import builtins
import functools
import re
from pathlib import Path

import fastff
import fastff.errors

ROOT = Path(fastff.__file__).resolve().parent
PAGE = (ROOT.parent / "docs" / "errors.md").read_text()


def _rows(section: str) -> list[list[str]]:
    body = PAGE.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in body.splitlines()
            if line.startswith("| `")]


@functools.cache
def _sources() -> tuple[tuple[Path, ast.Module], ...]:
    return tuple((path, ast.parse(path.read_text(), filename=str(path)))
                 for path in sorted(ROOT.rglob("*.py")))


def _is_builtin_exception(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def test_documented_classes_exist_with_their_bases():
    rows = _rows("fastff's own types")
    assert {r[0] for r in rows} == {f"`fastff.errors.{n}`" for n in fastff.errors.__all__}
    for cls_cell, bases_cell, when in rows:
        name = re.fullmatch(r"`fastff\.errors\.(\w+)`", cls_cell).group(1)
        cls = getattr(fastff.errors, name)
        assert isinstance(cls, type) and issubclass(cls, Exception), name
        bases = re.findall(r"`(\w+)`", bases_cell)
        assert [b.__name__ for b in cls.__bases__] == bases, (name, cls.__bases__)
        assert len(when) > 40  # says when it is raised
    assert sorted(fastff.errors.__all__) == sorted(
        re.fullmatch(r"`fastff\.errors\.(\w+)`", r[0]).group(1) for r in rows)


def test_every_exception_class_in_the_source_is_documented():
    documented = set(fastff.errors.__all__)
    defined = set()
    for _path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
                         for b in node.bases}
                if any(_is_builtin_exception(n) or n in documented for n in names):
                    defined.add(node.name)
    assert defined == documented


def test_every_builtin_type_raised_is_documented():
    listed = {re.fullmatch(r"`(\w+)`", r[0]).group(1) for r in _rows("Built-in types")}
    assert all(_is_builtin_exception(n) for n in listed)
    raised: dict[str, str] = {}
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and _is_builtin_exception(exc.id):
                    raised.setdefault(exc.id, f"{path.relative_to(ROOT)}:{node.lineno}")
    missing = {n: where for n, where in raised.items() if n not in listed}
    assert not missing, f"raised but not in docs/errors.md: {missing}"
    assert set(raised) <= listed
