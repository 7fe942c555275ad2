"""The code component against real sandbox processes (no mocks, no database)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from components.base import ConfigError, Message, Outcome, Runtime
from components.code import (
    CodeProblem,
    SandboxLimits,
    check_code,
    limits_from_settings,
    run_code,
)
from components.code.component import CodeAction
from components.code.sandbox import SandboxPool, get_pool, shutdown_pools

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "flows" / "demo"
# Tight limits keep the limit tests fast; they are what the pool under test is started with.
SETTINGS = {"sandbox_cpu_seconds": 0.5, "sandbox_wall_seconds": 2.0, "sandbox_memory_mb": 128}
LIMITS = limits_from_settings(SETTINGS)
RUNTIME = Runtime(flow_id=1, node_id="n2", settings=SETTINGS)


@pytest.fixture(scope="module", autouse=True)
def _stop_sandboxes() -> Iterator[None]:
    yield
    shutdown_pools()


def action(code: str) -> CodeAction:
    return CodeAction({"code": code}, None, RUNTIME)


def message(body: Any, index: int = 0) -> Message:
    return {"id": f"m{index}", "body": body, "headers": {}, "meta": {"offset": index}}


def run_one(code: str, body: Any) -> Outcome:
    [outcome] = action(code).process_batch([message(body)])
    return outcome


def error_of(outcome: Outcome) -> str:
    assert outcome.error is not None, outcome
    return outcome.error.message


def demo_events(limit: int) -> list[dict[str, Any]]:
    events = []
    with open(DEMO / "events-1k.jsonl", encoding="utf-8") as lines:
        for line in lines:
            try:
                body = json.loads(json.loads(line).get("value") or "")
            except ValueError:
                continue  # the file holds deliberately broken records too
            events.append(body)
            if len(events) == limit:
                break
    return events


class AttrDict(dict[str, Any]):
    """Plain-Python stand-in for the sandbox's JS-style attribute reads."""

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


def attr_wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return AttrDict({key: attr_wrap(item) for key, item in value.items()})
    if isinstance(value, list):
        return [attr_wrap(item) for item in value]
    return value


def plain_python_outputs(code: str, body: Any) -> list[Any] | None:
    """What `code` returns run unrestricted in this process; None if it raises."""
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    try:
        result = namespace["run"](attr_wrap(message(body)))
    except Exception:
        return None
    items = [] if result is None else result if isinstance(result, list) else [result]
    return json.loads(json.dumps(items))


# --- the reference transform ----------------------------------------------------------------


def test_reference_transform_gives_the_same_outputs_as_plain_python() -> None:
    code = (DEMO / "transform_bloomreach.py").read_text(encoding="utf-8")
    events = demo_events(300)
    outcomes = action(code).process_batch([message(e, i) for i, e in enumerate(events)])

    assert len(outcomes) == len(events)
    for event, outcome in zip(events, outcomes, strict=True):
        expected = plain_python_outputs(code, event)
        if expected is None:
            assert outcome.error is not None
        else:
            assert outcome.error is None, outcome.error
            assert outcome.outputs == expected
        assert outcome.duration_ms is not None
    produced = [o.outputs[0]["name"] for o in outcomes if o.outputs]
    assert {"customers", "customers/events"} <= set(produced)
    assert any(o.outputs == [] and o.error is None for o in outcomes), "anonymous ones filtered"


# --- results --------------------------------------------------------------------------------


def test_returning_none_filters_the_message() -> None:
    outcome = run_one("def run(msg):\n    return None\n", {"a": 1})
    assert outcome.error is None
    assert outcome.outputs == []


def test_returning_a_list_splits_into_one_output_per_item() -> None:
    code = "def run(msg):\n    return [{'sku': item.sku} for item in msg.body.items]\n"
    outcome = run_one(code, {"items": [{"sku": "A"}, {"sku": "B"}, {"sku": "C"}]})
    assert outcome.outputs == [{"sku": "A"}, {"sku": "B"}, {"sku": "C"}]


def test_returning_a_dict_maps_to_one_output() -> None:
    outcome = run_one("def run(msg):\n    return {'id': msg.id, 'x': msg.body.x}\n", {"x": 2})
    assert outcome.outputs == [{"id": "m0", "x": 2}]


