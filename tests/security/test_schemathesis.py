"""Property-based API testing: every operation of /api/schema/ against the running app.

Schemathesis generates requests from the OpenAPI schema that drf-spectacular serves and sends
them over loopback HTTP to a live server (pytest-django's `live_server`), authenticated with
the API token of a user who owns a workspace with a published flow, a credential, a failed
execution and a flow reading a real (embedded) Kafka topic. Every answer must pass
schemathesis' default checks: no 5xx, a documented status code and content type, a body that
matches the documented schema, and documented headers.

Path ids are mostly swapped for the ids of those objects, so the operations do their real work
(publish, start, retry, samples...); a third keep the generated id, which must give a
documented 404. Nothing is left out:
- POST /code/run/ runs the generated code in the real sandbox (cheap: generated code rarely
  even compiles).
- POST /flows/{id}/samples/ reads a real topic of the session's embedded broker (tens of
  milliseconds per call once the broker runs).
- The login endpoints are rate limited (tested in test_api_hardening.py): the counters are
  reset before each call here, so the endpoints' own contract is what gets exercised.
- Operations outside the schema (/metrics, /healthz, the SPA, the admin) are covered by the
  permission matrix in test_api_permissions.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.contrib.auth.models import User
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from config.services import create_topic
from flows.models import Flow
from tests.factories import chain, code_node, kafka_node
from tests.fixtures.kafka import KafkaBroker, produce_records
from tests.security.test_api_permissions import OWNER, World, build_world, clear_login_throttle


def served_schema() -> dict[str, Any]:
    """The schema exactly as GET /api/schema/ serves it (generated in-process at import)."""
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return dict(json.loads(OpenApiJsonRenderer().render(raw)))


# A schema can say what is well formed, not what the domain accepts: an unknown workspace
# id, a graph that is valid JSON but not a valid flow, credential fields that do not match the
# credential type, transform code that fails, retrying an execution that is no longer failed.
# So a change may answer a schema-valid request with the documented 400 (reads may not).
DOMAIN_REFUSALS = {
    "operations": [
        {
            "include-method-regex": "^(POST|PUT|PATCH)$",
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]
                }
            },
        }
    ]
}

schema = schemathesis.openapi.from_dict(
    served_schema(), config=schemathesis.config.SchemathesisConfig.from_dict(DOMAIN_REFUSALS)
)

# Examples per operation: enough to find shape and validation bugs, bounded so that the whole
# module stays well under a minute and a half on two cores.
MAX_EXAMPLES = 20
# Status codes seen per operation, for the summary test at the end.
ANSWERS: dict[str, Counter[int]] = {}


@pytest.fixture
def seeded(transactional_db: Any, settings: Any, kafka_broker: KafkaBroker) -> Iterator[World]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    world = build_world()
    # The login of the schema's request examples (flows/api/examples.py), so they succeed.
    User.objects.create_user("admin", password="admin")
    topic = f"schemathesis-samples-{world.flow.id}"
    create_topic(kafka_broker.bootstrap, topic, partitions=1)
    produce_records(kafka_broker.bootstrap, topic, [(b"k", b'{"n": 1}'), (None, b"not json")])
    world.samples_flow = Flow.objects.create(
        workspace=world.workspace,
        name="Samples",
        graph=chain(kafka_node(topic, bootstrap_servers=kafka_broker.bootstrap), code_node()),
    )
    clear_login_throttle()
    yield world
    clear_login_throttle()


def real_ids(case: Any, world: World) -> None:
    """Point the case's path at the seeded objects (two cases in three)."""
    path = case.operation.path
    ids = {
        "/api/v1/workspaces/": world.workspace.id,
        "/api/v1/credentials/": world.credential.id,
        "/api/v1/executions/": world.execution.id,
        "/api/v1/flows/": world.flow.id,
    }
    generated = case.path_parameters or {}
    value = generated.get("id")
    if not isinstance(value, int) or isinstance(value, bool) or value % 3 == 0:
        return  # malformed ids (negative testing) and a third of the others stay as generated
    for prefix, real in ids.items():
        if path.startswith(prefix):
            generated["id"] = real
    if path.endswith("/samples/"):
        assert world.samples_flow is not None
        generated["id"] = world.samples_flow.id
    if "number" in generated:
        generated["number"] = 1


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
    database=None,
)
def test_every_operation_keeps_its_documented_contract(
    case: Any, seeded: World, live_server: Any
) -> None:
    real_ids(case, seeded)
    if case.operation.path.startswith("/api/v1/auth/"):
        # The login rate limit has its own tests (test_api_hardening.py); here every attempt
        # gets a fresh allowance, so the valid login of the examples is not refused with 429.
        clear_login_throttle()
    response = case.call_and_validate(
        base_url=live_server.url,
        headers={"Authorization": f"Token {seeded.tokens[OWNER]}"},
        timeout=30,
    )
    if response.request.method == case.method.upper():  # not schemathesis' method probes
        ANSWERS.setdefault(case.operation.label, Counter())[response.status_code] += 1


def test_every_operation_did_its_real_work() -> None:
    """Not vacuous: each operation that ran above succeeded at least once (2xx), so the
    checks saw its success shape and not only refusals. Runs after them (file order)."""
    if not ANSWERS:
        pytest.skip("the schema tests did not run in this session")
    summary = "\n".join(
        f"{label}: {dict(sorted(c.items()))}" for label, c in sorted(ANSWERS.items())
    )
    print(summary)
    never = [
        label for label, counts in ANSWERS.items() if not any(200 <= code < 300 for code in counts)
    ]
    assert not never, f"operations that never succeeded: {never}\n{summary}"
