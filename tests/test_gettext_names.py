"""A module that imports gettext's ``_`` must not bind ``_`` itself: ``for _ in range(3)`` or ``a, _ = pair``
makes ``_`` a local of the whole function, and a message formatted after it calls an int or a tuple item
(an error page instead of the message). Unused values get another name, such as ``_ignored``."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "contenthub"


def _imports_gettext(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom) and any("_" in (a.name, a.asname) for a in node.names)
        for node in ast.walk(tree)
    )


def test_no_module_that_translates_binds_the_underscore() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not _imports_gettext(tree):
            continue
        for node in ast.walk(tree):
            bound = (isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store)) or (
                isinstance(node, ast.arg) and node.arg == "_"
            )
            if bound:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not offenders, "these bind `_`, which shadows gettext's `_()`: " + ", ".join(offenders)
