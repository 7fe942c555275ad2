"""Every code sample in README.md and docs/*.md is executed by this test, or says why not.

The convention (also in CONTRIBUTING.md, "Code samples in the docs"):

A fenced code block may be preceded (blank lines allowed) by a marker, an HTML comment that
renders as nothing:

    <!-- sample: KIND name=<JSON> name=<JSON> ... -->

KIND says what the test does with the block; each attribute value is JSON (strings in double
quotes), and the comment may span several lines. What runs, by kind:

| kind        | fence            | the test                                                      |
|-------------|------------------|---------------------------------------------------------------|
| `transform` | python           | runs the code as a code step in the real sandbox on `input`   |
|             |                  | (a message `{"body", "headers"?, "meta"?}`) and compares the  |
|             |                  | outputs with `expect` (a list of bodies), or the error with   |
|             |                  | `error` (a substring); `logs` (a list) is compared when given |
| `message`   | json / yaml      | the input of the transform block right after it               |
| `output`    | json / yaml      | the expected outputs (a list) of the transform right before it|
| `flow`      | json / yaml      | imports the flow file or bundle through the flows-as-code     |
|             |                  | service into a fresh workspace holding the credentials it     |
|             |                  | names, and publishes it (`publish=false`: import only)        |
| `shell`     | bash / sh / ...  | runs the block with `bash -euo pipefail` against a live test  |
|             |                  | server (see "Shell samples" below); `expect` (a string or a   |
|             |                  | list) must appear in its standard output                      |
| `data`      | json / yaml      | must parse (an illustration of a value, e.g. an API answer)   |
| `skip`      | any              | not executed; `reason` (required) says why, e.g. `reason=      |
|             |                  | "starts containers"`                                          |

Blocks that need no marker:
- ```env blocks: each `NAME=value` line (also `# NAME=value` and `export NAME=value`) must
  name a variable that config/settings.py reads (or one listed in .env.example, for
  docker-compose.yml), with a value its typed reader accepts;
- json / yaml blocks whose `format` is `tributary.flow/v1` or `tributary.flows/v1`: as `flow`;
- ```text blocks: output, diagrams and other non-code text, never executed.

Anything else fails `test_every_sample_is_executed_or_skipped_with_a_reason`: a block without
a language, an unmarked block, a marker of the wrong kind for its language, an unknown
attribute, a `skip` without a reason, a marker with no block after it. So a new sample cannot
slip in untested.

Shell samples run in a temporary directory holding `manage.py` and `docs/` (links into the
repository), with the venv's `python` first on PATH and the test database, Redis and Kafka
in the environment, so `python manage.py ...` works. `curl` is a function that adds
`--fail-with-body` and sends `localhost:8000` and `127.0.0.1:8000` to the live test server.
What exists when a shell sample starts: user `admin` (password `admin`, superuser), owner
of workspace `Shop`; `$TOKEN`, admin's API token; a `bloomreach` credential `Bloomreach`;
the flow of docs/examples/shop-events.flow.yaml, imported and published (v1), not started,
its id in `$FLOW`; one failed execution of it (failed at the Bloomreach step, error
"HTTP 503 ...") in `$EXECUTION`; the topic `shop-events` on the broker. Each shell sample
starts from that state afresh.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from django.contrib.auth.models import User
from django.utils import timezone

from components.base import ConfigError, Message, Runtime
from components.code.component import CodeAction
from components.code.modules import ALLOWED_MODULES
from components.registry import all_descriptors
from config import env as config_env

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SETTINGS_FILE = ROOT / "config" / "settings.py"
ENV_EXAMPLE = ROOT / ".env.example"
COMPOSE_FILE = ROOT / "docker-compose.yml"
USER_GUIDE = ROOT / "docs" / "user-guide.md"
OPERATOR_GUIDE = ROOT / "docs" / "operator-guide.md"
EXAMPLE_FLOW = ROOT / "docs" / "examples" / "shop-events.flow.yaml"
VENV_BIN = ROOT / ".venv" / "bin"

SHELL = frozenset({"bash", "sh", "shell", "console", "zsh"})
PYTHON = frozenset({"python", "py", "python3"})
DATA = frozenset({"json", "yaml", "yml"})
ENV = frozenset({"env", "dotenv"})
TEXT = frozenset({"text", "txt", "plain"})
FLOW_FORMATS = frozenset({"tributary.flow/v1", "tributary.flows/v1"})

# kind -> (the fences it applies to (None: any), its attributes, the required ones)
KINDS: dict[str, tuple[frozenset[str] | None, frozenset[str], frozenset[str]]] = {
    "transform": (PYTHON, frozenset({"input", "expect", "error", "logs"}), frozenset()),
    "message": (DATA, frozenset(), frozenset()),
    "output": (DATA, frozenset(), frozenset()),
    "flow": (DATA, frozenset({"publish"}), frozenset()),
    "shell": (SHELL, frozenset({"expect"}), frozenset()),
    "data": (DATA, frozenset(), frozenset()),
    "env": (ENV, frozenset(), frozenset()),
    "skip": (None, frozenset({"reason"}), frozenset()),  # reason: checked below
}

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
MARKER_START = re.compile(r"^\s*<!--\s*sample:")
MARKER = re.compile(r"<!--\s*sample:\s*(?P<body>.*?)\s*-->\s*$", re.DOTALL)
ATTRIBUTE_NAME = re.compile(r"\s*([a-z_]+)=")
ENV_LINE = re.compile(r"^\s*(?:#\s*|export\s+)?([A-Z][A-Z0-9_]*)=(.*)$")
ENV_READ = re.compile(
    r"""\b(?:env_(?:str|int|float|bool|list)|environ\.get|env\.get)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
)


