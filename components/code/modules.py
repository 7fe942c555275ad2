"""The modules user code can import: audited, read-only stand-ins for the real ones.

`import json` in user code never hands out the real `json` module. It gets a `SandboxModule`
holding only the names listed in `EXPOSED` below, each one reviewed for what it reaches:

- no submodules or helper modules (`uuid.os`, `datetime.sys`, `base64.binascii`,
  `json.decoder`, `re._compiler`...), no loaders or `__spec__` (the stand-ins have neither);
- no process-wide mutable state: containers are copied frozen (`hashlib.algorithms_*`),
  decimal's template contexts are left out and the current decimal context is reset before
  every batch, so between flows (see `reset_shared_state`); ABC registration is refused by
  the attribute guard;
- nothing that touches files, the network, processes, stdout or the host's identity
  (`json.load`, `base64.encode`, `hashlib.file_digest`, `re.DEBUG`, `uuid.getnode`...);
  `uuid.uuid1` is replaced by one that never reads the MAC address;
- things that would need `compile`/`exec` at run time (`collections.namedtuple`) are wrapped.

CPU-heavy C functions (`math.factorial`, `hashlib.pbkdf2_hmac`, `decimal` at huge precision,
regular expressions) stay: the CPU limit, the kernel CPU limit and the wall clock bound them.

Only the sandbox process builds the stand-ins (`sandbox_modules`), after which nothing may
import anything: `warm_up` runs each lazily-importing function once beforehand.
"""

from __future__ import annotations

import collections
import decimal
import functools
import importlib
import os
import types
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from components.code import audit

# name -> the attributes user code may read. A submodule is exposed as its own entry.
EXPOSED: dict[str, tuple[str, ...]] = {
    "base64": (
        "b64encode",
        "b64decode",
        "standard_b64encode",
        "standard_b64decode",
        "urlsafe_b64encode",
        "urlsafe_b64decode",
        "b32encode",
        "b32decode",
        "b32hexencode",
        "b32hexdecode",
        "b16encode",
        "b16decode",
        "a85encode",
        "a85decode",
        "b85encode",
        "b85decode",
        "encodebytes",
        "decodebytes",
    ),
    "collections": (
        "ChainMap",
        "Counter",
        "OrderedDict",
        "UserDict",
        "UserList",
        "UserString",
        "defaultdict",
        "deque",
        "namedtuple",  # wrapped: see _namedtuple
        "abc",
    ),
    "collections.abc": (
        "Callable",
        "Collection",
        "Container",
        "Hashable",
        "ItemsView",
        "Iterable",
        "Iterator",
        "KeysView",
        "Mapping",
        "MappingView",
        "MutableMapping",
        "MutableSequence",
        "MutableSet",
        "Reversible",
        "Sequence",
        "Set",
        "Sized",
        "ValuesView",
    ),
    "datetime": (
        "MAXYEAR",
        "MINYEAR",
        "UTC",
        "date",
        "datetime",
        "time",
        "timedelta",
        "timezone",
        "tzinfo",
    ),
    "decimal": (
        "Clamped",
        "Context",
        "ConversionSyntax",
        "Decimal",
        "DecimalException",
        "DecimalTuple",
        "DivisionByZero",
        "DivisionImpossible",
        "DivisionUndefined",
        "FloatOperation",
        "Inexact",
        "InvalidContext",
        "InvalidOperation",
        "MAX_EMAX",
        "MAX_PREC",
        "MIN_EMIN",
        "MIN_ETINY",
        "Overflow",
        "ROUND_05UP",
        "ROUND_CEILING",
        "ROUND_DOWN",
        "ROUND_FLOOR",
        "ROUND_HALF_DOWN",
        "ROUND_HALF_EVEN",
        "ROUND_HALF_UP",
        "ROUND_UP",
        "Rounded",
        "Subnormal",
        "Underflow",
        "getcontext",
        "localcontext",
        "setcontext",
    ),
    "hashlib": (
        "algorithms_available",  # frozen copy
        "algorithms_guaranteed",  # frozen copy
        "blake2b",
        "blake2s",
        "md5",
        "new",
        "pbkdf2_hmac",
        "scrypt",
        "sha1",
        "sha224",
        "sha256",
        "sha384",
        "sha3_224",
        "sha3_256",
        "sha3_384",
        "sha3_512",
        "sha512",
        "shake_128",
        "shake_256",
    ),
    "itertools": (
        "accumulate",
        "chain",
        "combinations",
        "combinations_with_replacement",
        "compress",
        "count",
        "cycle",
        "dropwhile",
        "filterfalse",
        "groupby",
        "islice",
        "pairwise",
        "permutations",
        "product",
        "repeat",
        "starmap",
        "takewhile",
        "tee",
        "zip_longest",
    ),
    "json": ("JSONDecodeError", "JSONDecoder", "JSONEncoder", "dumps", "loads"),
    "math": (),  # every public name: functions of numbers and constants only
    "re": (
        "A",
        "ASCII",
        "DOTALL",
        "I",
        "IGNORECASE",
        "L",
        "LOCALE",
        "M",
        "MULTILINE",
        "Match",
        "NOFLAG",
        "Pattern",
        "RegexFlag",
        "S",
        "U",
        "UNICODE",
        "VERBOSE",
        "X",
        "compile",
        "error",
        "escape",
        "findall",
        "finditer",
        "fullmatch",
        "match",
        "purge",
        "search",
        "split",
        "sub",
        "subn",
    ),
    "uuid": (
        "NAMESPACE_DNS",
        "NAMESPACE_OID",
        "NAMESPACE_URL",
        "NAMESPACE_X500",
        "RESERVED_FUTURE",
        "RESERVED_MICROSOFT",
        "RESERVED_NCS",
        "RFC_4122",
        "SafeUUID",
        "UUID",
        "uuid1",  # replaced: see _uuid1
        "uuid3",
        "uuid4",
        "uuid5",
    ),
}
# The names `import x` accepts: the top-level modules (submodules come through them).
ALLOWED_MODULES = tuple(sorted(name for name in EXPOSED if "." not in name))


