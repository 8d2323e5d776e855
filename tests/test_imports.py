"""No import circle anywhere in concord_resp (between layers, the import-linter contract in
pyproject.toml already forbids it; this also covers modules of one package), and no module
grows past 800 lines."""

from __future__ import annotations

from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[1] / "concord_resp"


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("concord_resp", exclude_type_checking_imports=True)
    circles = [
        (module, other)
        for module in sorted(graph.modules)
        for other in sorted(graph.find_modules_directly_imported_by(module))
        if other != module and graph.chain_exists(importer=other, imported=module)
    ]
    assert circles == []


def test_no_module_is_over_800_lines() -> None:
    sizes = {path: len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {str(path.relative_to(PACKAGE)): n for path, n in sizes.items() if n > 800} == {}