# --- parsing --------------------------------------------------------------------------------


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    kind: str | None = None  # from the marker; None: unmarked
    attrs: dict[str, Any] = field(default_factory=dict)
    marker_line: int | None = None

    @property
    def id(self) -> str:
        return f"{relative(self.path)}:{self.line}"

    @property
    def action(self) -> str | None:
        """What the test does with it: a KINDS key, "text", or None (nothing: a problem)."""
        if self.kind is not None:
            return self.kind
        if self.lang in TEXT:
            return "text"
        if self.lang in ENV:
            return "env"
        if self.lang in DATA and _flow_format(self) in FLOW_FORMATS:
            return "flow"
        return None


@dataclass
class Parsed:
    blocks: list[Block]
    problems: list[str]


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def load_data(block: Block) -> Any:
    if block.lang == "json":
        return json.loads(block.text)
    return yaml.safe_load(block.text)


def _flow_format(block: Block) -> Any:
    try:
        document = load_data(block)
    except (ValueError, yaml.YAMLError):
        return None
    return document.get("format") if isinstance(document, dict) else None


def parse_attributes(text: str) -> tuple[str, dict[str, Any]]:
    """`KIND name=<JSON> ...` -> (KIND, {name: value}); ValueError says what is wrong."""
    kind, _, rest = text.strip().replace("\n", " ").partition(" ")
    if not re.fullmatch(r"[a-z]+", kind):
        raise ValueError(f"a marker starts with its kind, got {kind!r}")
    attrs: dict[str, Any] = {}
    decoder = json.JSONDecoder()
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = ATTRIBUTE_NAME.match(rest, position)
        if match is None:
            raise ValueError(f"expected name=<JSON value> at {rest[position:][:40]!r}")
        try:
            value, end = decoder.raw_decode(rest, match.end())
        except json.JSONDecodeError as error:
            raise ValueError(f"the value of {match.group(1)} is not JSON: {error}") from None
        if match.group(1) in attrs:
            raise ValueError(f"{match.group(1)} is given twice")
        attrs[match.group(1)] = value
        position = end
        while position < len(rest) and rest[position].isspace():
            position += 1
    return kind, attrs