def test_attribute_reads_are_js_style_on_dicts() -> None:
    code = """
def run(msg):
    e = msg.body
    e.added = 1
    return {"name": e.user.name, "absent": e.nothing, "get": e.get("x", "dflt"),
            "items": e.items, "keys": sorted(e.keys()), "sub": msg["body"]["user"]["name"]}
"""
    outcome = run_one(code, {"user": {"name": "Ann"}, "items": [1, 2]})
    assert outcome.outputs == [
        {
            "name": "Ann",
            "absent": None,
            "get": "dflt",
            "items": [1, 2],  # a key wins over the dict method of the same name
            "keys": ["added", "items", "user"],
            "sub": "Ann",
        }
    ]


def test_print_and_log_lines_are_captured_per_message() -> None:
    code = "def run(msg):\n    print('seen', msg.body.n)\n    log('n is', msg.body.n)\n"
    outcomes = action(code).process_batch([message({"n": 1}, 0), message({"n": 2}, 1)])
    assert [o.logs for o in outcomes] == [["seen 1", "n is 1"], ["seen 2", "n is 2"]]


def test_allowed_modules_are_importable() -> None:
    code = """
import base64, collections, datetime, decimal, hashlib, itertools, json, math, re, uuid

def run(msg):
    day = datetime.datetime.strptime("2024-05-06", "%Y-%m-%d")
    return {"day": day.strftime("%d.%m.%Y"), "sha": hashlib.sha256(b"x").hexdigest()[:8],
            "b64": base64.b64encode(b"hi").decode(), "count": collections.Counter("aab"),
            "dec": str(decimal.Decimal("1.10") * 2), "sqrt": math.sqrt(16),
            "match": bool(re.match(r"u-\\d+", "u-1")), "uuid": len(str(uuid.uuid4())),
            "pairs": list(itertools.combinations([1, 2, 3], 2)), "json": json.dumps([1])}
"""
    outcome = run_one(code, {})
    assert outcome.error is None, outcome.error
    assert outcome.outputs[0]["day"] == "06.05.2024"
    assert outcome.outputs[0]["count"] == {"a": 2, "b": 1}
    assert outcome.outputs[0]["pairs"] == [[1, 2], [1, 3], [2, 3]]


# --- errors ---------------------------------------------------------------------------------


def test_compile_error_is_a_config_error_naming_the_line() -> None:
    code = "def run(msg):\n    x = 1\n    return {'x': x\n"
    with pytest.raises(ConfigError) as raised:
        action(code)
    assert raised.value.field == "code"
    assert raised.value.message.startswith("line 3: SyntaxError")
    assert check_code(code)[0].line == 3


def test_code_without_run_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="define a function run"):
        action("def transform(msg):\n    return msg\n")


def test_check_code_accepts_valid_code_without_running_it() -> None:
    assert check_code("import os\ndef run(msg):\n    return os.environ\n") == []


def test_run_code_reports_compile_error_with_line() -> None:
    result = run_code("def run(msg):\n    return (\n", {"body": {}}, limits=LIMITS)
    assert result.error is not None and result.error.startswith("line 2: SyntaxError")
    assert result.line == 2
    assert result.outputs == []


def test_import_of_os_is_refused() -> None:
    outcome = run_one("def run(msg):\n    import os\n    return {}\n", {})
    assert "import of 'os' is not allowed" in error_of(outcome)
    assert error_of(outcome).startswith("line 2:")


@pytest.mark.parametrize(
    "code",
    [
        "from uuid import os\ndef run(msg):\n    return {}\n",
        "import datetime\ndef run(msg):\n    return {'x': str(datetime.sys.modules)}\n",
        "import time\ndef run(msg):\n    return {}\n",
    ],
)
def test_modules_reachable_through_allowed_ones_are_refused(code: str) -> None:
    error = error_of(run_one(code, {}))
    assert "not allowed" in error or "not accessible" in error


def test_dunder_access_is_refused_at_compile_time() -> None:
    problems = check_code("def run(msg):\n    return msg.__class__\n")
    assert problems and problems[0].line == 2
    assert "__class__" in problems[0].message


