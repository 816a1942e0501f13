"""The ``plait`` command.

Commands meant for automation print their result (an id, a key) as the last line of
standard output, and everything else (logs, hints) on standard error, so a script can do
``APP_ID=$(plait apps import app.yml --publish | tail -n 1)``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Awaitable, Callable
from typing import IO, ParamSpec, TypeVar

import click

from plait import __version__
from plait.app import bootstrap, runs
from plait.app.apps import ImportResult
from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.app.engine_services import code_sandbox, egress_policy
from plait.app.logs import configure_logging
from plait.app.retention import PruneResult
from plait.egress import Egress
from plait.engine.services import Services
from plait.engine.workflow import load_workflow
from plait.errors import ConfigurationError, PlaitError
from plait.events import WorkflowFinished
from plait.settings import Settings, load_settings

P = ParamSpec("P")
T = TypeVar("T")


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings.log)
    return settings


def reports_errors(command: Callable[P, T]) -> Callable[P, T]:
    """Turn Plait's errors into a one-line message and a non-zero exit, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return command(*args, **kwargs)
        except ConfigurationError as error:
            click.echo(f"Error: {error.message}", err=True)
            sys.exit(2)
        except PlaitError as error:
            click.echo(f"Error: {error.message}", err=True)
            sys.exit(1)

    return wrapper


def _run(work: Callable[[Plait], Awaitable[T]], *, migrate_now: bool | None = None) -> T:
    """Start Plait (wait for the database, migrate), do ``work``, shut down."""

    async def main() -> T:
        plait = await bootstrap.start(_settings(), migrate_now=migrate_now, background=False)
        try:
            return await work(plait)
        finally:
            await plait.close()

    return asyncio.run(main())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="plait")