def parse(path: Path) -> Parsed:
    """The fenced blocks of a Markdown file, each with its marker, and marker problems."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rel = relative(path)
    blocks: list[Block] = []
    problems: list[str] = []
    pending: tuple[int, str, dict[str, Any]] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if MARKER_START.match(line):
            start = index
            comment = line
            while "-->" not in comment and index + 1 < len(lines):
                index += 1
                comment += "\n" + lines[index]
            match = MARKER.match(comment.strip())
            if pending is not None:
                problems.append(f"{rel}:{pending[0]}: marker not followed by a code block")
            pending = None
            if match is None:
                problems.append(f"{rel}:{start + 1}: unreadable marker (<!-- sample: KIND ... -->)")
            else:
                try:
                    kind, attrs = parse_attributes(match.group("body"))
                except ValueError as error:
                    problems.append(f"{rel}:{start + 1}: {error}")
                else:
                    pending = (start + 1, kind, attrs)
            index += 1
            continue
        fence = FENCE.match(line)
        if fence is None:
            if pending is not None and line.strip():
                problems.append(f"{rel}:{pending[0]}: marker not followed by a code block")
                pending = None
            index += 1
            continue
        opener, indent = fence.group("fence"), len(fence.group("indent"))
        lang = (fence.group("info").strip().split() or [""])[0].lower()
        body: list[str] = []
        opened = index
        index += 1
        while index < len(lines):
            closing = FENCE.match(lines[index])
            if (
                closing
                and closing.group("fence")[0] == opener[0]
                and len(closing.group("fence")) >= len(opener)
                and not closing.group("info").strip()
            ):
                break
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        else:
            problems.append(f"{rel}:{opened + 1}: code block never closed")
        block = Block(path, line=opened + 1, lang=lang, text="\n".join(body) + "\n")
        if pending is not None:
            block.marker_line, block.kind, block.attrs = pending
            pending = None
        blocks.append(block)
        index += 1
    if pending is not None:
        problems.append(f"{rel}:{pending[0]}: marker not followed by a code block")
    return Parsed(blocks, problems)


def block_problems(block: Block, before: Block | None, after: Block | None) -> list[str]:
    """Why `block` is neither executed nor properly skipped ([] when all is well)."""
    where = block.id
    if not block.lang:
        return [f"{where}: a code block without a language: say what it is (```text if not code)"]
    action = block.action
    if action is None:
        return [
            f"{where}: unmarked ```{block.lang} block: mark it (<!-- sample: KIND ... -->, see "
            "tests/test_docs.py) so the test runs it, or skip it with a reason"
        ]
    if action == "text":
        return []
    if action not in KINDS:
        return [f"{where}: unknown sample kind {action!r} (known: {', '.join(KINDS)})"]
    langs, allowed, required = KINDS[action]
    problems = []
    if langs is not None and block.lang not in langs:
        problems.append(f"{where}: a {action} sample must be one of ```{'/'.join(sorted(langs))}")
    if unknown := set(block.attrs) - allowed:
        problems.append(f"{where}: unknown attribute(s) {', '.join(sorted(unknown))}")
    if missing := required - set(block.attrs):
        problems.append(f"{where}: {action} needs {', '.join(sorted(missing))}")
    reason = block.attrs.get("reason", "")
    if action == "skip" and not (isinstance(reason, str) and reason.strip()):
        problems.append(f'{where}: say why the sample is skipped: reason="..."')
    if action == "message" and (after is None or after.action != "transform"):
        problems.append(f"{where}: a message sample must be followed by a transform sample")
    if action == "output" and (before is None or before.action != "transform"):
        problems.append(f"{where}: an output sample must follow a transform sample")
    if action == "transform":
        has_input = "input" in block.attrs or (before is not None and before.action == "message")
        has_expectation = bool({"expect", "error"} & set(block.attrs)) or (
            after is not None and after.action == "output"
        )
        if not has_input:
            problems.append(f"{where}: a transform needs input=... or a message block before it")
        if not has_expectation:
            problems.append(f"{where}: a transform needs expect=..., error=... or an output block")
    return problems


def inventory() -> tuple[list[Block], list[str]]:
    blocks: list[Block] = []
    problems: list[str] = []
    for path in DOCS:
        parsed = parse(path)
        problems += parsed.problems
        for index, block in enumerate(parsed.blocks):
            before = parsed.blocks[index - 1] if index else None
            after = parsed.blocks[index + 1] if index + 1 < len(parsed.blocks) else None
            problems += block_problems(block, before, after)
        blocks += parsed.blocks
    return blocks, problems


BLOCKS, PROBLEMS = inventory()


def samples(*actions: str) -> list[Any]:
    return [pytest.param(b, id=b.id) for b in BLOCKS if b.action in actions]


def neighbours(block: Block) -> tuple[Block | None, Block | None]:
    same = [b for b in BLOCKS if b.path == block.path]
    index = same.index(block)
    before = same[index - 1] if index else None
    after = same[index + 1] if index + 1 < len(same) else None
    return before, after


def test_every_sample_is_executed_or_skipped_with_a_reason() -> None:
    assert BLOCKS, "no code blocks found: is the parser broken?"
    assert not PROBLEMS, "\n".join(PROBLEMS)


def test_the_parser_reads_markers_fences_and_attributes(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    text = (
        "<!-- sample: transform\n"
        '     input={"body": {"a": "x -->"}} expect=[{"b": 1}] -->\n'
        "\n"
        "```python\n"
        "def run(msg):\n"
        "    return {'b': 1}\n"
        "```\n"
        "````text\n"
        "```bash\n"
        "inside\n"
        "```\n"
        "````\n"
        "<!-- sample: skip -->\n"
        "prose\n"
        "```\n"
        "bare\n"
        "```\n"
    )
    page.write_text(text, encoding="utf-8")
    parsed = parse(page)
    first, second, third = parsed.blocks
    assert first.kind == "transform" and first.lang == "python" and first.line == 4
    assert first.attrs == {"input": {"body": {"a": "x -->"}}, "expect": [{"b": 1}]}
    assert second.lang == "text" and "```bash" in second.text and second.action == "text"
    assert third.lang == "" and third.kind is None
    assert parsed.problems == ["page.md:13: marker not followed by a code block"]
    assert block_problems(third, second, None)[0].endswith("(```text if not code)")
    with pytest.raises(ValueError, match="not JSON"):
        parse_attributes("skip reason=starts containers")


# --- transforms ----------------------------------------------------------------------------


@pytest.mark.parametrize("block", samples("transform"))
def test_transform_sample(block: Block) -> None:
    before, after = neighbours(block)
    message = block.attrs.get("input")
    if message is None:
        assert before is not None and before.action == "message"
        message = load_data(before)
    assert isinstance(message, dict) and "body" in message, 'input is {"body": ..., ...}'
    expected = block.attrs.get("expect")
    if expected is None and "error" not in block.attrs:
        assert after is not None and after.action == "output"
        expected = load_data(after)

    msg: Message = {
        "id": "docs:0:0",
        "body": message["body"],
        "headers": message.get("headers") or {},
        "meta": message.get("meta") or {},
    }
    runtime = Runtime(flow_id=0, node_id=block.id, settings={})
    failure: str | None
    try:
        action = CodeAction({"code": block.text}, None, runtime)
    except ConfigError as error:  # what saving the flow would say
        outputs, logs, failure = [], [], error.message
    else:
        [outcome] = action.process_batch([msg])
        outputs, logs = outcome.outputs, outcome.logs
        failure = outcome.error.message if outcome.error else None

    if "error" in block.attrs:
        assert failure is not None, f"expected an error, got outputs {outputs}"
        assert block.attrs["error"] in failure
    else:
        assert failure is None, failure
        assert outputs == expected
    if "logs" in block.attrs:
        assert logs == block.attrs["logs"]


# --- flow documents ------------------------------------------------------------------------

# Fields for the credentials a flow file names, by type, so that its import can resolve them.
CREDENTIAL_FIELDS: dict[str, dict[str, Any]] = {
    "bloomreach": {"auth": "private", "api_key_id": "docs-key", "api_secret": "docs-secret"},
    "http_auth": {"auth_type": "bearer", "token": "docs-token"},
    "kafka": {},
}


def named_credentials(document: Any) -> dict[str, str]:
    flows = document.get("flows", []) if isinstance(document, dict) else []
    found: dict[str, str] = {}
    for flow in [document, *flows]:
        if isinstance(flow, dict) and isinstance(flow.get("credentials"), dict):
            for ref in flow["credentials"].values():
                if isinstance(ref, dict):
                    found[str(ref.get("name"))] = str(ref.get("type"))
    return found


@pytest.mark.django_db
@pytest.mark.parametrize("block", samples("flow"))
def test_flow_sample(block: Block, settings: Any) -> None:
    from flows.errors import ServiceError
    from flows.services.credentials import create_credential
    from flows.services.portability import import_flows, parse_document
    from flows.services.workspaces import create_workspace

    settings.PASSWORD_HASHERS = FAST_HASHERS
    user = User.objects.create_user("docs", password="docs password 123")
    workspace = create_workspace("Docs", user)
    document = parse_document(block.text, "json" if block.lang == "json" else "yaml")
    for name, credential_type in named_credentials(document).items():
        assert credential_type in CREDENTIAL_FIELDS, f"unknown credential type {credential_type}"
        create_credential(workspace, name, credential_type, CREDENTIAL_FIELDS[credential_type])
    publish = block.attrs.get("publish", True)
    try:
        results = import_flows(workspace, document, user, publish=publish)
    except ServiceError as error:
        pytest.fail(f"{error.message} {error.details}")
    assert results
    if publish:
        assert all(result.version is not None for result in results)


# --- data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("block", samples("data"))
def test_data_sample(block: Block) -> None:
    assert load_data(block) is not None


# --- environment variables -----------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    name: str
    reader: str  # env_str, env_int, ...
    default: Any  # the literal default, or NO_LITERAL


NO_LITERAL: Any = object()


def _literal(node: ast.expr | None) -> Any:
    """The value of a default that is a literal or arithmetic on literals, else NO_LITERAL."""
    if node is None:
        return ""
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        if isinstance(left, int) and isinstance(right, int):
            return left * right if isinstance(node.op, ast.Mult) else left + right
    return NO_LITERAL


def settings_variables() -> dict[str, Setting]:
    """Every variable config/settings.py reads, with its reader and literal default."""
    tree = ast.parse(SETTINGS_FILE.read_text(encoding="utf-8"))
    found: dict[str, Setting] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id.startswith("env_")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            name = node.args[0].value
            default = _literal(node.args[1] if len(node.args) > 1 else None)
            found[name] = Setting(name, node.func.id, default)
    return found


def code_variables() -> set[str]:
    """Variables read anywhere in the app's code (settings, make run, commands, engine)."""
    names: set[str] = set()
    for package in ("config", "flows", "components"):
        for source in (ROOT / package).rglob("*.py"):
            names |= set(ENV_READ.findall(source.read_text(encoding="utf-8")))
    return names


