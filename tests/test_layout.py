"""The layout is the architecture: the README's layout section is the package's tree, and the
package has no import cycles (data flows one way: app -> source -> extract/api/contract/
incremental -> load -> analyst)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, List, Set

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipelines" / "bsg_campaigns"


def _modules() -> Dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("bsg_campaigns",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _runtime_nodes(tree: ast.AST) -> List[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (annotations only, never executed)."""
    nodes: List[ast.AST] = []
    pending: List[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            test = child.test if isinstance(child, ast.If) else None
            if test is not None and "TYPE_CHECKING" in ast.unparse(test):
                pending.extend(child.orelse)
                continue
            pending.append(child)
    return nodes


def import_graph() -> Dict[str, Set[str]]:
    """Every import of one of our modules, wherever it stands (a function-level import is still
    a dependency; one under `if TYPE_CHECKING:` is not). `from bsg_campaigns.x import y` depends
    on module `x.y` when y is a module, else on `x` itself."""
    modules = _modules()
    graph: Dict[str, Set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) if node.level else ""
                module = ".".join(part for part in (base, node.module or "") if part)
                targets = [f"{module}.{alias.name}" for alias in node.names]
                submodules = [t for t in targets if t in modules]
                graph[name].update(submodules)
                if module in modules and len(submodules) < len(targets):
                    graph[name].add(module)
            elif isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names if alias.name in modules)
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

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
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    """The proof above can fail: a two-module cycle and a self-import are found."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert cycles({"a": {"a"}}) == [["a"]]


def readme_tree() -> Set[str]:
    """Paths (relative to the package) named in the README's layout block: one entry per line,
    nesting by two-space indentation, directories end with '/'."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Layout\n.*?```\n(.*?)```", text, re.S)
    assert block, "README.md has no ## Layout code block"
    paths: Set[str] = set()
    stack: List[str] = []
    inside = False
    for line in block.group(1).splitlines():
        if line.startswith("pipelines/bsg_campaigns/"):
            inside = True
            continue
        if not inside:
            continue
        if not line.startswith("  "):
            break
        depth = (len(line) - len(line.lstrip(" "))) // 2 - 1
        name = line.split()[0]
        if not name.endswith((".py", "/")) or depth > len(stack):
            continue  # a description continued on the next line
        stack[depth:] = [name]
        paths.add("".join(stack))
    return paths


def package_tree() -> Set[str]:
    paths: Set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "simulator":  # listed as one entry: its own README-less world
            paths.add("simulator/")
            continue
        if relative.name == "__init__.py" and len(relative.parts) > 1:
            paths.add(relative.parent.as_posix() + "/")  # a subpackage is listed as its folder
            continue
        paths.add(relative.as_posix())
        if len(relative.parts) > 1:
            paths.add(relative.parent.as_posix() + "/")
    return paths


def test_readme_layout_is_the_tree() -> None:
    listed, actual = readme_tree(), package_tree()
    assert sorted(actual - listed) == [], "modules missing from README.md's Layout section"
    assert sorted(listed - actual) == [], "README.md's Layout section names modules that do not exist"


# The layers, lowest first: a module imports only from its own folder or a lower layer, so data
# flows one way (README "Layout"). The package's __init__ (the facade) is above everything.
LAYERS = (
    ("settings",),
    ("exceptions",),
    ("contract", "report"),
    ("config", "api", "incremental", "simulator"),
    ("extract", "load", "analyst"),
    ("source",),
    ("app",),
)


def layer_violations(graph: Dict[str, Set[str]]) -> List[str]:
    rank = {name: level for level, names in enumerate(LAYERS) for name in names}

    def place(module: str) -> tuple:
        parts = module.split(".")
        return (len(LAYERS), "") if len(parts) == 1 else (rank[parts[1]], parts[1])

    found = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            (level, folder), (target_level, target_folder) = place(module), place(target)
            if folder != target_folder and target_level >= level:
                found.append(f"{module} -> {target}")
    return found


def test_imports_flow_down_the_layers() -> None:
    assert layer_violations(import_graph()) == []


def test_layer_check_finds_an_upward_import() -> None:
    graph = {"bsg_campaigns.load.steps": {"bsg_campaigns.app.report"}, "bsg_campaigns.app.report": set()}
    assert layer_violations(graph) == ["bsg_campaigns.load.steps -> bsg_campaigns.app.report"]
