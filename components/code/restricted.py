"""The language of the code step: RestrictedPython compilation, guards and builtins.

Compiling (`check_code`, `compile_code`) is safe in any process: it never runs user code.
Building globals (`make_globals`) and running the result belongs in the sandbox child only.

RestrictedPython rewrites attribute access, item access, iteration, unpacking, in-place
operators and `print` into calls of the `_getattr_`, `_getitem_`, ... hooks defined here, and
refuses names starting with "_" at compile time. On top of that policy this module refuses:
classes, `str.format`-style attribute traversal on any object, type introspection (`mro`),
ABC registration, `AttributeError.obj`, and handing out any real module, frame, code object
or traceback. Imports yield the audited stand-ins of `modules.py`.

It is a language guard, not a security boundary on its own: the audit hook and the process
confinement around it (`audit.py`, `confine.py`) are what contain an escape.
"""

from __future__ import annotations

import ast
import builtins as _builtins
import operator
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from RestrictedPython import compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from components.code.modules import ALLOWED_MODULES, EXPOSED, SandboxModule, sandbox_modules

# The filename user code is compiled under: tracebacks are searched for it to find the line.
USER_FILENAME = "<code>"
# Compiling happens in the web and worker processes too (check_code): bound its cost.
MAX_SOURCE_CHARS = 256 * 1024
# C code inside allowed modules imports through the running frame's `__import__`, which is
# guarded_import: datetime's strftime needs `time`, strptime needs `_strptime`. Such calls pass
# an empty *list* as fromlist; import statements pass None or a tuple, and user code cannot
# name `__import__` to call it directly.
_INTERNAL_IMPORTS = frozenset({"time", "_strptime"})
ENTRY_POINT = "run"
# Per message; a chatty loop must not turn a log into the memory or pipe bottleneck.
LOG_LIMIT_BYTES = 64 * 1024

_MISSING: Any = object()
_RESTRICTED_ERROR = re.compile(r"^Line (\d+): (.*)$", re.DOTALL)