def env_example_variables() -> set[str]:
    return {
        match.group(1)
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if (match := ENV_LINE.match(line))
    }


@pytest.mark.parametrize("block", samples("env"))
def test_env_sample(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    known = settings_variables()
    others = env_example_variables() | code_variables()
    assignments = [m.groups() for line in block.text.splitlines() if (m := ENV_LINE.match(line))]
    assert assignments, "an env sample sets at least one variable"
    for name, value in assignments:
        assert name in known or name in others, f"{name} is read by nothing in Tributary"
        setting = known.get(name)
        if setting is None or setting.reader in ("env_str", "env_list") or not value:
            continue
        monkeypatch.setenv(name, value)
        reader = getattr(config_env, setting.reader)
        reader(name, setting.default)  # raises on a malformed value, as settings.py would


# --- shell samples against a live server ----------------------------------------------------


# Samples are about Tributary, not password hashing: PBKDF2 would cost 0.3 s per user.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def shop_events(kafka_broker: Any) -> str:
    """The topic of docs/examples/shop-events.flow.yaml, on the session's broker."""
    from config.services import create_topic

    create_topic(kafka_broker.bootstrap, "shop-events")
    return kafka_broker.bootstrap


@pytest.fixture
def shell_env(
    live_server: Any, redis_url: str, shop_events: str, settings: Any, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Path]]:
    """The state documented at the top of this file, and the environment of a shell sample."""
    from rest_framework.authtoken.models import Token

    from flows.models import Execution
    from flows.services.credentials import create_credential
    from flows.services.portability import import_flows, parse_document
    from flows.services.workspaces import create_workspace
    from tests.factories import step_record
    from tests.fixtures.stack import QUEUE, REDIS_PREFIX, database_url

    settings.KAFKA_BOOTSTRAP_SERVERS = shop_events
    settings.PASSWORD_HASHERS = FAST_HASHERS
    admin = User.objects.create_superuser("admin", "admin@example.com", "admin")
    workspace = create_workspace("Shop", admin)
    token = Token.objects.create(user=admin)
    create_credential(workspace, "Bloomreach", "bloomreach", CREDENTIAL_FIELDS["bloomreach"])
    document = parse_document(EXAMPLE_FLOW.read_text(encoding="utf-8"), "yaml")
    [imported] = import_flows(workspace, document, admin, publish=True)
    flow, version = imported.flow, imported.version
    assert version is not None
    started = timezone.now() - timedelta(minutes=5)
    message = {
        "id": "shop-events:0:41",
        "body": {"name": "customers/events", "data": {"customer_ids": {"registered": "u-1"}}},
        "headers": {},
        "meta": {"topic": "shop-events", "partition": 0, "offset": 41, "timestamp": None},
    }
    execution = Execution.objects.create(
        flow=flow,
        version=version,
        key=f"v{version.number}:shop-events:0:41",
        status="failed",
        topic="shop-events",
        partition=0,
        offset=41,
        started_at=started,
        finished_at=started + timedelta(seconds=1),
        failed_node="bloomreach",
        retry_input=message,
        summary='{"user_id": "u-1", "type": "purchase"}',
        error="HTTP 503 from https://api.exponea.com: Service Unavailable",
        steps=[step_record(node_id="shop-events", component="kafka")],
    )

    work = tmp_path / "work"
    work.mkdir()
    (work / "manage.py").symlink_to(ROOT / "manage.py")
    (work / "docs").symlink_to(ROOT / "docs")
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "CELERY_QUEUE": QUEUE,
        "TRIBUTARY_REDIS_PREFIX": REDIS_PREFIX,
        "KAFKA_BOOTSTRAP_SERVERS": shop_events,
        "LIVE_SERVER": live_server.url,
        "TOKEN": token.key,
        "FLOW": str(flow.id),
        "EXECUTION": str(execution.id),
    }
    yield env, work