def main() -> None:
    """Plait: build, run and serve LLM applications. Honours PLAIT_DATA_DIR, DATABASE_URL and
    the other settings in docs/settings.md."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default: PLAIT_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: PLAIT_PORT, 5001).")
@reports_errors
def serve(host: str | None, port: int | None) -> None:
    """Serve the API and console."""
    import uvicorn

    from plait.api.server import create_app

    settings = _settings()
    if host is not None:
        settings.server.host = host
    if port is not None:
        settings.server.port = port
    base_url = f"http://{settings.server.host}:{settings.server.port}"

    async def announce(plait: Plait) -> None:
        status = await plait.accounts.setup_status()
        lines = [f"Plait {__version__} is running at {base_url} (data: {settings.data_dir.resolve()})", ""]
        if not status.done:
            lines += [
                "Next: create the owner account (there is no default one):",
                "  .venv/bin/plait setup --email you@example.com --password 'a-long-passphrase-1'",
                f"  or POST {base_url}/console/api/setup with {{email, password, name}}",
                "",
            ]
        lines += [
            "Then import an app and give it an API key:",
            "  APP_ID=$(.venv/bin/plait apps import my-app.yml --publish | tail -n 1)",
            "  .venv/bin/plait keys create $APP_ID",
            f"Health: {base_url}/health   Readiness: {base_url}/ready   API docs: {base_url}/docs",
        ]
        click.echo("\n".join(lines), err=True)

    app = create_app(settings, on_ready=announce)
    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,
        access_log=False,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        timeout_graceful_shutdown=10,
    )


@main.command()
@click.option("--email", required=True, help="The owner's email; it is the login.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 8 characters, letters and digits.",
)
@click.option("--name", default=None, help="The owner's display name (default: the email's local part).")
@click.option("--workspace-name", default=None, help="Name of the first workspace.")
@reports_errors
def setup(email: str, password: str, name: str | None, workspace_name: str | None) -> None:
    """Create the first workspace and its owner (once; there is no default account)."""
    result = _run(
        lambda plait: plait.accounts.setup(
            email=email, password=password, name=name, workspace_name=workspace_name, actor=CLI
        )
    )
    click.echo(f"Created the owner {email.strip().lower()} and workspace {result.workspace_id}.", err=True)
    click.echo(result.account_id)


@main.group()
def db() -> None:
    """The metadata database."""


@db.command("upgrade")
@reports_errors
def db_upgrade() -> None:
    """Wait for the database and migrate it to the newest schema (under the migration lock)."""
    from plait.storage.db import migrate

    async def work(plait: Plait) -> tuple[str | None, str | None]:
        return await migrate.current_revision(plait.db), migrate.head_revision()

    current, head = _run(work, migrate_now=True)
    click.echo(f"Database schema at revision {current} (newest: {head}).")


@main.group()
def apps() -> None:
    """Apps: import, export, list."""


workspace_option = click.option(
    "--workspace", "workspace_id", default=None, help="Workspace id (default: the only one)."
)


@apps.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--publish", is_flag=True, help="Publish the imported draft, so the Service API serves it.")
@click.option("--name", default=None, help="Name of the new app (default: the name in the file).")
@workspace_option
@reports_errors
def apps_import(file: IO[bytes], publish: bool, name: str | None, workspace_id: str | None) -> None:
    """Import a Dify DSL FILE (YAML; - for standard input) as a new app. Prints the app id last."""
    text = file.read()

    async def work(plait: Plait) -> ImportResult:
        workspace = await plait.workspaces.resolve(workspace_id)
        return await plait.apps.import_dsl(workspace.id, CLI, text, name=name, publish=publish)

    result = _run(work)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"Imported a {result.mode} app from DSL {result.imported_dsl_version}.", err=True)
    if result.published_version_id:
        click.echo(f"Published version {result.published_version_id}.", err=True)
    click.echo(result.app_id)


@apps.command("export")
@click.argument("app_id")
@click.option("--include-secrets", is_flag=True, help="Keep the values of secret environment variables.")
@workspace_option
@reports_errors
def apps_export(app_id: str, include_secrets: bool, workspace_id: str | None) -> None:
    """Print APP_ID's draft as a Dify DSL document (secret values left empty)."""

    async def work(plait: Plait) -> str:
        workspace = await plait.workspaces.resolve(workspace_id)
        return await plait.apps.export_dsl(workspace.id, app_id, include_secrets=include_secrets)

    click.echo(_run(work), nl=False)


@apps.command("list")
@workspace_option
@reports_errors
def apps_list(workspace_id: str | None) -> None:
    """List the workspace's apps: id, mode, whether published, name."""

    async def work(plait: Plait) -> list[tuple[str, str, bool, str]]:
        workspace = await plait.workspaces.resolve(workspace_id)
        return [
            (a.id, a.mode, a.published_version_id is not None, a.name)
            for a in await plait.apps.in_workspace(workspace.id)
        ]

    for app_id, mode, published, name in _run(work):
        click.echo(f"{app_id}  {mode:<13}  {'published' if published else 'draft':<9}  {name}")


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.argument("app_id", required=False)
@click.option("--datasets", is_flag=True, help="Create a workspace knowledge key (ds-) instead of an app key.")
@workspace_option
@reports_errors
def keys_create(app_id: str | None, datasets: bool, workspace_id: str | None) -> None:
    """Create an API key for APP_ID (app-), or with --datasets a knowledge key (ds-). Prints the key last."""
    if datasets == (app_id is not None):
        raise click.UsageError("give either APP_ID or --datasets")

    async def work(plait: Plait) -> str:
        workspace = await plait.workspaces.resolve(workspace_id)
        if datasets:
            created = await plait.keys.create(workspace.id, CLI, kind="dataset")
        else:
            created = await plait.keys.create(workspace.id, CLI, kind="app", app_id=app_id)
        return created.token

    token = _run(work)
    click.echo("Store this key now: Plait keeps only its hash and cannot show it again.", err=True)
    click.echo(token)