def test_dunder_access_is_refused_at_run_time() -> None:
    error = error_of(run_one("def run(msg):\n    return getattr(msg, '__class__')\n", {}))
    assert error.startswith("line 2: AttributeError")
    assert "__class__" in error


def test_unsafe_builtins_are_missing() -> None:
    for name in ("type", "vars", "eval", "exec", "open", "compile", "globals", "locals"):
        error = error_of(run_one(f"def run(msg):\n    return {name}\n", {}))
        assert f"NameError: name '{name}' is not defined" in error


def test_exception_names_type_message_and_line() -> None:
    code = "def run(msg):\n    total = 0\n    return {'avg': total / msg.body.n}\n"
    outcome = run_one(code, {"n": 0})
    assert error_of(outcome) == "line 3: ZeroDivisionError: division by zero"
    assert outcome.error is not None and outcome.error.retryable is False
    assert outcome.error.details["line"] == 3


def test_non_serialisable_return_names_the_type() -> None:
    error = error_of(run_one("def run(msg):\n    return {'tags': {'a', 'b'}}\n", {}))
    assert "not JSON-serialisable" in error
    assert "set at tags" in error


def test_a_message_json_cannot_carry_fails_alone() -> None:
    outcomes = action("def run(msg):\n    return msg.body\n").process_batch(
        [message({"big": 2**70}, 0), message({"small": 1}, 1)]
    )
    assert "cannot be passed to the code" in error_of(outcomes[0])
    assert outcomes[1].outputs == [{"small": 1}]


def test_keys_that_are_not_text_reach_the_code_as_text() -> None:
    """A message built in Python (a test run's sample, a component's output) may have them."""
    outcome = run_one("def run(msg):\n    return msg.body\n", {"by_id": {7: "seven"}, "n": 1})

    assert outcome.error is None
    assert outcome.outputs == [{"by_id": {"7": "seven"}, "n": 1}]


def test_returning_a_scalar_is_an_error() -> None:
    assert "run() returned int" in error_of(run_one("def run(msg):\n    return 5\n", {}))


def test_one_bad_message_does_not_fail_the_others() -> None:
    code = "def run(msg):\n    return {'inv': 1 / msg.body.n}\n"
    outcomes = action(code).process_batch([message({"n": n}, n) for n in (1, 0, 2)])
    assert [o.outputs for o in outcomes] == [[{"inv": 1.0}], [], [{"inv": 0.5}]]
    assert outcomes[1].error is not None


# --- limits ---------------------------------------------------------------------------------


def test_infinite_loop_hits_the_time_limit_and_the_next_message_works() -> None:
    code = "def run(msg):\n    while msg.body.spin:\n        pass\n    return {'ok': True}\n"
    outcomes = action(code).process_batch([message({"spin": True}, 0), message({"spin": False})])
    assert "time limit exceeded" in error_of(outcomes[0])
    assert outcomes[1].outputs == [{"ok": True}]


def test_swallowing_the_time_limit_does_not_help() -> None:
    code = """
def run(msg):
    try:
        while True:
            pass
    except BaseException:
        return {"escaped": True}
"""
    assert "time limit exceeded" in error_of(run_one(code, {}))


def test_hang_in_c_code_is_killed_by_the_wall_clock_and_the_batch_continues() -> None:
    # sum() over a huge range never returns to the interpreter, so only the parent's
    # wall-clock limit can stop it: the process is killed and a new one takes the rest.
    code = """
def run(msg):
    if msg.body.hang:
        sum(range(10**15))
    return {"n": msg.id}
"""
    pid_before = get_pool(LIMITS).info()["pid"]
    outcomes = action(code).process_batch([message({"hang": i == 1}, i) for i in range(3)])

    assert outcomes[0].outputs == [{"n": "m0"}]
    assert "time limit exceeded" in error_of(outcomes[1])
    assert outcomes[2].outputs == [{"n": "m2"}]
    assert get_pool(LIMITS).info()["pid"] != pid_before


