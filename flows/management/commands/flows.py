"""`python manage.py flows`: flows as code from the command line (docs/flow-format.md).

    flows list [--workspace NAME]
    flows export [--workspace NAME] [--flow NAME|ID] [--format json|yaml] [-o FILE]
    flows import FILE [--workspace NAME] [--publish] [--user USERNAME]
    flows publish|start|stop FLOW [--workspace NAME]

Thin: the work is done by flows.services; an error is one line on stderr and exit code 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from flows.errors import ServiceError
from flows.models import Flow
from flows.services import flows as flow_services
from flows.services import portability

YAML_SUFFIXES = {".yaml", ".yml"}


class Command(BaseCommand):
    help = "List, export, import, publish, start and stop flows (flows as code)."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

        listing = commands.add_parser("list", help="the flows with their status and version")
        listing.add_argument("--workspace", help="workspace name or id (default: all)")

        export = commands.add_parser("export", help="write a flow file or a workspace bundle")
        export.add_argument("--workspace", help="workspace name or id")
        export.add_argument("--flow", help="one flow (name or id); default: every flow")
        export.add_argument(
            "--format", choices=["json", "yaml"], help="default: from -o, else json"
        )
        export.add_argument("-o", "--output", help="file to write (default: standard output)")

        load = commands.add_parser("import", help="create or update flows from a file")
        load.add_argument("file", help="a flow file or bundle, JSON or YAML ('-': stdin)")
        load.add_argument("--workspace", help="workspace name or id")
        load.add_argument("--publish", action="store_true", help="publish each imported flow")
        load.add_argument("--user", help="username recorded as author")

        for name, what in (
            ("publish", "freeze the draft into a new version"),
            ("start", "run the published version"),
            ("stop", "stop consuming"),
        ):
            command = commands.add_parser(name, help=what)
            command.add_argument("flow", help="flow name or id")
            command.add_argument("--workspace", help="workspace name or id")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"do_{options['command']}")(options)
        except ServiceError as error:
            raise CommandError(error.message) from None
        except OSError as error:
            raise CommandError(f"{error.strerror or error}: {error.filename}") from None

    def do_list(self, options: dict[str, Any]) -> None:
        flows = Flow.objects.select_related("workspace", "active_version").order_by(
            "workspace__name", "name", "id"
        )
        if options["workspace"]:
            flows = flows.filter(workspace=portability.find_workspace(options["workspace"]))
        for flow in flows:
            version = f"v{flow.active_version.number}" if flow.active_version else "-"
            self.stdout.write(
                f"{flow.id}\t{flow.workspace.name}\t{flow.name}\t{flow.status}\t{version}"
            )

    def do_export(self, options: dict[str, Any]) -> None:
        output = options["output"]
        text_format: portability.TextFormat = options["format"] or (
            "yaml" if output and Path(output).suffix in YAML_SUFFIXES else "json"
        )
        workspace = (
            portability.find_workspace(options["workspace"]) if options["workspace"] else None
        )
        if options["flow"]:
            document = portability.export_flow(portability.find_flow(options["flow"], workspace))
        else:
            workspace = workspace or portability.find_workspace(None)
            document = portability.export_workspace(workspace)
        text = portability.render_document(document, text_format)
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(f"wrote {output}")
        else:
            self.stdout.write(text, ending="")

    def do_import(self, options: dict[str, Any]) -> None:
        path = options["file"]
        text_format: portability.TextFormat
        if path == "-":
            text = sys.stdin.read()
            text_format = "json" if text.lstrip().startswith("{") else "yaml"
        else:
            text = Path(path).read_text(encoding="utf-8")
            text_format = "yaml" if Path(path).suffix in YAML_SUFFIXES else "json"
        workspace = portability.find_workspace(options["workspace"])
        user = None
        if options["user"]:
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user {options['user']!r}")
        document = portability.parse_document(text, text_format)
        results = portability.import_flows(workspace, document, user, publish=options["publish"])
        for result in results:
            done = "created" if result.created else "updated"
            version = f", published v{result.version.number}" if result.version else ""
            self.stdout.write(f"{done} flow #{result.flow.id} {result.flow.name!r}{version}")

    def _flow(self, options: dict[str, Any]) -> Flow:
        workspace = (
            portability.find_workspace(options["workspace"]) if options["workspace"] else None
        )
        return portability.find_flow(options["flow"], workspace)

    def do_publish(self, options: dict[str, Any]) -> None:
        flow = self._flow(options)
        version = flow_services.publish_flow(flow)
        self.stdout.write(f"flow #{flow.id} {flow.name!r}: published v{version.number}")

    def do_start(self, options: dict[str, Any]) -> None:
        flow = flow_services.start_flow(self._flow(options))
        self.stdout.write(f"flow #{flow.id} {flow.name!r}: {flow.status}")

    def do_stop(self, options: dict[str, Any]) -> None:
        flow = flow_services.stop_flow(self._flow(options))
        self.stdout.write(f"flow #{flow.id} {flow.name!r}: {flow.status}")
