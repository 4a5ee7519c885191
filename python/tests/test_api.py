"""The public API is documented and typed: every name of oclip.__all__ and every public method
of its classes has a docstring and a declaration in the type stubs (__init__.pyi)."""
import ast
import inspect
import os

import oclip


def stub_names():
    path = os.path.join(os.path.dirname(oclip.__file__), "__init__.pyi")
    with open(path) as f:
        tree = ast.parse(f.read())
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            top.add(node.target.id)
        elif isinstance(node, ast.Assign):
            top.update(t.id for t in node.targets if isinstance(t, ast.Name))
        if isinstance(node, ast.ClassDef):
            m = members.setdefault(node.name, set())
            for b in node.body:
                if isinstance(b, ast.FunctionDef):
                    m.add(b.name)
                elif isinstance(b, ast.AnnAssign) and isinstance(b.target, ast.Name):
                    m.add(b.target.id)
    return top, members


def public_members(cls):
    for k, v in vars(cls).items():
        if k.startswith("_") and k not in ("__init__", "__call__"):
            continue
        yield k, (v.fget if isinstance(v, property) else v)


def test_every_public_name_is_documented_and_typed():
    top, members = stub_names()
    for name in oclip.__all__:
        obj = getattr(oclip, name)
        assert name in top, "%s is not in __init__.pyi" % name
        if callable(obj):
            assert (obj.__doc__ or "").strip(), "%s has no docstring" % name
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for k, f in public_members(obj):
                assert k in members[name], "%s.%s is not in __init__.pyi" % (name, k)
                if callable(f):
                    assert (f.__doc__ or "").strip(), "%s.%s has no docstring" % (name, k)


def test_stub_declares_nothing_that_does_not_exist():
    top, members = stub_names()
    for name in top:
        if name.startswith("_"):
            continue  # types for checkers only (report dicts, argument unions)
        assert hasattr(oclip, name), "__init__.pyi declares %s, which oclip lacks" % name
    instances = {"CLIP": oclip.create_model(None), "Transform": oclip.Transform(224),
                 "Tokenizer": oclip.Tokenizer(), "Error": oclip.Error("m", "h", 1)}
    for cls, names in members.items():
        if cls.startswith("_"):
            continue
        obj = instances.get(cls, getattr(oclip, cls))
        for k in names:
            assert hasattr(obj, k), "__init__.pyi declares %s.%s, which oclip lacks" % (cls, k)