@dataclass(frozen=True)
class CodeProblem:
    """A reason the code cannot run, found without running it."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class CodeCompileError(Exception):
    def __init__(self, problem: CodeProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def check_code(source: str) -> list[CodeProblem]:
    """Compile errors and language violations of `source`, in line order; [] when it can run.

    Never executes anything, so it is safe to call in the web or worker process.
    """
    return _compile(source)[1]


def compile_code(source: str) -> types.CodeType:
    """The module code object for `source`, or CodeCompileError naming the first problem."""
    code, problems = _compile(source)
    if code is None:
        raise CodeCompileError(problems[0])
    return code


def _compile(source: str) -> tuple[types.CodeType | None, list[CodeProblem]]:
    if not isinstance(source, str) or not source.strip():
        return None, [CodeProblem(None, "the code is empty: define a function run(msg)")]
    if len(source) > MAX_SOURCE_CHARS:
        limit = MAX_SOURCE_CHARS // 1024
        return None, [CodeProblem(None, f"the code is too long: more than {limit} KiB")]
    try:
        result = compile_restricted_exec(source, filename=USER_FILENAME)
    except (RecursionError, MemoryError):
        # The RestrictedPython transformer recurses once per level of the syntax tree; the
        # parser runs out of stack on thousands of nested unary operators.
        return None, [CodeProblem(None, "the code is nested too deeply")]
    except (ValueError, SyntaxError) as error:  # e.g. NUL bytes in the source
        line = getattr(error, "lineno", None)
        return None, [CodeProblem(line, f"{type(error).__name__}: {error}")]
    problems = [_parse_restricted_error(text) for text in result.errors]
    if not problems:
        problems = _shape_problems(source)
    if problems or result.code is None:
        return None, sorted(problems, key=_problem_order) or [CodeProblem(None, "invalid")]
    return result.code, []


def _problem_order(problem: CodeProblem) -> tuple[bool, int]:
    return (problem.line is None, problem.line or 0)


def _parse_restricted_error(text: str) -> CodeProblem:
    match = _RESTRICTED_ERROR.match(text)
    if match is None:
        return CodeProblem(None, text)
    return CodeProblem(int(match.group(1)), match.group(2).rstrip())


def _shape_problems(source: str) -> list[CodeProblem]:
    """Problems RestrictedPython accepts but that would only fail later, less clearly."""
    tree = ast.parse(source, USER_FILENAME)
    problems = [
        CodeProblem(node.lineno, "class definitions are not supported: use dicts instead")
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    ]
    if not any(_defines_entry_point(node) for node in tree.body):
        problems.append(CodeProblem(None, "the code must define a function run(msg)"))
    return problems


def _defines_entry_point(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef):
        return node.name == ENTRY_POINT
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == ENTRY_POINT for t in node.targets)
    return False


def error_line(error: BaseException) -> int | None:
    """The user-code line closest to where `error` was raised (None if not in user code)."""
    line = None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == USER_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None and isinstance(error, SyntaxError) and error.filename == USER_FILENAME:
        line = error.lineno
    return line


# --- guards -------------------------------------------------------------------------------


# Attribute names refused on every object, whatever its type, and why. `format`/`format_map`
# resolve "{0.attr}" fields with a plain getattr (str, but also collections.UserString, any
# proxy of a str); the others are string.Formatter's traversal methods (GHSA-xjw2-6jm9-rf67,
# GHSA-hp3v-5vw7-fx9w). RestrictedPython's INSPECT_ATTRIBUTES lead to frames and code
# (gi_frame, f_globals, tb_frame...; GHSA-wqc8-x2pr-7jqh). `mro()` leads to `object` and every
# base class; ABC `register()` would change isinstance() for every other program in the
# process. Refused by name, not by type: generic aliases (`list[int]`) and other proxies
# forward attribute reads to the class behind them.
_REFUSED_NAMES: dict[str, str] = {
    **{
        name: "not accessible: format strings can read attributes"
        for name in ("format", "format_map", "vformat", "get_field", "get_value")
    },
    **{
        name: "a restricted name, that is forbidden to access in RestrictedPython"
        for name in INSPECT_ATTRIBUTES
    },
    "mro": "not accessible: it leads to the base classes",
    "register": "not accessible: registering classes changes other programs' isinstance()",
}
# Values of these types are never handed out: they lead to globals, builtins, the import
# system or frames. Checked by type first, so the common values cost one set lookup.
_REFUSED_TYPES = (types.ModuleType, types.FrameType, types.CodeType, types.TracebackType)
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), dict, list, tuple})


def guarded_getattr(obj: Any, name: str, default: Any = _MISSING) -> Any:
    """Attribute reads, JS-style on dicts: `msg.body.user_id` reads keys.

    A present key wins over a dict method of the same name (`order.items` is the key when the
    order has one); otherwise dict methods work (`e.get("x")`) and an absent key reads as None.
    Names starting with "_" are always refused, so no dunder can be reached at run time either.
    Stricter than RestrictedPython's `safer_getattr`, whose checks it includes.
    """
    # The common case first, in as few steps as possible (a transform makes a few dozen such
    # reads per message): a key of a plain dict holding a plain value.
    if type(obj) is dict and type(name) is str and name in obj and name[:1] != "_":
        value = obj[name]
        return value if type(value) in _PLAIN_TYPES else _checked(value)
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name[:1] == "_":
        raise AttributeError(f'"{name}" is not accessible: names starting with "_" are private')
    if isinstance(obj, dict):
        if name in obj:
            return _checked(obj[name])
        if not hasattr(type(obj), name):
            return None if default is _MISSING else default
    reason = _REFUSED_NAMES.get(name)
    if reason is not None:
        raise AttributeError(f'"{name}" is {reason}')
    if name == "obj" and isinstance(obj, AttributeError):
        # The object a failed lookup was made on: maybe one user code never had.
        # GHSA-5rfv-66g4-jr8h
        raise AttributeError('"obj" is not accessible on AttributeError')
    value = getattr(obj, name) if default is _MISSING else getattr(obj, name, default)
    return _checked(value)


def guarded_hasattr(obj: Any, name: str) -> bool:
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


def _checked(value: Any) -> Any:
    if type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, _REFUSED_TYPES) and type(value) is not SandboxModule:
        kind = type(value).__name__
        raise AttributeError(f"a {kind} object is not accessible in the sandbox")
    return value


def guarded_import(
    name: str,
    globals: Any = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> types.ModuleType:
    """`import` of the curated modules only: the read-only stand-ins of `modules.py`."""
    if type(fromlist) is list and name in _INTERNAL_IMPORTS and name in sys.modules:
        # C code of an allowed module (datetime) importing through the caller's builtins;
        # the interpreter then takes the module from sys.modules, not from this return.
        return sys.modules[name]
    stand_ins = sandbox_modules()
    if level != 0 or type(name) is not str or name not in stand_ins:
        allowed = ", ".join(ALLOWED_MODULES)
        raise ImportError(f"import of '{name}' is not allowed (allowed modules: {allowed})")
    module = stand_ins[name]
    for attribute in fromlist or ():
        # The interpreter reads `from m import x` with a plain getattr, past `_getattr_`.
        if type(attribute) is not str or attribute.startswith("_"):
            raise ImportError(f"import of '{name}.{attribute}' is not allowed")
        if attribute not in module.__dict__ and f"{name}.{attribute}" not in EXPOSED:
            raise ImportError(f"import of '{name}.{attribute}' is not allowed")
    # `import a.b` binds `a`; `from a.b import c` needs `a.b` itself.
    return module if fromlist else stand_ins[name.partition(".")[0]]


class _DictWriter:
    """The `_write_` view of a dict: `props.email = x` sets a key, like `props["email"] = x`."""

    __slots__ = ("_target",)
    _target: dict[Any, Any]

    def __init__(self, target: dict[Any, Any]) -> None:
        object.__setattr__(self, "_target", target)

    def __setattr__(self, name: str, value: Any) -> None:
        self._target[name] = value

    def __delattr__(self, name: str) -> None:
        del self._target[name]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._target[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._target[key]


def guarded_write(obj: Any) -> Any:
    if isinstance(obj, dict):
        return _DictWriter(obj)
    # Lists pass through; anything else needs to declare guarded writes (nothing here does).
    return full_write_guard(obj)


def guarded_getitem(obj: Any, key: Any) -> Any:
    return _checked(obj[key])


_INPLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "^=": operator.ixor,
    "|=": operator.ior,
    "@=": operator.imatmul,
}


def guarded_inplacevar(op: str, left: Any, right: Any) -> Any:
    return _INPLACE_OPERATORS[op](left, right)


def guarded_apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


# --- print / log ---------------------------------------------------------------------------


class LogSink:
    """The log lines of the message being processed, capped at LOG_LIMIT_BYTES."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._size = 0
        self.truncated = False

    def reset(self) -> list[str]:
        """Start a new message; returns the previous message's lines."""
        lines, self.lines, self._size, self.truncated = self.lines, [], 0, False
        return lines

    def add(self, text: str) -> None:
        if self.truncated:
            return
        size = len(text.encode("utf-8", "replace"))
        if self._size + size > LOG_LIMIT_BYTES:
            self.truncated = True
            self.lines.append(f"... log truncated at {LOG_LIMIT_BYTES // 1024} KiB")
            return
        self._size += size
        self.lines.append(text)


