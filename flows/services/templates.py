"""The template gallery: ready-made flows shipped as files under `flows/templates/`.

A template file, `<slug>.flow.yaml`, is a `tributary.flow/v1` flow file (docs/flow-format.md)
with two more keys: `template` (slug, title, description, tags, order) and `samples` (messages
for the transform step, each with the output the transform returns for it). A flow is created
from a template through the flow-file import, so its graph is checked exactly as an imported
file's is. See docs/templates.md.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from components.registry import descriptor
from flows.errors import Conflict, ServiceError
from flows.graph import validate_graph
from flows.models import Credential, Flow, Workspace
from flows.services import portability

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
SUFFIX = ".flow.yaml"
META_KEYS = {"slug", "title", "description", "tags", "order"}


class NoSuchTemplate(ServiceError):
    status_code = 404


class TemplateFileError(Exception):
    """A template file shipped with Tributary is malformed: a bug in the file, not user input."""


@dataclass(frozen=True)
class Sample:
    """A message as the transform step receives it, and the bodies it sends on ([]: dropped)."""

    description: str
    message: dict[str, Any]
    expected_output: list[Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "message": self.message,
            "expected_output": self.expected_output,
        }


@dataclass(frozen=True)
class Template:
    slug: str
    title: str
    description: str
    tags: tuple[str, ...]
    order: int
    # The flow file without "template" and "samples": what the import receives.
    document: dict[str, Any]
    samples: tuple[Sample, ...]
    # Node ids, trigger first, in the order the steps run.
    node_order: tuple[str, ...]

    @property
    def flow_name(self) -> str:
        return str(self.document["name"])

    @property
    def graph(self) -> dict[str, Any]:
        return dict(self.document["graph"])

    def _nodes(self) -> list[dict[str, Any]]:
        by_id = {node["id"]: node for node in self.graph["nodes"]}
        return [by_id[node_id] for node_id in self.node_order]

    @property
    def components(self) -> list[dict[str, str]]:
        """The component of each step, trigger first, with its title from the catalog."""
        return [
            {"name": node["component"], "title": descriptor(node["component"]).title}
            for node in self._nodes()
        ]

    @property
    def transform_node(self) -> str | None:
        """The code step the samples are for."""
        return next((n["id"] for n in self._nodes() if n["component"] == "code"), None)

    def summary(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "components": self.components,
            "flow_name": self.flow_name,
        }

    def detail(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "graph": copy.deepcopy(self.graph),
            "credentials": copy.deepcopy(self.document.get("credentials") or {}),
            "transform_node": self.transform_node,
            "samples": [sample.as_dict() for sample in self.samples],
        }


# --- Loading --------------------------------------------------------------------------------


def template_slugs(directory: Path = TEMPLATES_DIR) -> list[str]:
    """The slugs of the template files, from their names alone (nothing is parsed)."""
    return sorted(path.name.removesuffix(SUFFIX) for path in directory.glob(f"*{SUFFIX}"))


def load_template(path: Path) -> Template:
    """One template file, checked for shape; TemplateFileError says what is wrong where."""
    try:
        document = portability.parse_document(path.read_text(encoding="utf-8"), "yaml")
    except ServiceError as error:
        raise TemplateFileError(f"{path.name}: {error.message}") from None
    if not isinstance(document, dict):
        raise TemplateFileError(f"{path.name}: not a YAML object")
    meta = document.pop("template", None)
    raw_samples = document.pop("samples", [])
    if not isinstance(meta, dict) or set(meta) != META_KEYS:
        raise TemplateFileError(f'{path.name}: "template" needs exactly {sorted(META_KEYS)}')
    slug = path.name.removesuffix(SUFFIX)
    if meta["slug"] != slug:
        raise TemplateFileError(f"{path.name}: slug {meta['slug']!r} differs from the file name")
    tags = meta["tags"]
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise TemplateFileError(f'{path.name}: "tags" is a list of strings')
    plan, errors = validate_graph(document.get("graph"), require_complete=True)
    if plan is None:
        raise TemplateFileError(f"{path.name}: {errors[0] if errors else 'invalid graph'}")
    return Template(
        slug=slug,
        title=str(meta["title"]),
        description=str(meta["description"]),
        tags=tuple(tags),
        order=int(meta["order"]),
        document=document,
        samples=tuple(_sample(path.name, index, raw) for index, raw in enumerate(raw_samples)),
        node_order=tuple(node.id for node in [plan.trigger, *plan.actions]),
    )


def _sample(file_name: str, index: int, raw: Any) -> Sample:
    where = f"{file_name}: sample #{index + 1}"
    if not isinstance(raw, dict) or set(raw) != {"description", "message", "expected_output"}:
        raise TemplateFileError(f"{where}: needs description, message and expected_output")
    message, expected = raw["message"], raw["expected_output"]
    if not isinstance(message, dict) or "body" not in message:
        raise TemplateFileError(f'{where}: the message is an object with a "body"')
    if not isinstance(expected, list):
        raise TemplateFileError(f"{where}: expected_output is a list of message bodies")
    return Sample(str(raw["description"]), message, expected)


@cache
def _catalog() -> dict[str, Template]:
    # Read once per process: the files ship with the code and change only with it.
    templates = [load_template(TEMPLATES_DIR / f"{slug}{SUFFIX}") for slug in template_slugs()]
    return {t.slug: t for t in sorted(templates, key=lambda t: (t.order, t.slug))}


def list_templates() -> list[Template]:
    """Every template, in gallery order."""
    return list(_catalog().values())


def get_template(slug: str) -> Template:
    """The template of that slug, or NoSuchTemplate (404) naming the ones there are."""
    template = _catalog().get(slug)
    if template is None:
        known = ", ".join(_catalog())
        raise NoSuchTemplate(
            f"no template {slug!r}; the gallery has: {known}",
            {"template": "not found", "available": list(_catalog())},
        )
    return template


# --- Using a template -----------------------------------------------------------------------


@transaction.atomic
def create_flow_from_template(
    workspace: Workspace, slug: str, user: User | None = None, name: str | None = None
) -> Flow:
    """A new draft flow in `workspace` with the template's graph; nothing is published.

    The name is `name`, or the template's flow name made unique in the workspace ("... (2)").
    A given name that a flow of the workspace already has is refused (a ServiceError): the
    import path would otherwise replace that flow's draft. Each credential the template names
    is used when the workspace has one of that name and type; otherwise the step's credential
    is left empty for the user to choose, and publishing says which step still needs one.
    """
    template = get_template(slug)
    # One template use at a time per workspace, so two at once never pick the same free name
    # (a row lock on PostgreSQL; SQLite has a single writer anyway).
    Workspace.objects.select_for_update().get(id=workspace.id)
    if name is None:
        name = _free_name(workspace, template.flow_name)
    else:
        name = name.strip()
        if not name:
            raise ServiceError("the flow needs a name", {"name": "blank"})
        if Flow.objects.filter(workspace=workspace, name=name).exists():
            raise ServiceError(
                f"a flow named {name!r} already exists in workspace {workspace.name!r}; "
                "choose another name",
                {"name": "taken"},
            )
    document = copy.deepcopy(template.document)
    document["name"] = name
    document["credentials"] = _credentials_at_hand(workspace, document.get("credentials") or {})
    [result] = portability.import_flows(workspace, document, user)
    if not result.created:
        # A flow of that name appeared meanwhile through another path; raising rolls back the
        # import's change to it.
        raise Conflict(f"a flow named {name!r} was just created; try again", {"name": "taken"})
    return result.flow


def _free_name(workspace: Workspace, base: str) -> str:
    taken = set(
        Flow.objects.filter(workspace=workspace, name__startswith=base).values_list(
            "name", flat=True
        )
    )
    number, name = 2, base
    while name in taken:
        name, number = f"{base} ({number})", number + 1
    return name


def _credentials_at_hand(
    workspace: Workspace, references: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    """The template's credential references the workspace has (same name and type)."""
    names = {ref["name"] for ref in references.values()}
    present = set(
        Credential.objects.filter(workspace=workspace, name__in=names).values_list("name", "type")
    )
    return {node: ref for node, ref in references.items() if (ref["name"], ref["type"]) in present}