def shell_prelude(server_url: str) -> str:
    server = urlparse(server_url)
    target = f"{server.hostname}:{server.port}"
    return (
        "set -euo pipefail\n"
        "curl() {\n"
        "  command curl --fail-with-body --silent --show-error \\\n"
        f'    --connect-to localhost:8000:{target} --connect-to 127.0.0.1:8000:{target} "$@"\n'
        "}\n"
    )


@pytest.mark.parametrize("block", samples("shell"))
def test_shell_sample(block: Block, shell_env: tuple[dict[str, str], Path]) -> None:
    env, work = shell_env
    script = shell_prelude(env["LIVE_SERVER"]) + block.text
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, report
    expected = block.attrs.get("expect", [])
    for text in [expected] if isinstance(expected, str) else expected:
        assert text in done.stdout, f"{text!r} not in the output\n{report}"


# --- the guides say what the code does ------------------------------------------------------


def table_rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.lstrip().startswith("|")
    ]


def render_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_operator_guide_documents_every_setting_with_its_default() -> None:
    text = OPERATOR_GUIDE.read_text(encoding="utf-8")
    rows = {row[0].strip("`"): row for row in table_rows(text) if row[0].startswith("`")}
    problems = []
    for name, setting in sorted(settings_variables().items()):
        row = rows.get(name)
        if row is None or len(row) < 3:
            problems.append(f"{name}: no row | `{name}` | default | meaning | in the guide")
            continue
        if setting.default not in (NO_LITERAL, ""):
            shown = f"`{render_default(setting.default)}`"
            if shown not in row[1]:
                problems.append(f"{name}: the default cell {row[1]!r} should show {shown}")
    for name in sorted(code_variables() - set(settings_variables())):
        if name not in rows:
            problems.append(f"{name} (read outside settings.py): no row in the guide")
    assert not problems, "\n".join(problems)


