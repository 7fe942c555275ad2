"""Flows as code: export flows to a versioned file format and import them back.

A flow file (`docs/flow-format.md`) carries the draft graph exactly as stored, except that
credential ids — meaningless in another workspace or installation — are nulled and the
credentials are referenced by name (never by secret) in `"credentials"`:

    {"format": "tributary.flow/v1", "name": "...", "graph": {...},
     "credentials": {"<node id>": {"name": "<credential name>", "type": "<type>"}}}

A bundle holds several: `{"format": "tributary.flows/v1", "flows": [<flow>, ...]}`.
Both are written and read as JSON or YAML.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import yaml
from django.contrib.auth.models import User
from django.db import transaction

from flows.errors import ServiceError
from flows.models import Credential, Flow, FlowVersion, Workspace
from flows.services import flows as flow_services

FLOW_FORMAT = "tributary.flow/v1"
BUNDLE_FORMAT = "tributary.flows/v1"
FORMATS = (FLOW_FORMAT, BUNDLE_FORMAT)
FLOW_KEYS = {"format", "name", "graph", "credentials"}
MAX_NAME = 200  # Flow.name's max_length

TextFormat = Literal["json", "yaml"]


@dataclass(frozen=True)
class ImportResult:
    flow: Flow
    created: bool
    version: FlowVersion | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.flow.id,
            "name": self.flow.name,
            "created": self.created,
            "version": self.version.number if self.version else None,
        }


# --- Export --------------------------------------------------------------------------------


def export_flow(flow: Flow) -> dict[str, Any]:
    """The flow's draft graph as a `tributary.flow/v1` document: credential ids replaced by
    null and named in `"credentials"`. No secret and no database id leaves the workspace."""
    graph = copy.deepcopy(flow.graph) if isinstance(flow.graph, dict) else {}
    nodes = [n for n in graph.get("nodes", []) if isinstance(n, dict)]
    used = {n["credential"] for n in nodes if isinstance(n.get("credential"), int)}
    by_id = {
        c.id: c for c in Credential.objects.filter(workspace_id=flow.workspace_id, id__in=used)
    }
    credentials: dict[str, dict[str, str]] = {}
    for node in nodes:
        credential_id = node.get("credential")
        if credential_id is None:
            continue
        credential = by_id.get(credential_id)
        if credential is None:
            # Deleting a credential in use is refused, so this is a graph edited behind the
            # API's back; exporting it would silently lose the reference.
            raise ServiceError(
                f"flow {flow.name!r}, node {node.get('id')!r}: refers to credential "
                f"#{credential_id}, which is not in the workspace; choose another credential",
                {"node": node.get("id"), "field": "credential"},
            )
        credentials[str(node["id"])] = {"name": credential.name, "type": credential.type}
        node["credential"] = None
    return {"format": FLOW_FORMAT, "name": flow.name, "graph": graph, "credentials": credentials}


def export_workspace(workspace: Workspace) -> dict[str, Any]:
    """Every flow of the workspace as one `tributary.flows/v1` bundle, ordered by name."""
    flows = Flow.objects.filter(workspace=workspace).order_by("name", "id")
    return {"format": BUNDLE_FORMAT, "flows": [export_flow(flow) for flow in flows]}


# --- Text -----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Transform code reads as code in a block scalar instead of one line of "\n" escapes.
    # PyYAML falls back to quoting by itself when a block cannot hold the text exactly.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


class _Loader(yaml.SafeLoader):
    """Safe YAML without aliases (a few lines of nested aliases expand to gigabytes when
    the document is walked) and with dates kept as the strings they were written as."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in flow files", event.start_mark
            )
        return super().compose_node(parent, index)


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.ScalarNode)
    return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def render_document(document: dict[str, Any], text_format: TextFormat) -> str:
    """The document as JSON (indented) or YAML text, keys in the document's order."""
    if text_format == "yaml":
        return str(yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True))
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