def test_a_batch_comes_back_in_a_few_writes_not_one_per_message() -> None:
    # One write per message was a third of the sandbox's profile; results are grouped.
    pool = SandboxPool(LIMITS, size=1)
    try:
        code = "def run(msg):\n    return {'n': msg.body.n}\n"
        before = pool.info()["writes"]
        results = pool.run_batch(code, [message({"n": n}, n) for n in range(200)], scope="s")
        writes = pool.info()["writes"] - before - 2  # less the first answer and "loaded"
    finally:
        pool.close()
    assert [result.outputs for result in results] == [[{"n": n}] for n in range(200)]
    assert 1 <= writes < 100


def test_a_process_lost_mid_group_fails_only_the_message_it_was_lost_on() -> None:
    # The kernel kills the process on message 2 of 5 (C code past the CPU limit), while the
    # results of 0 and 1 may still be waiting in its group: those are run again, not failed.
    code = """
import itertools

def run(msg):
    if msg.body.stop:
        sum(itertools.repeat(1))
    return {"n": msg.id}
"""
    # The wall-clock limit well above the CPU one: on a loaded machine 0.5 s of CPU may take
    # longer than the usual 2 s to accrue, and the kill must be the kernel's CPU limit.
    settings = {**SETTINGS, "sandbox_wall_seconds": 20.0}
    patient = CodeAction({"code": code}, None, Runtime(flow_id=1, node_id="n2", settings=settings))
    outcomes = patient.process_batch([message({"stop": i == 2}, i) for i in range(5)])

    assert "(in C code)" in error_of(outcomes[2])
    assert [o.outputs for i, o in enumerate(outcomes) if i != 2] == [
        [{"n": f"m{i}"}] for i in (0, 1, 3, 4)
    ]


@pytest.mark.parametrize(
    "bomb",
    [
        "x = 'a' * (10 ** 10)",
        "x = []\n    while True:\n        x.append('a' * 10 ** 6)",
    ],
)
def test_memory_bomb_is_a_clean_error_and_the_next_message_works(bomb: str) -> None:
    code = f"def run(msg):\n    if not msg.body.bomb:\n        return {{'ok': 1}}\n    {bomb}\n"
    outcomes = action(code).process_batch([message({"bomb": True}), message({"bomb": False})])
    assert "memory limit exceeded" in error_of(outcomes[0])
    assert outcomes[1].outputs == [{"ok": 1}]


def test_deep_recursion_is_an_error() -> None:
    code = "def down(n):\n    return down(n + 1)\n\ndef run(msg):\n    return down(0)\n"
    assert "RecursionError" in error_of(run_one(code, {}))


def test_output_above_the_limit_is_an_error() -> None:
    limits = SandboxLimits(max_output_bytes=1000)
    result = run_code("def run(msg):\n    return {'x': 'a' * 5000}\n", {"body": {}}, limits=limits)
    assert result.error is not None and result.error.startswith("output too large")


# --- process isolation ----------------------------------------------------------------------


def test_sandbox_is_another_process_with_an_empty_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIBUTARY_TEST_SECRET", "hunter2")
    info = get_pool(SandboxLimits(memory_mb=64)).info()  # a fresh pool, started now

    assert info["pid"] != os.getpid()
    assert info["env"] == {}
    with open(f"/proc/{info['pid']}/environ", "rb") as environ:
        assert environ.read() == b""  # not even at exec time
    assert info["rlimits"]["fsize"] == [0, 0]
    assert info["rlimits"]["core"] == [0, 0]
    assert info["rlimits"]["as"][0] < info["baseline_bytes"] + 65 * 1024 * 1024
    assert info["no_new_privs"] is True


def test_run_code_takes_the_editor_message_shape() -> None:
    code = (
        "def run(msg):\n    return {'body': msg.body, 'headers': msg.headers, 'meta': msg.meta}\n"
    )
    result = run_code(code, {"body": {"a": 1}}, limits=LIMITS)
    assert result.error is None
    assert result.outputs == [{"body": {"a": 1}, "headers": {}, "meta": {}}]
    assert run_code(code, {"nobody": 1}, limits=LIMITS).error is not None  # type: ignore[arg-type]


def test_module_level_prints_go_to_the_first_message_of_the_batch() -> None:
    code = "print('loading')\n\ndef run(msg):\n    return None\n"
    result = run_code(code, {"body": {}}, limits=LIMITS)
    assert result.logs == ["loading"]