class SandboxModule(types.ModuleType):
    """A read-only stand-in for an allowed module, holding only its audited names.

    A module instance, so `import`, `from m import x` and attribute reads work as usual. User
    code cannot write to it: attribute writes go through the `_write_` guard, which refuses
    anything that is not a dict or a list.
    """

    def __repr__(self) -> str:
        return f"<module {self.__name__!r} (sandboxed)>"

    def __getattr__(self, name: str) -> Any:
        # Only reached when the name is not one of the audited ones.
        raise AttributeError(
            f"module '{self.__name__}' has no attribute '{name}' (not accessible in the sandbox)"
        )


def _namedtuple(
    typename: str,
    field_names: str | Iterable[str],
    *,
    rename: bool = False,
    defaults: Iterable[Any] | None = None,
    module: str | None = None,
) -> type:
    """collections.namedtuple, whose class template needs `eval`: run as trusted code.

    The user's iterables are consumed *before* the trusted section, so no user code (a
    generator passed as `defaults`) can run while compile/exec are allowed.
    """
    if isinstance(field_names, str):
        names = field_names.replace(",", " ").split()
    else:
        names = [str(name) for name in field_names]
    frozen_defaults = None if defaults is None else tuple(defaults)
    with audit.GATE.trust():
        return collections.namedtuple(
            str(typename),
            names,
            rename=bool(rename),
            defaults=frozen_defaults,
            module="transform",
        )


def _uuid1(node: int | None = None, clock_seq: int | None = None) -> uuid.UUID:
    """uuid.uuid1 without the host's MAC address: a random node, multicast bit set (RFC 4122)."""
    if node is None:
        node = int.from_bytes(os.urandom(6), "big") | (1 << 40)
    return uuid.uuid1(node=node, clock_seq=clock_seq)


_REPLACEMENTS: dict[tuple[str, str], Callable[[Any], Any]] = {
    ("collections", "namedtuple"): lambda _: _namedtuple,
    ("uuid", "uuid1"): lambda _: _uuid1,
    ("hashlib", "algorithms_available"): frozenset,
    ("hashlib", "algorithms_guaranteed"): frozenset,
}


@functools.cache
def sandbox_modules() -> dict[str, SandboxModule]:
    """The stand-ins by dotted name, built once per process (they are immutable)."""
    built: dict[str, SandboxModule] = {}
    for name in sorted(EXPOSED, key=lambda n: n.count(".")):
        real = importlib.import_module(name)
        stand_in = SandboxModule(name, getattr(real, "__doc__", None))
        names = EXPOSED[name] or tuple(n for n in dir(real) if not n.startswith("_"))
        for attribute in names:
            if f"{name}.{attribute}" in EXPOSED:
                continue  # a submodule: set below, once built
            value = getattr(real, attribute)
            replace = _REPLACEMENTS.get((name, attribute))
            setattr(stand_in, attribute, replace(value) if replace else value)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(built[parent], child, stand_in)
        built[name] = stand_in
    return built


# The decimal context new messages start from; a private template, never handed out.
_DECIMAL_DEFAULT = decimal.Context()


def reset_shared_state() -> None:
    """Undo what one program may have changed in process-wide state other programs see.

    The current decimal context is per thread, so `decimal.setcontext(...)` or
    `decimal.getcontext().clear_traps()` in one flow would otherwise change another flow's
    arithmetic.
    """
    decimal.setcontext(_DECIMAL_DEFAULT.copy())


def warm_up() -> None:
    """Call once what imports or opens something lazily, before the audit hook is armed.

    `strptime` imports `_strptime` (and `calendar`, `locale`); `Counter.most_common` imports
    `heapq`; random clock sequences import `random`; the first local-time conversion reads
    the time zone file; base85 builds its tables.
    """
    import base64
    import datetime
    import hashlib
    import json
    import re

    datetime.datetime.strptime("2024-01-02 03:04:05", "%Y-%m-%d %H:%M:%S")
    now = datetime.datetime.now()
    now.astimezone()
    now.strftime("%c %x %X %Z %z %a %b")
    datetime.datetime.fromtimestamp(0)
    collections.Counter("aab").most_common(1)
    _uuid1()
    uuid.uuid4()
    for algorithm in sorted(hashlib.algorithms_guaranteed):
        hashlib.new(algorithm, b"x").copy()  # shake_* digests need a length: creating is enough
    hashlib.pbkdf2_hmac("sha256", b"x", b"salt", 1)
    hashlib.scrypt(b"x", salt=b"salt", n=2, r=1, p=1)
    base64.a85encode(b"x")
    base64.b85encode(b"x")
    base64.b32encode(b"x")
    json.dumps({"a": [1.5, None]}, indent=2, sort_keys=True)
    json.loads('{"a": [1e400, -0.0]}')
    re.compile(r"(?P<x>\w+)@(?i:A)").sub(lambda m: m.group(0), "a@a")
    format(decimal.Decimal("1234.5"), ",.2f")
    for text in ("é", "x"):
        for encoding in ("utf-8", "ascii", "latin-1", "utf-16", "utf-32"):
            text.encode(encoding, "replace").decode(encoding, "replace")
    sandbox_modules()
    reset_shared_state()
