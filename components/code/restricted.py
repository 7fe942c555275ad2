"""The language of the code step: RestrictedPython compilation, guards and builtins.

Compiling (`check_code`, `compile_code`) is safe in any process: it never runs user code.
Building globals (`make_globals`) and running the result belongs in the sandbox child only.

RestrictedPython rewrites attribute access, item access, iteration, unpacking, in-place
operators and `print` into calls of the `_getattr_`, `_getitem_`, ... hooks defined here, and
refuses names starting with "_" at compile time. It is a language guard, not a security
boundary: the sandbox process limits around it are what contain an escape.
"""

from __future__ import annotations

import ast
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
    raise_,
    safer_getattr,
)

# The filename user code is compiled under: tracebacks are searched for it to find the line.
USER_FILENAME = "<code>"
ALLOWED_MODULES = (
    "base64",
    "collections",
    "datetime",
    "decimal",
    "hashlib",
    "itertools",
    "json",
    "math",
    "re",
    "uuid",
)
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
    try:
        result = compile_restricted_exec(source, filename=USER_FILENAME)
    except RecursionError:
        # The RestrictedPython transformer recurses once per level of the syntax tree.
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


def guarded_getattr(obj: Any, name: str, default: Any = _MISSING) -> Any:
    """Attribute reads, JS-style on dicts: `msg.body.user_id` reads keys.

    A present key wins over a dict method of the same name (`order.items` is the key when the
    order has one); otherwise dict methods work (`e.get("x")`) and an absent key reads as None.
    Names starting with "_" are always refused, so no dunder can be reached at run time either.
    """
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    if name.startswith("_"):
        raise AttributeError(f'"{name}" is not accessible: names starting with "_" are private')
    if isinstance(obj, dict):
        if name in obj:
            return _checked(obj[name])
        if not hasattr(type(obj), name):
            return None if default is _MISSING else default
    if isinstance(obj, types.ModuleType) and not _module_allowed(obj):
        raise AttributeError(f"module '{obj.__name__}' is not accessible")
    value = safer_getattr(obj, name, raise_ if default is _MISSING else default)
    return _checked(value)


def guarded_hasattr(obj: Any, name: str) -> bool:
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


def _module_allowed(module: types.ModuleType) -> bool:
    return module.__name__.partition(".")[0] in ALLOWED_MODULES


def _checked(value: Any) -> Any:
    # Allowed modules import others (uuid.os, datetime.sys): never hand those out.
    if isinstance(value, types.ModuleType) and not _module_allowed(value):
        raise AttributeError(f"module '{value.__name__}' is not accessible")
    return value


def guarded_import(
    name: str,
    globals: Any = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> types.ModuleType:
    """`import` of the curated modules only, served from modules the sandbox preloaded."""
    if isinstance(fromlist, list) and name in _INTERNAL_IMPORTS and name in sys.modules:
        return sys.modules[name]
    if level != 0 or name.partition(".")[0] not in ALLOWED_MODULES or name not in sys.modules:
        allowed = ", ".join(ALLOWED_MODULES)
        raise ImportError(f"import of '{name}' is not allowed (allowed modules: {allowed})")
    module = sys.modules[name]
    for attribute in fromlist or ():
        # The interpreter reads `from m import x` with a plain getattr, past `_getattr_`.
        value = getattr(module, attribute, None)
        if isinstance(value, types.ModuleType) and not _module_allowed(value):
            raise ImportError(f"import of '{name}.{attribute}' is not allowed")
    # `import a.b` binds `a`; `from a.b import c` needs `a.b` itself.
    return module if fromlist else sys.modules[name.partition(".")[0]]


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
        self._truncated = False

    def reset(self) -> list[str]:
        """Start a new message; returns the previous message's lines."""
        lines, self.lines, self._size, self._truncated = self.lines, [], 0, False
        return lines

    def add(self, text: str) -> None:
        if self._truncated:
            return
        size = len(text.encode("utf-8", "replace"))
        if self._size + size > LOG_LIMIT_BYTES:
            self._truncated = True
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
            self.parts.append(text + ("\n" if end is None else str(end)))
            sink.add(text)

        def __call__(self) -> str:
            # The value of the RestrictedPython name `printed`.
            return "".join(self.parts)

    return PrintCollector


def make_globals(sink: LogSink) -> dict[str, Any]:
    """Fresh module globals for one user program, logging into `sink`."""

    def log(*objects: Any, sep: Any = " ") -> None:
        sink.add(_join(objects, sep))

    builtins = dict(safe_builtins)
    for name in ("setattr", "delattr"):
        builtins.pop(name, None)
    builtins.update(
        {
            "__import__": guarded_import,
            "all": all,
            "any": any,
            "bytes": bytes,
            "dict": dict,
            "enumerate": enumerate,
            "filter": filter,
            "frozenset": frozenset,
            "getattr": guarded_getattr,
            "hasattr": guarded_hasattr,
            "iter": iter,
            "list": list,
            "log": log,
            "map": map,
            "max": max,
            "min": min,
            "next": next,
            "reversed": reversed,
            "set": set,
            "sorted": sorted,
            "sum": sum,
            "tuple": tuple,
            "zip": zip,
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