@main.group("runs")
def runs_group() -> None:
    """Workflow runs and their logs."""


@runs_group.command("prune")
@click.option(
    "--older-than-days",
    type=click.IntRange(min=1),
    default=None,
    help="Delete the runs that finished more than this many days ago (default: PLAIT_RUN_RETENTION_DAYS).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@reports_errors
def runs_prune(older_than_days: int | None, dry_run: bool) -> None:
    """Delete finished runs and their node executions in small batches; print the counts.
    Conversations and messages are kept."""
    settings = _settings()
    if older_than_days is None and not settings.retention.run_days:
        raise click.UsageError("give --older-than-days, or set PLAIT_RUN_RETENTION_DAYS")

    async def work(plait: Plait) -> PruneResult:
        return await plait.retention.prune(older_than_days=older_than_days, dry_run=dry_run)

    result = _run(work)
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(
        f"{verb} {result.runs} runs and {result.node_executions} node executions finished before "
        f"{result.cutoff.isoformat()} ({result.batches} batches).",
        err=True,
    )
    click.echo(f"runs={result.runs} node_executions={result.node_executions}")


@main.group()
def dsl() -> None:
    """Dify DSL files."""


@dsl.command("check")
@click.argument("file", type=click.File("rb"))
@reports_errors
def dsl_check(file: IO[bytes]) -> None:
    """Import and compile FILE; print a summary, or the errors (with their JSON paths)."""
    report = runs.check(file.read())
    click.echo(
        f"{report.name}: {report.mode} app, DSL {report.dsl_version or '(bare graph)'}, {report.node_count} nodes"
    )
    click.echo("  " + ", ".join(f"{name} x{count}" for name, count in report.node_types.items()))
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)


@main.command("run")
@click.argument("file", type=click.File("rb"))
@click.option("--inputs", "inputs_json", default="{}", help="The start inputs, as a JSON object.")
@click.option("--query", default="", help="The user message (sys.query) for chatflows.")
@click.option(
    "--model",
    type=click.Choice(["fake", "local"]),
    default=None,
    help="Answer every LLM call from this model: 'fake' (the default: deterministic replies) or 'local' "
    "(the offline model shipped with Plait).",
)
@click.option("--mock-llm", "mock_llm_file", type=click.File("rb"), default=None, help="JSON: node id -> reply.")
@click.option("--stream", is_flag=True, help="Print every run event as a JSON line.")
@reports_errors
def run_file(
    file: IO[bytes], inputs_json: str, query: str, model: str | None, mock_llm_file: IO[bytes] | None, stream: bool
) -> None:
    """Run a DSL FILE headless and print its outputs (or its answer) as JSON."""
    try:
        inputs = json.loads(inputs_json)
        mock_llm = json.loads(mock_llm_file.read()) if mock_llm_file else None
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not valid JSON: {error}") from None
    if not isinstance(inputs, dict):
        raise click.BadParameter("--inputs must be a JSON object")
    settings = _settings()
    try:
        models = runs.chat_models(model, mock_llm, local_credentials=settings.local_models.provider_credentials())
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    workflow = load_workflow(file.read())

    async def execute() -> WorkflowFinished:
        egress = Egress(egress_policy(settings.egress))
        services = Services(models=models, http=lambda _node_id: egress, code=code_sandbox(settings.code))
        finished: WorkflowFinished | None = None
        async with egress:
            async for event in runs.run(workflow, inputs=inputs, query=query, services=services):
                if stream:
                    click.echo(json.dumps(runs.event_json(event), ensure_ascii=False, default=str))
                if isinstance(event, WorkflowFinished):
                    finished = event
        assert finished is not None
        return finished

    finished = asyncio.run(execute())
    if not stream:
        click.echo(json.dumps(finished.outputs, ensure_ascii=False, indent=2, default=str))
    if finished.status not in ("succeeded", "partial-succeeded"):
        click.echo(f"Error: the run {finished.status}: {finished.error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
