"""The language policy as a whole: what user code can reach by reading attributes.

Instead of guessing escape paths one at a time, walk everything reachable from what user code
starts with (its builtins, the stand-in modules, and the objects typical calls return)
through every attribute name the guard lets it read, and check that nothing on the way is a
real module, a frame, code object or traceback, a dangerous builtin, or a mutable container
hanging off something shared between flows.
"""

from __future__ import annotations

import builtins
import types
from typing import Any

from components.code import modules, restricted

# Objects user code may create and then inspect; compiled and run as restricted code.
MAKE_SAMPLES = """
import base64, collections, datetime, decimal, hashlib, itertools, json, math, re, uuid

def gen():
    yield 1

def samples():
    P = collections.namedtuple("P", "a b")
    try:
        1 / 0
    except Exception as e:
        error = e
    try:
        [].nothing
    except AttributeError as e:
        attribute_error = e
    return {
        "decoder": json.JSONDecoder(), "encoder": json.JSONEncoder(),
        "pattern": re.compile("(a)(?P<n>b)"), "match": re.match("(a)", "a"),
        "finditer": re.finditer("a", "aa"), "scanner": re.compile("a").scanner("a"),
        "now": datetime.datetime.now(), "delta": datetime.timedelta(1),
        "utc": datetime.timezone.utc, "decimal": decimal.Decimal(1),
        "context": decimal.getcontext(), "localcontext": decimal.localcontext(),
        "hash": hashlib.sha256(), "uuid": uuid.uuid4(), "counter": collections.Counter("a"),
        "deque": collections.deque(), "ordered": collections.OrderedDict(),
        "default": collections.defaultdict(list), "chain": collections.ChainMap(),
        "userdict": collections.UserDict(), "userlist": collections.UserList(),
        "userstring": collections.UserString("x"), "tuple_class": P, "tuple": P(1, 2),
        "generator": gen(), "genexp": (x for x in []), "error": error,
        "attribute_error": attribute_error, "function": gen, "lambda": lambda: 1,
        "groupby": itertools.groupby("aab"), "tee": itertools.tee([1])[0],
        "views": [{}.keys(), {}.items(), {}.values()], "iterator": iter([]),
        "map": map(str, []), "range": range(3), "slice": slice(1), "complex": 1j,
        "bytes": b"x", "frozenset": frozenset(), "log": log,
    }

def run(msg):
    return None
"""

FORBIDDEN_TYPES = (types.ModuleType, types.FrameType, types.CodeType, types.TracebackType)
FORBIDDEN_OBJECTS = {
    id(getattr(builtins, name)): name
    for name in (
        "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr",
        "globals", "locals", "vars", "dir", "breakpoint", "input", "__build_class__",
        "memoryview", "super", "type", "object",
    )
}  # fmt: skip
# Per-instance containers user code made itself are fine; anything else mutable is shared.
OWN_CONTAINERS = {"memo", "maps", "data", "groupindex", "parents"}


def _roots() -> dict[str, Any]:
    modules.warm_up()
    namespace = restricted.make_globals(restricted.LogSink())
    exec(restricted.compile_code(MAKE_SAMPLES), namespace)
    roots: dict[str, Any] = {f"builtins.{k}": v for k, v in namespace["__builtins__"].items()}
    roots.update({f"import {k}": v for k, v in modules.sandbox_modules().items()})
    roots.update({f"sample.{k}": v for k, v in namespace["samples"]().items()})
    return roots


def _walk(roots: dict[str, Any], depth: int) -> tuple[int, list[str]]:
    seen: set[int] = set()
    findings: list[str] = []
    frontier = list(roots.items())
    for level in range(depth):
        following: list[tuple[str, Any]] = []
        for path, value in frontier:
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, FORBIDDEN_TYPES) and type(value) is not modules.SandboxModule:
                findings.append(f"{path}: {type(value).__name__}")
            if id(value) in FORBIDDEN_OBJECTS:
                findings.append(f"{path}: builtins.{FORBIDDEN_OBJECTS[id(value)]}")
            last = path.rpartition(".")[2]
            if level and isinstance(value, dict | list | set) and last not in OWN_CONTAINERS:
                findings.append(f"{path}: a mutable {type(value).__name__}")
            for name in dir(value):
                if name.startswith("_"):
                    continue
                try:
                    following.append((f"{path}.{name}", restricted.guarded_getattr(value, name)))
                except Exception:
                    continue
        frontier = following
    return len(seen), findings


def test_nothing_dangerous_is_reachable_by_reading_attributes() -> None:
    visited, findings = _walk(_roots(), depth=4)
    assert visited > 3000  # the walk really went somewhere
    assert findings == []


def test_the_stand_in_modules_hold_only_their_audited_names() -> None:
    for name, stand_in in modules.sandbox_modules().items():
        public = {k for k in vars(stand_in) if not k.startswith("_")}
        expected = set(modules.EXPOSED[name]) or public
        assert public == expected, name
        assert getattr(stand_in, "__spec__", None) is None
        assert getattr(stand_in, "__loader__", None) is None
