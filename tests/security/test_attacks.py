"""Attacks on the code step's sandbox, through the real component and real sandbox processes.

Each case is a distinct attack, written from its published description (RestrictedPython
advisories are named by GHSA id) or from the classic Python jail-escape repertoire. Every
case checks that the attack fails with a specific, readable error on its own message and
that the next (benign) message on the same pool is processed normally.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.base import ConfigError
from components.code import check_code, run_code
from components.code.sandbox import shutdown_pools
from tests.security.harness import (
    HARNESS,
    LIMITS,
    SLOW_LIMITS,
    SLOW_SETTINGS,
    action,
    assert_benign_works,
    assert_pool_serves,
    assert_refused,
    attack_then_benign,
    message,
)


@pytest.fixture(scope="module", autouse=True)
def _stop_sandboxes() -> Iterator[None]:
    yield
    shutdown_pools()


PRIVATE = 'names starting with "_" are private'


def case(id: str, code: str, expected: str) -> pytest.param:  # type: ignore[valid-type]
    return pytest.param(code, expected, id=id)


# --- refused when the flow is saved (compile time) -------------------------------------------

COMPILE_TIME = [
    case(
        "GHSA-wqc8-x2pr-7jqh-generator-gi_frame-f_back-f_globals",
        "def gen():\n    yield 1\n\n"
        "def attack(msg):\n    return {'g': str(gen().gi_frame.f_back.f_back.f_globals)}\n",
        '"gi_frame" is a restricted name',
    ),
    case(
        "GHSA-wqc8-x2pr-7jqh-traceback-tb_frame",
        "def attack(msg):\n    try:\n        1 / 0\n    except Exception as e:\n"
        "        return {'f': str(e.__traceback__.tb_frame.f_globals)}\n",
        '"__traceback__" is an invalid attribute name',
    ),
    case(
        "GHSA-gmj9-h825-chq2-try-except-star",
        "def attack(msg):\n    try:\n        raise ValueError()\n"
        "    except* ValueError as group:\n        return {'g': str(group)}\n",
        "TryStar statements are not allowed",
    ),
    case(
        "GHSA-gmj9-h825-chq2-exception-group-subclass-split",
        "class Evil(Exception):\n    def split(self, *args):\n        return 1.5j\n\n"
        "def attack(msg):\n    raise Evil()\n",
        "class definitions are not supported",
    ),
    case(
        "GHSA-ffg3-p8fm-mjx2-positional-only-shadows-_write_",
        "import json\n\ndef poison(_write_=lambda o: o, /):\n    json.dumps = None\n\n"
        "def attack(msg):\n    poison()\n",
        '"_write_" is an invalid variable name',
    ),
    case(
        "GHSA-ffg3-p8fm-mjx2-positional-only-lambda-shadows-_getattr_",
        "peek = lambda o, _getattr_=getattr, /: o.__class__\n\n"
        "def attack(msg):\n    return {'c': str(peek(msg))}\n",
        '"_getattr_" is an invalid variable name',
    ),
    case(
        "RestrictedPython-8.5-async-generator-ag_frame",
        "async def agen():\n    yield 1\n\n"
        "def attack(msg):\n    return {'f': str(agen().ag_frame)}\n",
        "AsyncFunctionDef statements are not allowed",
    ),
    case(
        "jail-object-subclasses-walk",
        "def attack(msg):\n    return {'s': str(().__class__.__bases__[0].__subclasses__())}\n",
        '"__class__" is an invalid attribute name',
    ),
    case(
        "jail-function-globals",
        "def attack(msg):\n    return {'g': str(attack.__globals__['__builtins__'])}\n",
        '"__globals__" is an invalid attribute name',
    ),
    case(
        "jail-builtins-name",
        "def attack(msg):\n    return {'o': __builtins__['open']('/etc/passwd').read()}\n",
        '"__builtins__" is an invalid variable name',
    ),
    case(
        "jail-dunder-import",
        "def attack(msg):\n    return {'o': __import__('os').popen('id').read()}\n",
        '"__import__" is an invalid variable name',
    ),
    case(
        "jail-exec-call",
        "def attack(msg):\n    exec(\"import os; os.system('id')\")\n",
        "Exec calls are not allowed",
    ),
    case(
        "jail-eval-call",
        "def attack(msg):\n    return {'v': eval(\"__import__('os').getcwd()\")}\n",
        "Eval calls are not allowed",
    ),
    case(
        "jail-class-with-metaclass",
        "def attack(msg):\n    class Meta(type):\n        pass\n    return {}\n",
        "class definitions are not supported",
    ),
    case(
        "jail-fstring-dunder-attribute",
        "def attack(msg):\n    return {'c': f'{msg.__class__.__mro__}'}\n",
        '"__class__" is an invalid attribute name',
    ),
    case(
        "jail-fstring-format-spec-attribute",
        "def attack(msg):\n    return {'c': f'{msg:{msg.__class__}}'}\n",
        '"__class__" is an invalid attribute name',
    ),
    case(
        "jail-reduce-ex-pickle-protocol",
        "def attack(msg):\n    return {'r': str(msg.__reduce_ex__(2))}\n",
        '"__reduce_ex__" is an invalid attribute name',
    ),
    case(
        "jail-thread-module-private-import",
        "import _thread\n\ndef attack(msg):\n    _thread.start_new_thread(print, ())\n",
        '"_thread" is an invalid variable name',
    ),
    case(
        "jail-breakpoint",
        "def attack(msg):\n    breakpoint()\n",
        '"breakpoint" is a reserved name',
    ),
    case(
        "jail-import-builtins",
        "import builtins\n\n"
        "def attack(msg):\n    return {'o': builtins.open('/etc/passwd').read()}\n",
        '"builtins" is a reserved name',
    ),
    case(
        "module-re-private-compiler",
        "from re import _compiler\n\ndef attack(msg):\n    return {'c': str(_compiler)}\n",
        '"_compiler" is an invalid variable name',
    ),
    case(
        "module-dict-of-stand-in",
        "import json\n\ndef attack(msg):\n    return {'d': str(json.__dict__)}\n",
        '"__dict__" is an invalid attribute name',
    ),
]


@pytest.mark.parametrize(("code", "expected"), COMPILE_TIME)
def test_refused_when_saved_and_in_the_sandbox(code: str, expected: str) -> None:
    source = code + HARNESS
    problems = check_code(source)
    assert problems, "the code was accepted"
    assert any(expected in problem.message for problem in problems), problems
    with pytest.raises(ConfigError) as raised:
        action(source)
    assert raised.value.field == "code"
    # The sandbox compiles again before running (a stale flow, the editor's run button).
    result = run_code(source, {"body": {"attack": True}}, limits=LIMITS)
    assert result.error == str(problems[0])
    assert result.outputs == []
    assert_pool_serves()


# --- refused while running (the guards, the stand-in modules, the audit hook) ---------------

RUN_TIME = [
    # RestrictedPython advisories, from their descriptions
    case(
        "GHSA-wqc8-x2pr-7jqh-getattr-computed-gi_frame",
        "def gen():\n    yield 1\n\n"
        "def attack(msg):\n    return {'f': str(getattr(gen(), 'gi' + '_frame'))}\n",
        '"gi_frame" is a restricted name',
    ),
    case(
        "GHSA-wqc8-x2pr-7jqh-generator-expression-gi_code",
        "def attack(msg):\n    return {'c': str(getattr((x for x in []), 'gi_code'))}\n",
        '"gi_code" is a restricted name',
    ),
    case(
        "GHSA-wqc8-x2pr-7jqh-getattr-traceback",
        "def attack(msg):\n    try:\n        1 / 0\n    except Exception as e:\n"
        "        return {'t': str(getattr(e, '__traceback__'))}\n",
        PRIVATE,
    ),
    case(
        "GHSA-xjw2-6jm9-rf67-str-format-attribute-chain",
        "def attack(msg):\n    return {'c': '{0.__class__.__mro__}'.format(msg)}\n",
        '"format" is not accessible',
    ),
    case(
        "GHSA-xjw2-6jm9-rf67-str-format_map",
        "def attack(msg):\n    return {'c': '{m.__class__}'.format_map({'m': msg})}\n",
        '"format_map" is not accessible',
    ),
    case(
        "GHSA-xjw2-6jm9-rf67-format-through-the-str-type",
        "def attack(msg):\n    return {'c': getattr(str, 'format')('{0.__class__}', msg)}\n",
        '"format" is not accessible',
    ),
    case(
        "GHSA-xjw2-6jm9-rf67-format-through-collections-UserString",
        "import collections\n\n"
        "def attack(msg):\n"
        "    return {'c': collections.UserString('{0.__class__.__base__}').format(msg)}\n",
        '"format" is not accessible',
    ),
    case(
        "GHSA-hp3v-5vw7-fx9w-string-Formatter-vformat",
        "def attack(msg):\n    from string import Formatter\n"
        "    return {'c': Formatter().vformat('{0.__class__}', [msg], {})}\n",
        "import of 'string' is not allowed",
    ),
    case(
        "GHSA-5rfv-66g4-jr8h-AttributeError-obj",
        "def attack(msg):\n    try:\n        [].nothing\n    except AttributeError as e:\n"
        "        return {'o': str(e.obj)}\n",
        '"obj" is not accessible on AttributeError',
    ),
    case(
        "GHSA-5rfv-66g4-jr8h-string-module",
        "def attack(msg):\n    import string\n    return {'s': str(string.Formatter)}\n",
        "import of 'string' is not allowed",
    ),
    case(
        "GHSA-gmj9-h825-chq2-ExceptionGroup-builtin",
        "def attack(msg):\n    raise ExceptionGroup('x', [ValueError()])\n",
        "name 'ExceptionGroup' is not defined",
    ),
    case(
        "RestrictedPython-issue-142-getattr-subclasses-chain",
        "def attack(msg):\n"
        "    base = getattr(getattr([], '__class__'), '__base__')\n"
        "    return {'s': str(getattr(base, '__subclasses__')())}\n",
        PRIVATE,
    ),
    case(
        "RestrictedPython-7.2-getattr-with-a-str-lookalike-name",
        "import collections\n\n"
        "def attack(msg):\n"
        "    return {'c': str(getattr(msg, collections.UserString('__class__')))}\n",
        "attribute name must be a string",
    ),
    # classic Python jail escapes
    case(
        "jail-computed-dunder-name",
        "def attack(msg):\n    return {'c': str(getattr((), '_' + '_class_' + '_'))}\n",
        PRIVATE,
    ),
    case(
        "jail-getattr-function-globals",
        "def attack(msg):\n    return {'g': str(getattr(attack, '__globals__'))}\n",
        PRIVATE,
    ),
    case(
        "jail-star-args-getattr",
        "def attack(msg):\n    return {'c': str(getattr(*[msg, '__class__']))}\n",
        PRIVATE,
    ),
    case(
        "jail-decorator-reads-globals",
        "def attack(msg):\n    @lambda fn: getattr(fn, '__globals__')\n    def victim():\n"
        "        pass\n    return {'g': str(victim)}\n",
        PRIVATE,
    ),
    case(
        "jail-fstring-repr-conversion-of-getattr",
        "def attack(msg):\n    return {'c': f\"{getattr(msg, '__class__')!r}\"}\n",
        PRIVATE,
    ),
    case(
        "jail-type-call-dunder",
        "def attack(msg):\n    return {'c': str(getattr(int, '__call__'))}\n",
        PRIVATE,
    ),
    case(
        "jail-mro-to-object",
        "def attack(msg):\n    return {'o': str(int.mro()[-1])}\n",
        '"mro" is not accessible',
    ),
    case(
        "jail-mro-through-a-generic-alias",
        "def attack(msg):\n    return {'o': str(list[int].mro()[-1])}\n",
        '"mro" is not accessible',
    ),
    case(
        "jail-three-argument-type",
        "def attack(msg):\n    return {'t': str(type('X', (), {}))}\n",
        "name 'type' is not defined",
    ),
    case("jail-super", "def attack(msg):\n    super()\n", "name 'super' is not defined"),
    case("jail-help", "def attack(msg):\n    help()\n", "name 'help' is not defined"),
    case("jail-license", "def attack(msg):\n    license()\n", "name 'license' is not defined"),
    case("jail-exit", "def attack(msg):\n    exit(3)\n", "name 'exit' is not defined"),
    case(
        "jail-open-read",
        "def attack(msg):\n    return {'p': open('/etc/passwd').read()}\n",
        "name 'open' is not defined",
    ),
    case(
        "jail-compile-builtin",
        "def attack(msg):\n    return {'c': str(compile('1', 'x', 'eval'))}\n",
        "name 'compile' is not defined",
    ),
    case(
        "jail-globals",
        "def attack(msg):\n    return {'g': str(globals())}\n",
        "name 'globals' is not defined",
    ),
    case(
        "jail-locals",
        "def attack(msg):\n    return {'l': str(locals())}\n",
        "name 'locals' is not defined",
    ),
    case(
        "jail-vars",
        "def attack(msg):\n    return {'v': str(vars(msg))}\n",
        "name 'vars' is not defined",
    ),
    case(
        "jail-dir",
        "def attack(msg):\n    return {'d': dir(msg)}\n",
        "name 'dir' is not defined",
    ),
    case(
        "jail-memoryview",
        "def attack(msg):\n    return {'m': str(memoryview(b'x'))}\n",
        "name 'memoryview' is not defined",
    ),
    case(
        "jail-bytearray",
        "def attack(msg):\n    return {'b': str(bytearray(8))}\n",
        "name 'bytearray' is not defined",
    ),
    case(
        "jail-id-address-leak",
        "def attack(msg):\n    return {'a': id(msg)}\n",
        "name 'id' is not defined",
    ),
    case(
        "jail-setattr-builtin",
        "import json\n\ndef attack(msg):\n    setattr(json, 'dumps', None)\n",
        "name 'setattr' is not defined",
    ),
    case(
        "jail-module-poisoning-by-assignment",
        "import json\n\ndef attack(msg):\n    json.dumps = lambda *a, **k: 'pwned'\n",
        "attribute-less object",
    ),
    case(
        "jail-print-to-a-file-object",
        "def attack(msg):\n    print('x', file=msg)\n",
        "print(file=...) is not supported",
    ),
    case(
        "jail-pickle-import",
        "def attack(msg):\n    import pickle\n",
        "import of 'pickle' is not allowed",
    ),
    case(
        "jail-operator-attrgetter",
        "def attack(msg):\n    import operator\n"
        "    return {'c': str(operator.attrgetter('__class__')(msg))}\n",
        "import of 'operator' is not allowed",
    ),
    *[
        case(
            f"jail-import-{module}",
            f"def attack(msg):\n    import {module}\n    return {{'m': str({module})}}\n",
            f"import of '{module}' is not allowed",
        )
        for module in ("os", "sys", "importlib", "ctypes", "gc", "inspect")
    ],
    # escapes through the allowed modules
    case(
        "module-datetime-sys",
        "import datetime\n\ndef attack(msg):\n    return {'m': str(datetime.sys.modules['os'])}\n",
        "module 'datetime' has no attribute 'sys' (not accessible in the sandbox)",
    ),
    case(
        "module-datetime-capi-capsule",
        "import datetime\n\ndef attack(msg):\n    return {'c': str(datetime.datetime_CAPI)}\n",
        "has no attribute 'datetime_CAPI'",
    ),
    case(
        "module-uuid-os",
        "import uuid\n\ndef attack(msg):\n    return {'e': str(uuid.os.environ)}\n",
        "has no attribute 'os'",
    ),
    case(
        "module-from-uuid-import-os",
        "def attack(msg):\n    from uuid import os\n    return {'e': str(os.environ)}\n",
        "import of 'uuid.os' is not allowed",
    ),
    case(
        "module-uuid-getnode-host-mac",
        "import uuid\n\ndef attack(msg):\n    return {'mac': uuid.getnode()}\n",
        "has no attribute 'getnode'",
    ),
    case(
        "module-json-decoder-scanner",
        "import json\n\ndef attack(msg):\n    return {'s': str(json.decoder.scanner)}\n",
        "has no attribute 'decoder'",
    ),
    case(
        "module-import-json-submodule",
        "def attack(msg):\n    import json.decoder\n    return {'s': str(json.decoder)}\n",
        "import of 'json.decoder' is not allowed",
    ),
    case(
        "module-json-method-globals",
        "import json\n\n"
        "def attack(msg):\n"
        "    return {'g': str(getattr(json.JSONDecoder().parse_object, '__globals__'))}\n",
        PRIVATE,
    ),
    case(
        "module-spec-and-loader",
        "import math\n\ndef attack(msg):\n    return {'l': str(getattr(math, '__loader__'))}\n",
        PRIVATE,
    ),
    case(
        "module-re-helper-modules",
        "import re\n\ndef attack(msg):\n    return {'e': str(re.enum), 'f': str(re.functools)}\n",
        "has no attribute 'enum'",
    ),
    case(
        "module-base64-binascii",
        "import base64\n\ndef attack(msg):\n    return {'b': str(base64.binascii)}\n",
        "has no attribute 'binascii'",
    ),
    case(
        "module-hashlib-file-digest",
        "import hashlib\n\ndef attack(msg):\n    return {'f': str(hashlib.file_digest)}\n",
        "has no attribute 'file_digest'",
    ),
    case(
        "module-hashlib-shared-set-mutation",
        "import hashlib\n\ndef attack(msg):\n    hashlib.algorithms_available.add('evil')\n",
        "'frozenset' object has no attribute 'add'",
    ),
    case(
        "module-collections-private-sys",
        "import collections\n\n"
        "def attack(msg):\n    return {'s': str(getattr(collections, '_sys'))}\n",
        PRIVATE,
    ),
    case(
        "module-collections-abc-register",
        "import collections.abc\n\ndef attack(msg):\n    collections.abc.Mapping.register(list)\n",
        '"register" is not accessible',
    ),
    case(
        "module-collections-abc-register-through-a-generic-alias",
        "import collections.abc\n\n"
        "def attack(msg):\n    collections.abc.Mapping[str, int].register(list)\n",
        '"register" is not accessible',
    ),
    case(
        "module-collections-namedtuple-template-injection",
        "import collections\n\n"
        "def attack(msg):\n"
        "    collections.namedtuple('P', \"a): __import__('os').system('id') #\")\n",
        "must be valid identifiers",
    ),
    case(
        "module-decimal-default-context-poisoning",
        "import decimal\n\ndef attack(msg):\n    decimal.DefaultContext.clear_traps()\n",
        "has no attribute 'DefaultContext'",
    ),
    case(
        "module-decimal-context-write",
        "import decimal\n\ndef attack(msg):\n    decimal.getcontext().prec = 1\n",
        "attribute-less object",
    ),
    case(
        "module-lazy-import-through-a-codec",
        "def attack(msg):\n    return {'b': str('x'.encode('cp1252'))}\n",
        "sandbox violation: import (encodings.cp1252) is not permitted",
    ),
    case(
        "module-swallowed-violation-still-fails",
        "def attack(msg):\n    try:\n        'x'.encode('cp437')\n    except BaseException:\n"
        "        pass\n    return {'quiet': True}\n",
        "sandbox violation: import (encodings.cp437) is not permitted",
    ),
    # data leaks
    case(
        "leak-django-settings",
        "def attack(msg):\n    import config.settings\n",
        "import of 'config.settings' is not allowed",
    ),
    case(
        "leak-orm",
        "def attack(msg):\n    from flows.models import Credential\n",
        "import of 'flows.models' is not allowed",
    ),
    case(
        "leak-another-programs-module",
        "def attack(msg):\n    import transform\n",
        "import of 'transform' is not allowed",
    ),
    # side effects
    case(
        "effect-file-write",
        "def attack(msg):\n    open('/tmp/tributary-owned', 'w').write('x')\n",
        "name 'open' is not defined",
    ),
    *[
        case(
            f"effect-import-{module}",
            f"def attack(msg):\n    import {module}\n",
            f"import of '{module}' is not allowed",
        )
        for module in ("socket", "subprocess", "signal", "threading", "shutil", "time")
    ],
]


@pytest.mark.parametrize(("code", "expected"), RUN_TIME)
def test_refused_while_running(code: str, expected: str) -> None:
    attacked, benign = attack_then_benign(code)
    assert_refused(attacked, expected)
    assert_benign_works(benign)


# --- denial of service -----------------------------------------------------------------------

DENIAL_OF_SERVICE = [
    case("dos-cpu-loop", "def attack(msg):\n    while True:\n        pass\n", "time limit"),
    case(
        "dos-cpu-limit-swallowed-forever",
        "def attack(msg):\n    while True:\n        try:\n            while True:\n"
        "                pass\n        except BaseException:\n            pass\n",
        "time limit exceeded",
    ),
    case(
        "dos-regex-catastrophic-backtracking",
        "import re\n\n"
        "def attack(msg):\n    return {'m': bool(re.match(r'(a+)+$', 'a' * 64 + 'b'))}\n",
        "time limit exceeded: more than 0.5 s of CPU",
    ),
    case(
        "dos-big-integer-power",
        "def attack(msg):\n    return {'n': 10 ** 10 ** 8 > 0}\n",
        "time limit exceeded: more than 0.5 s of CPU",
    ),
    case(
        "dos-string-repeat",
        "def attack(msg):\n    return {'s': len('a' * 10 ** 10)}\n",
        "memory limit exceeded",
    ),
    case(
        "dos-memory-growth",
        "def attack(msg):\n    hoard = []\n    while True:\n        hoard.append('x' * 10 ** 6)\n",
        "memory limit exceeded",
    ),
    case(
        "dos-str-ljust",
        "def attack(msg):\n    return {'s': len('a'.ljust(10 ** 10))}\n",
        "memory limit exceeded",
    ),
    case(
        "dos-deep-recursion",
        "def down(n):\n    return down(n + 1)\n\ndef attack(msg):\n    return down(0)\n",
        "RecursionError",
    ),
    case(
        "dos-huge-output",
        "def attack(msg):\n    return {'x': 'a' * 2_000_000}\n",
        "output too large",
    ),
    case(
        "dos-circular-output",
        "def attack(msg):\n    loop = []\n    loop.append(loop)\n    return {'x': loop}\n",
        "not JSON-serialisable",
    ),
    case(
        "dos-int-from-huge-string",
        "def attack(msg):\n    return {'n': int('9' * 100_000) % 7}\n",
        "Exceeds the limit",
    ),
    case(
        "dos-json-nesting-bomb",
        "import json\n\n"
        "def attack(msg):\n    return {'j': json.loads('[' * 100_000 + ']' * 100_000)}\n",
        "RecursionError",
    ),
    case(
        "dos-decimal-precision-bomb",
        "import decimal\n\ndef attack(msg):\n"
        "    with decimal.localcontext(prec=decimal.MAX_PREC):\n"
        "        return {'d': str(decimal.Decimal(1) / 7)}\n",
        "memory limit exceeded",
    ),
]


@pytest.mark.parametrize(("code", "expected"), DENIAL_OF_SERVICE)
def test_denial_of_service_is_a_clean_error(code: str, expected: str) -> None:
    attacked, benign = attack_then_benign(code)
    assert_refused(attacked, expected)
    assert_benign_works(benign)


def test_dos_huge_error_message_is_truncated() -> None:
    attacked, benign = attack_then_benign("def attack(msg):\n    raise ValueError('x' * 10 ** 7)\n")
    assert_refused(attacked, "(error message truncated)")
    assert attacked.error is not None and len(attacked.error.message) < 2100
    assert_benign_works(benign)


def test_dos_log_flood_is_capped_and_stopped() -> None:
    attacked, benign = attack_then_benign(
        "def attack(msg):\n    while True:\n        log('spam' * 100)\n"
    )
    assert_refused(attacked, "time limit exceeded")
    assert sum(len(line) for line in attacked.logs) <= 64 * 1024 + 100
    assert attacked.logs[-1].startswith("... log truncated")
    assert_benign_works(benign)


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            "import itertools\n\ndef attack(msg):\n    return {'n': sum(itertools.repeat(1))}\n",
            id="dos-endless-c-loop-itertools",
        ),
        pytest.param(
            "import hashlib\n\ndef attack(msg):\n"
            "    return {'k': hashlib.pbkdf2_hmac('sha256', b'x', b'salt', 10 ** 9).hex()}\n",
            id="dos-endless-c-loop-pbkdf2",
        ),
    ],
)
def test_dos_c_code_the_timer_cannot_interrupt_hits_the_kernel_cpu_limit(code: str) -> None:
    attacked, benign = attack_then_benign(code, settings=SLOW_SETTINGS)
    # The kernel's RLIMIT_CPU killed the process well before the 6 s wall clock.
    assert_refused(attacked, "time limit exceeded: more than 0.5 s of CPU (in C code)")
    assert_benign_works(benign)
    assert_pool_serves(SLOW_LIMITS)


def test_dos_module_level_endless_loop_fails_the_batch_and_the_next_batch_works() -> None:
    step = action("while True:\n    pass\n" + HARNESS)
    outcomes = step.process_batch([message({"attack": True}, 0), message({"n": 1}, 1)])
    for outcome in outcomes:
        assert outcome.error is not None and "time limit exceeded" in outcome.error.message
    assert_pool_serves()


# --- data leaks between flows ------------------------------------------------------------------

KEEPS_STATE = """
seen = []

