"""The shape the package keeps: small modules, short functions, no import cycle (imports
inside functions count: they hide a cycle, they do not break it)."""

from __future__ import annotations

import ast
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


def test_no_import_cycle_anywhere_in_the_package() -> None:
    graph = grimp.build_graph("comfyui_pipe", include_external_packages=False)
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    assert find_cycle(imports) is None


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
