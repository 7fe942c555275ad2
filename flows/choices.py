from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


class FlowStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    # Running, but consumption is held: a destination fails every attempt. Resumes by itself.
    RETRYING = "retrying", "Retrying"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"


class ExecutionStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FILTERED = "filtered", "Filtered"
    FAILED = "failed", "Failed"


class StepStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FILTERED = "filtered", "Filtered"
    FAILED = "failed", "Failed"
    # The delivery ledger showed the message already went out; not sent again.
    SKIPPED = "skipped", "Skipped (already delivered)"


# Statuses in which a flow's trigger consumes (the runner keeps a consumer for it).
CONSUMING_STATUSES = (FlowStatus.RUNNING, FlowStatus.RETRYING)