def parse_document(text: str | bytes, text_format: TextFormat) -> Any:
    """A JSON or YAML document as plain JSON values; a ServiceError saying where it is
    malformed, or what in it JSON cannot hold (binary, sets, non-string keys)."""
    try:
        loaded = (
            yaml.load(text, Loader=_Loader)  # noqa: S506 (_Loader is a SafeLoader)
            if text_format == "yaml"
            else orjson.loads(text)
        )
    except orjson.JSONDecodeError as error:
        raise ServiceError(f"not valid JSON: {error}", {"document": "malformed"}) from None
    except yaml.YAMLError as error:
        message = " ".join(str(error).split())
        raise ServiceError(f"not valid YAML: {message}", {"document": "malformed"}) from None
    return to_json_values(loaded)


def to_json_values(value: Any) -> Any:
    """`value` through JSON and back, so that only what a JSON column stores remains."""
    try:
        return orjson.loads(orjson.dumps(value))
    except orjson.JSONEncodeError as error:
        raise ServiceError(
            f"the document holds a value JSON cannot represent: {error}",
            {"document": "not JSON"},
        ) from None


# --- Import ---------------------------------------------------------------------------------


def _flow_documents(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        raise ServiceError(
            f'a flow file is a JSON/YAML object with a "format" ({" or ".join(FORMATS)})',
            {"format": "missing"},
        )
    found = document.get("format")
    if found == FLOW_FORMAT:
        return [document]
    if found != BUNDLE_FORMAT:
        raise ServiceError(
            f"unknown format {found!r}: this Tributary reads {' and '.join(FORMATS)}",
            {"format": "unknown"},
        )
    if set(document) - {"format", "flows"}:
        unknown = ", ".join(sorted(map(str, set(document) - {"format", "flows"})))
        raise ServiceError(f"unknown bundle keys: {unknown}", {"bundle": "unknown keys"})
    flows = document.get("flows")
    if not isinstance(flows, list) or not all(isinstance(f, dict) for f in flows):
        raise ServiceError('a bundle\'s "flows" is a list of flow objects', {"flows": "invalid"})
    for index, flow in enumerate(flows):
        if flow.get("format", FLOW_FORMAT) != FLOW_FORMAT:
            raise ServiceError(
                f"flow #{index + 1} of the bundle has format {flow.get('format')!r}, "
                f"expected {FLOW_FORMAT!r} (or none)",
                {"flows": "invalid"},
            )
    return flows


def _check_flow_document(doc: dict[str, Any], index: int) -> str:
    """The flow's name, once its top-level shape is right."""
    name = doc.get("name")
    where = f"flow {name!r}" if isinstance(name, str) and name.strip() else f"flow #{index + 1}"
    if unknown := set(doc) - FLOW_KEYS:
        keys = ", ".join(sorted(map(str, unknown)))
        raise ServiceError(f"{where}: unknown keys {keys}", {"flow": where, "keys": "unknown"})
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ServiceError(
            f'{where}: "name" must be a non-empty string of at most {MAX_NAME} characters',
            {"flow": where, "name": "invalid"},
        )
    if not isinstance(doc.get("graph"), dict):
        raise ServiceError(
            f'{where}: "graph" must be an object', {"flow": name, "graph": "missing"}
        )
    credentials = doc.get("credentials", {})
    if credentials is None:
        credentials = {}
    if not isinstance(credentials, dict) or not all(
        isinstance(ref, dict)
        and isinstance(ref.get("name"), str)
        and isinstance(ref.get("type"), str)
        for ref in credentials.values()
    ):
        raise ServiceError(
            f'{where}: "credentials" maps node ids to {{"name": ..., "type": ...}}',
            {"flow": name, "credentials": "invalid"},
        )
    return name


def _resolved_graph(workspace: Workspace, doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The document's graph with each credential name replaced by the workspace's id."""
    graph = copy.deepcopy(doc["graph"])
    nodes = {
        n["id"]: n
        for n in graph.get("nodes", [])
        if isinstance(n, dict) and isinstance(n.get("id"), str)
    }
    for node_id, node in nodes.items():
        if node.get("credential") is not None:
            # Ids differ between workspaces: taking one would point at a stranger's secret.
            raise ServiceError(
                f"flow {name!r}, node {node_id!r}: credentials are referenced by name in "
                f'"credentials", not by id in the graph; set the node\'s "credential" to null',
                {"flow": name, "node": node_id, "field": "credential"},
            )
    references: dict[str, dict[str, str]] = doc.get("credentials") or {}
    names = {ref["name"] for ref in references.values()}
    available = {c.name: c for c in Credential.objects.filter(workspace=workspace, name__in=names)}
    for node_id, ref in references.items():
        target = nodes.get(node_id)
        where = f"flow {name!r}, node {node_id!r}"
        if target is None:
            raise ServiceError(
                f'{where}: named in "credentials" but not in the graph',
                {"flow": name, "node": node_id, "field": "credential"},
            )
        credential = available.get(ref["name"])
        if credential is None:
            raise ServiceError(
                f"{where}: no credential named {ref['name']!r} in workspace "
                f"{workspace.name!r}; create it (type {ref['type']!r}) and import again",
                {"flow": name, "node": node_id, "credential": ref["name"], "reason": "missing"},
            )
        if credential.type != ref["type"]:
            raise ServiceError(
                f"{where}: credential {ref['name']!r} is of type {credential.type!r}, the file "
                f"expects {ref['type']!r}",
                {"flow": name, "node": node_id, "credential": ref["name"], "reason": "type"},
            )
        target["credential"] = credential.id
    return graph


@transaction.atomic
def import_flows(
    workspace: Workspace, document: Any, user: User | None = None, *, publish: bool = False
) -> list[ImportResult]:
    """Create or update (by name, within the workspace) the draft of each flow in a flow
    document or bundle, and with `publish` publish each one.

    All or nothing: the first problem — an unknown format, a credential name the workspace
    lacks or of another type, a graph the API would refuse (details name node and field),
    a graph that cannot be published — raises a ServiceError and nothing is written.
    A running flow keeps running its active version until the import publishes a new one.
    """
    documents = _flow_documents(document)
    names = [_check_flow_document(doc, index) for index, doc in enumerate(documents)]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ServiceError(
            f"the bundle holds several flows named {', '.join(map(repr, duplicates))}",
            {"flows": "duplicate names"},
        )
    results = []
    for doc, name in zip(documents, names, strict=True):
        graph = _resolved_graph(workspace, doc, name)
        existing = list(Flow.objects.select_for_update().filter(workspace=workspace, name=name)[:2])
        if len(existing) > 1:
            raise ServiceError(
                f"flow {name!r}: the workspace has several flows of that name; rename all but "
                "one so the import knows which to update",
                {"flow": name, "name": "ambiguous"},
            )
        try:
            if existing:
                flow = flow_services.update_flow(existing[0], graph=graph)
            else:
                flow = flow_services.create_flow(workspace, name, graph, user)
            version = flow_services.publish_flow(flow, user) if publish else None
        except ServiceError as error:
            # Say which flow of a bundle is wrong; the details keep naming node and field.
            raise ServiceError(
                f"flow {name!r}: {error.message}", {"flow": name, **error.details}
            ) from None
        results.append(ImportResult(flow, created=not existing, version=version))
    return results


# --- Lookups for the command line -----------------------------------------------------------


def find_workspace(reference: str | None) -> Workspace:
    """A workspace by id or name; without one, the only workspace there is."""
    workspaces = Workspace.objects.order_by("id")
    if reference is None:
        found = list(workspaces[:2])
        if len(found) == 1:
            return found[0]
        if not found:
            raise ServiceError("there is no workspace yet", {"workspace": "missing"})
        names = ", ".join(repr(w.name) for w in workspaces)
        raise ServiceError(f"several workspaces; choose one with --workspace ({names})")
    matches = list(workspaces.filter(name=reference))
    if not matches and reference.isdigit():
        matches = list(workspaces.filter(id=int(reference)))
    if len(matches) != 1:
        problem = "several workspaces are" if matches else "no workspace is"
        raise ServiceError(f"{problem} named {reference!r}; give its id instead")
    return matches[0]


def find_flow(reference: str, workspace: Workspace | None = None) -> Flow:
    """A flow by id or name (within `workspace` when given)."""
    flows = Flow.objects.select_related("workspace")
    if workspace is not None:
        flows = flows.filter(workspace=workspace)
    matches = list(flows.filter(name=reference)[:2])
    if not matches and reference.isdigit():
        matches = list(flows.filter(id=int(reference)))
    if not matches:
        raise ServiceError(f"no flow {reference!r}", {"flow": "not found"})
    if len(matches) > 1:
        raise ServiceError(
            f"several flows are named {reference!r}; give its id or --workspace",
            {"flow": "ambiguous"},
        )
    return matches[0]
