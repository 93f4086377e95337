"""The type stubs (`_bylaw.pyi`) describe exactly what the extension module has."""

import ast
from pathlib import Path

import bylaw
import bylaw._bylaw as native

STUB = Path(bylaw.__file__).with_name("_bylaw.pyi")


def stub_names():
    tree = ast.parse(STUB.read_text())
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            top.add(node.name)
            members[node.name] = {
                item.name if not isinstance(item, ast.AnnAssign) else item.target.id
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AnnAssign))
            }
        elif isinstance(node, ast.FunctionDef):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            top.add(node.target.id)
    return top, members


def public(names):
    return {n for n in names if not n.startswith("_")}


def test_the_package_ships_its_stubs_and_py_typed():
    assert STUB.exists()
    assert STUB.with_name("py.typed").exists()


def test_every_public_name_of_the_module_is_in_the_stubs_and_back():
    top, _ = stub_names()
    exported = public(dir(native))
    # Aliases the stubs define for readers (Request, Moment, Outcome) are not runtime names.
    assert exported <= top | {"__version__"}, exported - top
    assert public(top) - {"Request", "Moment", "Outcome"} == exported


def test_every_class_member_is_in_the_stubs_and_back():
    _, members = stub_names()
    for name, stubbed in members.items():
        if name in ("PolicyError", "GovernorError"):
            # Exceptions get their attributes when raised.
            continue
        runtime = public(dir(getattr(native, name)))
        assert runtime == public(stubbed) | ({"__init__"} & set()), (name, runtime ^ public(stubbed))
