"""The demo flow shipped with `make run`: Kafka -> code -> Bloomreach (local stand-in)."""

from __future__ import annotations

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
SAMPLE_EVENTS = DEMO_DIR / "events-1k.jsonl"
TRANSFORM = DEMO_DIR / "transform_bloomreach.py"
DEMO_TOPIC = "shop-events"
DEMO_FLOW_NAME = "Kafka → code → Bloomreach"
DEMO_PROJECT_TOKEN = "demo-project"
DEMO_API_KEY_ID = "demo-key"
DEMO_API_SECRET = "demo-secret"
