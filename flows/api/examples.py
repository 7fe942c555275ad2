"""Request examples for the API docs (/api/docs/); the schema tests send them too."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

TRANSFORM = 'def run(msg):\n    return {"double": msg.body.n * 2}\n'

LOGIN = OpenApiExample(
    "Demo login",
    value={"username": "admin", "password": "admin"},
    description="The login `make run` creates (TRIBUTARY_ADMIN_USER / _PASSWORD).",
    request_only=True,
)
CODE_CHECK = OpenApiExample("A transform", value={"code": TRANSFORM}, request_only=True)
CODE_RUN = OpenApiExample(
    "Double a number",
    value={"code": TRANSFORM, "message": {"body": {"n": 21}}},
    request_only=True,
)
FLOW = OpenApiExample(
    "Kafka topic to a transform",
    value={
        "name": "Shop events",
        "graph": {
            "nodes": [
                {
                    "id": "in",
                    "component": "kafka",
                    "config": {"topic": "shop-events"},
                    "credential": None,
                    "position": {"x": 0, "y": 0},
                },
                {
                    "id": "double",
                    "component": "code",
                    "config": {"code": TRANSFORM},
                    "credential": None,
                    "position": {"x": 300, "y": 0},
                },
            ],
            "edges": [{"source": "in", "target": "double"}],
        },
    },
    request_only=True,
)
CREDENTIAL = OpenApiExample(
    "Bearer token for the REST step",
    value={
        "name": "Shop API",
        "type": "http_auth",
        "fields": {"auth_type": "bearer", "token": "paste-the-token-here"},
    },
    request_only=True,
)