def test_operator_guide_documents_no_variable_that_nothing_reads() -> None:
    text = OPERATOR_GUIDE.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = [row[0].strip("`") for row in table_rows(section) if row[0].startswith("`")]
    compose = COMPOSE_FILE.read_text(encoding="utf-8")
    known = set(settings_variables()) | code_variables() | env_example_variables()
    stale = [name for name in names if name not in known and name not in compose]
    assert names and not stale, f"documented but read by nothing: {stale}"


def test_user_guide_covers_every_component_option_and_credential_field() -> None:
    text = USER_GUIDE.read_text(encoding="utf-8")
    cells = {cell.strip("`") for row in table_rows(text) for cell in row}
    missing = []
    for descriptor in all_descriptors():
        if f"`{descriptor.name}`" not in text:
            missing.append(f"component {descriptor.name}")
        for option in descriptor.config_schema.get("properties", {}):
            if option not in cells:
                missing.append(f"{descriptor.name}: option {option}")
        for name in (descriptor.credential_schema or {}).get("properties", {}):
            if name not in cells:
                missing.append(f"{descriptor.credential_type} credential: field {name}")
    assert not missing, "not in a table of docs/user-guide.md: " + ", ".join(missing)


def test_user_guide_lists_every_importable_module() -> None:
    text = USER_GUIDE.read_text(encoding="utf-8")
    missing = [name for name in ALLOWED_MODULES if f"`{name}`" not in text]
    assert not missing, f"docs/user-guide.md does not list {missing}"


def test_readme_links_every_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        path.name
        for path in sorted((ROOT / "docs").glob("*.md"))
        if f"(docs/{path.name})" not in readme
    ]
    assert not missing, f"README.md's Docs list does not link {missing}"
