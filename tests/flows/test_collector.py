"""Garbage-collector settings of workers and trigger runners (flows.engine.collector), checked
in a fresh interpreter each: they change the whole process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc
import django
django.setup()
import config.celery
from celery.signals import worker_process_init
before = gc.get_threshold()[0]
worker_process_init.send(sender=None)  # what a Celery pool process sends once forked
print(before, gc.get_threshold()[0], gc.get_freeze_count())
"""


def probe(threshold: str) -> list[int]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env["TRIBUTARY_GC_THRESHOLD"] = threshold
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [int(word) for word in done.stdout.split()]


@pytest.mark.parametrize("threshold", [50_000, 1_234])
def test_a_worker_collects_less_often_and_freezes_its_start_up(threshold: int) -> None:
    before, after, frozen = probe(str(threshold))
    assert before == 700 and after == threshold
    assert frozen > 10_000  # Django, Celery and the engine, out of the collector's sight


def test_zero_keeps_cpythons_defaults() -> None:
    assert probe("0") == [700, 700, 0]