def _join(objects: tuple[Any, ...], sep: Any) -> str:
    return (" " if sep is None else str(sep)).join(str(o) for o in objects)


def make_print_collector(sink: LogSink) -> type:
    """The `_print_` factory: RestrictedPython turns `print(...)` into `_print._call_print(...)`."""

    class PrintCollector:
        def __init__(self, _getattr_: Any = None) -> None:
            self.parts: list[str] = []

        def _call_print(
            self,
            *objects: Any,
            sep: Any = " ",
            end: Any = "\n",
            file: Any = None,
            flush: Any = False,
        ) -> None:
            if file is not None:
                raise TypeError("print(file=...) is not supported: printed lines go to the log")
            text = _join(objects, sep)
            if not sink.truncated:  # `printed` is capped like the log
                self.parts.append(text + ("\n" if end is None else str(end)))
            sink.add(text)

        def __call__(self) -> str:
            # The value of the RestrictedPython name `printed`.
            return "".join(self.parts)

    return PrintCollector


# The builtins user code sees, each a pure function of its arguments or a plain type; the
# exceptions are added below. Left out on purpose: type, object, super, vars, dir, globals,
# locals, getattr/setattr/delattr (a guarded getattr/hasattr is provided), open, input,
# print (rewritten to the log), compile, eval, exec, __import__ (guarded), __build_class__
# (no classes), breakpoint, help, id (addresses), memoryview, bytearray, classmethod,
# staticmethod, property.
_BUILTIN_NAMES = (
    "abs",
    "all",
    "any",
    "bool",
    "bytes",
    "callable",
    "chr",
    "complex",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "frozenset",
    "hash",
    "hex",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "oct",
    "ord",
    "pow",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "str",
    "sum",
    "tuple",
    "zip",
)
_EXCEPTIONS = {
    name: value
    for name, value in safe_builtins.items()
    if isinstance(value, type) and issubclass(value, BaseException)
}


def make_globals(sink: LogSink) -> dict[str, Any]:
    """Fresh module globals for one user program, logging into `sink`."""

    def log(*objects: Any, sep: Any = " ") -> None:
        sink.add(_join(objects, sep))

    builtins: dict[str, Any] = {name: getattr(_builtins, name) for name in _BUILTIN_NAMES}
    builtins.update(_EXCEPTIONS)
    builtins.update(
        {
            "__import__": guarded_import,
            "getattr": guarded_getattr,
            "hasattr": guarded_hasattr,
            "log": log,
        }
    )
    return {
        "__builtins__": builtins,
        "__name__": "transform",
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": iter,
        "_write_": guarded_write,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_inplacevar_": guarded_inplacevar,
        "_apply_": guarded_apply,
        "_print_": make_print_collector(sink),
    }
