"""The hitl package's modules import one another without circles: every
import, at the top of a module or inside a function, goes one way."""
import ast
import os

import hitl


def package_graph():
    """module -> the package modules it imports (relative imports)."""
    pkg = os.path.dirname(hitl.__file__)
    names = {f[:-3] for f in os.listdir(pkg) if f.endswith(".py")}
    graph = {}
    for name in sorted(names):
        with open(os.path.join(pkg, name + ".py"), encoding="utf-8") as f:
            tree = ast.parse(f.read(), name)
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:                       # from . import _arrays
                    deps.update(a.name for a in node.names)
        graph[name] = sorted(d for d in deps & names if d != name)
    return graph


def find_circle(graph):
    """One circle of imports as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for dep in graph[node]:
            if state.get(dep) == "open":
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep, path + [dep])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in graph:
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_no_import_circles():
    graph = package_graph()
    assert "__init__" in graph and "_enums" in graph and "errors" in graph
    circle = find_circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_circle_finder_sees_one():
    """The check itself works: a circle through a function-level import."""
    assert find_circle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_circle({"a": ["b"], "b": []}) is None
