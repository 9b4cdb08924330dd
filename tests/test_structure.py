"""The tree keeps its shape: each rule in one place, small modules, no import cycles.

Read from the source with ``ast`` (nothing is imported), so a rule written a
second time somewhere fails here, with the file and line to look at.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gridserve", "api", "geo", "jobs", "seeds")
MAX_LINES = 800


def _files(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


# --- "inside this area" lives in gridserve/scope.py --------------------------------------


def _is_path(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "path"


def _area_path_filters() -> list[str]:
    """``<x>.path.startswith/like/contains(...)`` or ``<s>.startswith(<x>.path)``."""
    found = []
    for path in _files("gridserve", "api", "jobs", "seeds"):
        if _rel(path) == "gridserve/scope.py":
            continue
        for node in ast.walk(_tree(path)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in {"startswith", "like", "ilike", "contains", "endswith"}:
                continue
            if _is_path(node.func.value) or any(_is_path(a) for a in node.args):
                found.append(f"{_rel(path)}:{node.lineno}")
    return found


def test_the_area_path_filter_is_written_only_in_the_scope_module():
    assert _area_path_filters() == [], "use gridserve.scope.within_area / in_area / area_contains"


# --- stale_version: one helper --------------------------------------------------------------


def test_stale_version_is_said_only_by_its_helper():
    found = [
        f"{_rel(path)}:{node.lineno}"
        for path in _files(*PACKAGES)
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Constant) and node.value == "stale_version"
    ]
    assert {f.split(":")[0] for f in found} == {"gridserve/versioning.py"}, found


# --- the API builds no SQL ------------------------------------------------------------------


def _sql_in_api() -> list[str]:
    found = []
    for path in _files("api"):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and node.attr == "order_by":
                found.append(f"{_rel(path)}:{node.lineno} order_by")
            elif isinstance(node, ast.Attribute) and node.attr == "session":
                found.append(f"{_rel(path)}:{node.lineno} session")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                found.append(f"{_rel(path)}:{node.lineno} import {node.module}")
            elif isinstance(node, ast.Import) and any(
                a.name.startswith("sqlalchemy") for a in node.names
            ):
                found.append(f"{_rel(path)}:{node.lineno} import sqlalchemy")
    return found


def test_no_sql_under_api():
    assert _sql_in_api() == []


def _service_names(tree: ast.Module) -> set[str]:
    """Names a module binds to service modules or their functions, and current_principal."""
    names = {"current_principal"}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "gridserve.services"
        ):
            names.update(a.asname or a.name for a in node.names)
    return names


def test_schemas_call_no_service_while_serialising():
    found = []
    for path in _files("api"):
        tree = _tree(path)
        services = _service_names(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr == "Method":
                found.append(f"{_rel(path)}:{node.lineno} fields.Method")
            elif node.func.attr == "Function":
                used = {n.id for a in node.args for n in ast.walk(a) if isinstance(n, ast.Name)}
                if used & services:
                    found.append(f"{_rel(path)}:{node.lineno} {sorted(used & services)}")
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            if not any(_is_schema_base(base) for base in cls.bases):
                continue
            for func in (n for n in cls.body if _serialises(n)):
                used = {n.id for n in ast.walk(func) if isinstance(n, ast.Name)}
                if used & services:
                    found.append(f"{_rel(path)}:{func.lineno} {cls.name}.{func.name}")
    assert found == [], "present the rows in the service (paginate_select(present=...))"


DUMP_HOOKS = {"pre_dump", "post_dump"}
FIELD_DUMPERS = {"_serialize", "serialize", "get_value"}


def _serialises(node: ast.stmt) -> bool:
    """A schema's dump hook or a field's serialiser (validation hooks may use pure rules)."""
    if not isinstance(node, ast.FunctionDef):
        return False
    hooks = {getattr(d, "id", getattr(d, "attr", "")) for d in node.decorator_list}
    hooks |= {getattr(d.func, "id", "") for d in node.decorator_list if isinstance(d, ast.Call)}
    return bool(hooks & DUMP_HOOKS) or node.name in FIELD_DUMPERS


def _is_schema_base(base: ast.expr) -> bool:
    """A marshmallow class: a Schema or a field (dump hooks, custom fields serialise rows)."""
    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
    return name.endswith("Schema") or (
        isinstance(base, ast.Attribute)
        and (isinstance(base.value, ast.Name) and base.value.id == "fields")
    )


# --- settings are read through gridserve.config.settings() ----------------------------------

# gridserve/config.py builds the Settings; gunicorn_conf.py is gunicorn's own settings file
# (GRIDSERVE_BIND, _WORKERS, ...), read by gunicorn before any app exists.
SETTINGS_MODULES = ("gridserve/config.py", "gridserve/gunicorn_conf.py")


def _setting_name(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("GRIDSERVE_")
    )


def _config_reads() -> list[str]:
    """``x["GRIDSERVE_..."]``, ``x.get("GRIDSERVE_...")``, ``getenv("GRIDSERVE_...")``."""
    found = []
    for path in _files(*PACKAGES, "migrations"):
        if _rel(path) in SETTINGS_MODULES:
            continue
        for node in ast.walk(_tree(path)):
            if (isinstance(node, ast.Subscript) and _setting_name(node.slice)) or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute | ast.Name)
                and getattr(node.func, "attr", getattr(node.func, "id", None))
                in {"get", "getenv", "pop", "setdefault"}
                and node.args
                and _setting_name(node.args[0])
            ):
                found.append(f"{_rel(path)}:{node.lineno}")
    return found


def test_settings_are_read_only_through_the_typed_settings():
    assert _config_reads() == [], "read gridserve.config.settings().<field>"


def test_tests_change_settings_with_the_fixture_not_app_config():
    found = []
    for path in _files("tests"):
        for node in ast.walk(_tree(path)):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Attribute)
                    and target.value.attr == "config"
                ):
                    found.append(f"{_rel(path)}:{node.lineno}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "setitem"
                and node.args
                and isinstance(node.args[0], ast.Attribute)
                and node.args[0].attr == "config"
            ):
                found.append(f"{_rel(path)}:{node.lineno}")
    assert found == [], "use the override_settings fixture (tests/conftest.py)"


# --- small modules --------------------------------------------------------------------------


def _long_modules() -> list[str]:
    return [
        f"{_rel(path)} ({n} lines)"
        for path in _files(*PACKAGES)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]


def test_no_module_is_over_800_lines():
    assert _long_modules() == []


# --- service modules import one way ---------------------------------------------------------

SERVICES = ROOT / "gridserve" / "services"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _service_graph() -> dict[str, set[str]]:
    """Service module -> the service modules it imports (anywhere in it, lazy imports too)."""
    modules = {_module_name(p): p for p in SERVICES.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(_tree(path)):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and target != "gridserve.services":
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_between_service_modules():
    assert _cycles(_service_graph()) == []
