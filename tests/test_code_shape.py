"""The shape the package keeps: small modules, short functions, no import cycle (imports
inside functions count: they hide a cycle, they do not break it; so does the package
``__init__`` that importing a module runs first)."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).parent.parent / "comfyui_pipe"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def functions(path: Path) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_over_400_lines_and_no_function_over_60(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    long = {
        function.name: (function.end_lineno or function.lineno) - function.lineno + 1
        for function in functions(path)
        if (function.end_lineno or function.lineno) - function.lineno + 1 > MAX_FUNCTION_LINES
    }
    assert lines <= MAX_MODULE_LINES
    assert long == {}


MUTABLE_DISPLAYS = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_level_mutable_state(path: Path) -> None:
    """State lives on objects with a lifecycle (the runtime's), never in a module: no
    name but an UPPER_CASE constant or ``__all__`` is bound to a dict, list or set."""
    assert mutable_module_names(path.read_text(encoding="utf-8")) == []


def test_the_mutable_state_check_finds_a_module_level_cache() -> None:
    source = "_warming: dict[int, object] = {}\nseen = set()\nNOUNS = {}\n__all__ = ['x']\n"
    assert mutable_module_names(source) == ["_warming", "seen"]


def mutable_module_names(source: str) -> list[str]:
    found = []
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        mutable = isinstance(value, MUTABLE_DISPLAYS) or (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id in ("dict", "list", "set", "defaultdict", "OrderedDict")
        )
        names = [target.id for target in targets if isinstance(target, ast.Name)]
        found += [name for name in names if mutable and name != "__all__" and not name.isupper()]
    return found


def test_no_import_cycle_anywhere_in_the_package() -> None:
    graph = grimp.build_graph("comfyui_pipe", include_external_packages=False)
    imports = {
        module: with_packages_run(module, graph.find_modules_directly_imported_by(module))
        for module in graph.modules
    }
    assert find_cycle(imports) is None


def test_importing_a_module_runs_the_packages_the_importer_is_not_in() -> None:
    assert with_packages_run("a.x", {"a.b.c.d"}) == {"a.b.c.d", "a.b.c", "a.b"}
    assert with_packages_run("a.b.x", {"a.b.y"}) == {"a.b.y"}
    # a package whose __init__ gathers modules that lead back to the importer
    imports = {"a.x": {"a.b.y"}, "a.b.y": set(), "a.b": {"a.b.z"}, "a.b.z": {"a.x"}}
    assert find_cycle(imports) is None
    ran = {module: with_packages_run(module, found) for module, found in imports.items()}
    assert find_cycle(ran) == [
        "a.b",
        "a.b.z",
        "a.x",
        "a.b",
    ]


def with_packages_run(importer: str, imported: set[str]) -> set[str]:
    """``imported`` and the packages whose ``__init__`` importing them runs: their parents
    that are not the importer's own (those are initialised already)."""
    own = set(parents(importer)) | {importer}
    return imported | {package for module in imported for package in parents(module)} - own


def parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def test_the_host_contract_covers_every_part_of_openwebui_but_the_host() -> None:
    """A module added to ``openwebui/`` is held to importing Open WebUI through the host."""
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    [contract] = [
        contract
        for contract in pyproject["tool"]["importlinter"]["contracts"]
        if contract.get("forbidden_modules") == ["open_webui"]
        and contract.get("allow_indirect_imports") is True
    ]
    host_layer = PACKAGE / "openwebui"
    parts = {
        f"comfyui_pipe.openwebui.{path.stem}"
        for path in host_layer.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert set(contract["source_modules"]) == parts - {"comfyui_pipe.openwebui.host"}


def test_the_cycle_finder_finds_one_through_an_import_inside_a_function() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def find_cycle(imports: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as the chain of modules, first repeated last), or None."""
    done: set[str] = set()
    for start in sorted(imports):
        path: list[str] = []
        on_path: set[str] = set()
        stack = [(start, iter(sorted(imports.get(start, ()))))]
        path.append(start)
        on_path.add(start)
        while stack:
            module, following = stack[-1]
            successor = next(following, None)
            if successor is None:
                stack.pop()
                on_path.discard(path.pop())
                done.add(module)
            elif successor in on_path:
                return [*path[path.index(successor) :], successor]
            elif successor not in done:
                stack.append((successor, iter(sorted(imports.get(successor, ())))))
                path.append(successor)
                on_path.add(successor)
    return None
