"""Imports point one way (DESIGN.md): core imports no other layer; adapters import only core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "src" / "engramdb"
ADAPTERS = ("stores", "embedders", "llms", "rerankers")
USE_CASES = ("engine", "retrieval", "pipeline", "lifecycle")
ENTRY_POINTS = ("cli", "server", "mcp", "bench")


def module_name(path: Path) -> str:
    parts = ["engramdb", *path.relative_to(PKG).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every engramdb module the source imports, lazily or not, relative imports resolved."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # from engramdb import stores
    return {m for m in found if m == "engramdb" or m.startswith("engramdb.")}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<facade>"


def files_in(*layers: str) -> list[Path]:
    return sorted(p for layer in layers if (PKG / layer).is_dir() for p in (PKG / layer).rglob("*.py"))


def violations(layers: tuple[str, ...], allowed: set[str]) -> list[str]:
    bad = []
    for path in files_in(*layers):
        own = path.relative_to(PKG).parts[0]
        source = path.read_text(encoding="utf-8")
        for module in sorted(imports_of(source, module_name(path), path.name == "__init__.py")):
            if layer_of(module) not in allowed | {own}:
                bad.append(f"{path.relative_to(PKG)} imports {module}")
    return bad


def test_the_import_parser_sees_relative_lazy_and_facade_imports():
    source = (
        "from . import ids\n"
        "from ..stores import sqlite\n"
        "import engramdb\n"
        "def f():\n"
        "    import engramdb.cli.main\n"
        "    from engramdb import retrieval\n"
    )
    found = imports_of(source, "engramdb.core.models")
    assert {"engramdb.core.ids", "engramdb.stores", "engramdb", "engramdb.cli.main",
            "engramdb.retrieval"} <= found
    assert {layer_of(m) for m in found} >= {"core", "stores", "<facade>", "cli", "retrieval"}


def test_core_imports_only_core():
    assert files_in("core"), "core/ not found"
    assert violations(("core",), {"core"}) == []


@pytest.mark.parametrize("adapter", [a for a in ADAPTERS if (PKG / a).is_dir()])
def test_adapters_import_only_core(adapter):
    assert violations((adapter,), {"core"}) == []


def test_use_cases_reach_adapters_only_through_the_registry():
    assert violations(USE_CASES, {"core", *USE_CASES, "registry"}) == []


def test_nothing_below_entry_points_imports_them():
    below = tuple(p.name for p in PKG.iterdir() if p.is_dir() and p.name not in ENTRY_POINTS and p.name[0] != "_")
    bad = [v for v in violations(below, set()) if layer_of(v.split(" imports ")[1]) in ENTRY_POINTS]
    assert bad == []


def test_core_does_no_io():
    forbidden = {"sqlite3", "urllib", "http", "requests", "httpx", "socket", "subprocess",
                 "onnxruntime", "tokenizers", "tiktoken"}
    bad = []
    for path in files_in("core"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert bad == []