def test_module_level_failure_fails_every_message_with_its_line() -> None:
    code = "print('before')\nlimit = 1 / 0\n\ndef run(msg):\n    return None\n"
    outcomes = action(code).process_batch([message({}, 0), message({}, 1)])
    assert [error_of(o) for o in outcomes] == ["line 2: ZeroDivisionError: division by zero"] * 2
    assert outcomes[0].logs == ["before"]


def test_forked_process_starts_its_own_sandbox() -> None:
    code = "def run(msg):\n    return {'pid': msg.body.n}\n"
    parent_sandbox = get_pool(LIMITS).info()["pid"]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the forked copy, as under Celery prefork
        try:
            result = run_code(code, {"body": {"n": 7}}, limits=LIMITS)
            report = {"outputs": result.outputs, "sandbox": get_pool(LIMITS).info()["pid"]}
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        report = json.loads(reader.read())
    os.waitpid(pid, 0)

    assert report["outputs"] == [{"pid": 7}]
    assert report["sandbox"] not in (parent_sandbox, pid)
    # The parent's own sandbox is untouched by the copy.
    assert get_pool(LIMITS).info()["pid"] == parent_sandbox
    assert run_code(code, {"body": {"n": 8}}, limits=LIMITS).outputs == [{"pid": 8}]


def test_a_sandbox_killed_between_batches_is_replaced() -> None:
    code = "def run(msg):\n    return {'n': msg.body.n}\n"
    pid = get_pool(LIMITS).info()["pid"]
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # it is our child: reaping it is how we know it is gone
    assert run_code(code, {"body": {"n": 1}}, limits=LIMITS).outputs == [{"n": 1}]
    assert get_pool(LIMITS).info()["pid"] != pid


def test_sandbox_outlives_the_thread_that_started_it() -> None:
    # PR_SET_PDEATHSIG follows the spawning *thread*; a request thread must not take the
    # sandbox down with it when it ends.
    limits = SandboxLimits(memory_mb=96)  # a pool of its own, started below
    pids: list[int] = []
    thread = threading.Thread(target=lambda: pids.append(get_pool(limits).info()["pid"]))
    thread.start()
    thread.join()
    assert get_pool(limits).info()["pid"] == pids[0]


def test_threads_share_the_pool_safely() -> None:
    code = "def run(msg):\n    return {'n': msg.body.n}\n"

    def run(n: int) -> list[Any]:
        return run_code(code, {"body": {"n": n}}, limits=LIMITS).outputs

    with ThreadPoolExecutor(4) as executor:
        assert list(executor.map(run, range(20))) == [[{"n": n}] for n in range(20)]


def test_sandbox_exits_when_its_parent_dies() -> None:
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from components.code.sandbox import get_pool\n"
        "print(get_pool().info()['pid'], flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert parent.stdout is not None
    sandbox_pid = int(parent.stdout.readline())
    pidfd = os.pidfd_open(sandbox_pid)
    try:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        # A pidfd becomes readable when its process exits.
        assert select.select([pidfd], [], [], 10)[0], "sandbox outlived its parent"
    finally:
        os.close(pidfd)


# --- descriptor and settings ----------------------------------------------------------------


def test_descriptor_and_sample_config() -> None:
    descriptor = CodeAction.descriptor
    assert descriptor.name == "code"
    assert descriptor.kind == "action"
    assert descriptor.config_schema["required"] == ["code"]
    sample = descriptor.sample_config["code"]
    assert check_code(sample) == []
    outcome = run_one(sample, {"user_id": "u-1", "type": "view", "ts": 1000})
    assert outcome.error is None
    assert outcome.outputs[0]["customer_ids"] == {"registered": "u-1"}


def test_limits_from_settings() -> None:
    assert limits_from_settings({}) == SandboxLimits()
    limits = limits_from_settings(
        {"sandbox_cpu_seconds": "2", "sandbox_memory_mb": 512, "sandbox_wall_seconds": 9}
    )
    assert (limits.cpu_seconds, limits.memory_mb, limits.wall_seconds) == (2.0, 512, 9.0)


def test_code_problem_reads_as_line_and_message() -> None:
    assert str(CodeProblem(4, "SyntaxError: x")) == "line 4: SyntaxError: x"