def run(msg):
    seen.append(msg.body.secret)
    return {"seen": list(seen)}
"""


def test_leak_module_state_of_one_flow_is_invisible_to_another_with_the_same_code() -> None:
    flow_a = action(KEEPS_STATE, flow_id=1)
    flow_b = action(KEEPS_STATE, flow_id=2)
    [a1] = flow_a.process_batch([message({"secret": "a-card-number"})])
    [b1] = flow_b.process_batch([message({"secret": "b-1"})])
    [a2] = flow_a.process_batch([message({"secret": "a-2"})])
    assert a1.outputs == [{"seen": ["a-card-number"]}]
    assert b1.outputs == [{"seen": ["b-1"]}]  # its own state, same code, same sandbox
    assert a2.outputs == [{"seen": ["a-card-number", "a-2"]}]  # state persists per flow


def test_leak_the_editor_run_never_sees_a_flows_state() -> None:
    action(KEEPS_STATE, flow_id=3).process_batch([message({"secret": "flow-secret"})])
    result = run_code(KEEPS_STATE, {"body": {"secret": "editor"}}, limits=LIMITS)
    assert result.outputs == [{"seen": ["editor"]}]


def test_leak_decimal_context_changed_by_one_flow_does_not_reach_another() -> None:
    poisoner = (
        "import decimal\n\ndef run(msg):\n    decimal.setcontext(decimal.Context(prec=2))\n"
        "    decimal.getcontext().clear_traps()\n    return {'p': decimal.getcontext().prec}\n"
    )
    victim = "import decimal\n\ndef run(msg):\n    return {'third': str(decimal.Decimal(1) / 3)}\n"
    [poisoned] = action(poisoner, flow_id=4).process_batch([message({})])
    [result] = action(victim, flow_id=5).process_batch([message({})])
    assert poisoned.outputs == [{"p": 2}]
    assert result.outputs == [{"third": "0." + "3" * 28}]


def test_leak_uuid1_does_not_carry_the_hosts_mac_address() -> None:
    code = "import uuid\n\ndef run(msg):\n    return {'node': uuid.uuid1().node}\n"
    [first, second] = action(code).process_batch([message({}, 0), message({}, 1)])
    nodes = [first.outputs[0]["node"], second.outputs[0]["node"]]
    assert all(node & (1 << 40) for node in nodes)  # the multicast bit: a random node
    assert nodes[0] != nodes[1]


NOISY = (
    "def noisy():\n    try:\n        yield 1\n    finally:\n"
    "        raise ValueError('x' * 1000)\n\n"
    "def run(msg):\n    for _ in range(200):\n        g = noisy()\n        next(g)\n"
    "        g = None\n    return {'spammed': True}\n"
)


def test_dos_uncatchable_exceptions_do_not_reach_the_workers_log() -> None:
    # The sandbox's stderr is the worker's (a pipe to its log collector, as here; a regular
    # file is not writable at all with RLIMIT_FSIZE=0). Exceptions raised while a generator
    # is collected are printed there by default: 200 KB of traceback from one message.
    script = (
        "from components.code import run_code\n"
        f"print(run_code({NOISY!r}, {{'body': {{}}}}).outputs)\n"
    )
    worker = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert worker.stdout.strip() == "[{'spammed': True}]"
    assert worker.stderr == ""
    assert_pool_serves()
