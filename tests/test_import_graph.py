"""The shape of the code, read from its imports: no cycles, stand-ins out of production.

Every import counts, those inside functions too (a lazy import is still a dependency),
resolved to our own modules by reading the source with `ast`; nothing is imported.
"""

from pathlib import Path

from deploy.lambda_package import imports_in

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "backend", "deploy")


def our_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that `name` imports, by the Lambda packager's own reading of imports
    (`from a import b` counts a and, where it is a module, a.b: importing a.b runs a)."""
    return {module for module in imports_in(path, name) if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read():
    graph = import_graph()
    assert "model.serve.decode" in graph["model.serve.runtime"]
    assert "backend.bots.x.client" in graph["backend.bots.x.poller"]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_production_code_never_imports_the_local_stand_ins():
    graph = import_graph()
    offenders = {name: sorted(target for target in targets if target.startswith("backend.local"))
                 for name, targets in graph.items() if not name.startswith("backend.local")}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_serving_never_imports_training_or_evaluation():
    graph = import_graph()
    offenders = {name: sorted(t for t in targets if t.startswith(("model.train", "model.eval")))
                 for name, targets in graph.items()
                 if name.startswith(("model.serve", "backend"))}
    assert {name: found for name, found in offenders.items() if found} == {}
