"""The ``gridserve`` command: ``run``, ``db``, ``seed``, ``scheduler``, ``worker``, ``jobs``,
``users``."""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext

from gridserve import audit
from gridserve.config import settings
from gridserve.db import transaction
from gridserve.models import ROLES


def _create_app():
    from gridserve.app import create_app

    return create_app()


def _cli_actor() -> audit.Actor:
    try:
        who = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        who = str(os.getuid())
    return audit.Actor(kind="cli", name=f"cli:{who}")


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def main() -> None:
    """gridserve: grid management and community outreach backend."""


main.add_command(shell_command)
main.add_command(routes_command)


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--with-scheduler/--without-scheduler",
    default=False,
    help="Also start `gridserve scheduler` as a child process (the quick start does).",
)
@click.option("--reload/--no-reload", default=False, help="Restart on code changes.")
def run_command(host: str, port: int, with_scheduler: bool, reload: bool) -> None:
    """Development server (use gunicorn in production). Ctrl-C stops it and its scheduler."""
    from werkzeug.serving import run_simple

    from gridserve.http_security import QuietRequestHandler

    child: subprocess.Popen | None = None
    if with_scheduler:
        child = subprocess.Popen([sys.executable, "-m", "gridserve.cli", "scheduler"])
        click.echo(f"scheduler started (pid {child.pid})")

    def _stop(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)  # also when started from a script that ignored it
    try:
        click.echo(f"gridserve API on http://{host}:{port}/api/v1 (docs: /api/v1/docs)")
        run_simple(
            host,
            port,
            _create_app(),
            use_reloader=reload,
            threaded=True,
            request_handler=QuietRequestHandler,  # Server: gridserve, no versions
        )
    except KeyboardInterrupt:
        pass
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        click.echo("stopped")


@main.group("seed")
def seed_group() -> None:
    """Load demo or reference data."""


@seed_group.command("demo")
@click.option(
    "--reset-passwords",
    is_flag=True,
    help="Set every demo user's password to GRIDSERVE_DEMO_PASSWORD (or a new one).",
)
@with_appcontext
def seed_demo(reset_passwords: bool) -> None:
    """Create the invented demo street, institutions and users. Re-running changes nothing."""
    from seeds.loader import load_demo

    with audit.acting_as(_cli_actor()), transaction():
        report = load_demo(
            password=settings().demo_password,
            reset_passwords=reset_passwords,
        )
    for line in report.lines():
        click.echo(line)


@seed_group.command("categories")
@with_appcontext
def seed_categories() -> None:
    """Add the sources' case categories that are missing (by code); edits made since stay."""
    from seeds.case_categories import load_categories

    with audit.acting_as(_cli_actor()), transaction():
        added = load_categories()
    click.echo(f"case categories: added {added}")


@main.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler process (one active at a time; others stand by)."""
    from jobs.scheduler import run_scheduler

    run_scheduler(current_app._get_current_object())  # type: ignore[attr-defined]


@main.command("worker")
@click.option("--once", is_flag=True, help="Run the jobs waiting, then exit.")
@click.option(
    "--poll", default=2.0, show_default=True, type=click.FloatRange(0.05),
    help="Seconds between looks at an empty queue.",
)  # fmt: skip
@click.option("--id", "name", help="This worker's name in the logs and job claims.")
@click.option(
    "--grace", default=20.0, show_default=True, type=click.FloatRange(0),
    help="On SIGTERM, seconds the current job may take to finish before it is released.",
)  # fmt: skip
@with_appcontext
def worker_command(once: bool, poll: float, name: str | None, grace: float) -> None:
    """Claim and run queued jobs (grid plans, imports, assessments); any number may run.

    With GRIDSERVE_JOBS_MODE=workers the web processes leave every job to these. SIGTERM:
    no new job; the current one finishes within --grace seconds or goes back to the queue.
    """
    from gridserve.worker import Worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    done = Worker(app, name=name, poll=poll, grace=grace).run(once=once)
    click.echo(f"worker: {done} job(s) run")


@main.group("jobs")
def jobs_group() -> None:
    """Inspect and run scheduled jobs by hand."""


@jobs_group.command("list")
@with_appcontext
def jobs_list() -> None:
    """Every job the scheduler runs, with its trigger."""
    from jobs.registry import JOBS

    for job in JOBS.values():
        click.echo(f"{job.name:<20} {job.trigger_text:<28} {job.description}")


@jobs_group.command("run")
@click.argument("name")
@with_appcontext
def jobs_run(name: str) -> None:
    """Run one job once, now, in its own transaction."""
    from jobs.registry import JOBS, run_job

    if name not in JOBS:
        raise click.BadParameter(
            f"unknown job {name!r}; known: {', '.join(JOBS)}", param_hint="NAME"
        )
    result = run_job(name, actor=_cli_actor())
    click.echo(f"{name}: {result}")


@main.group("areas")
def areas_group() -> None:
    """Area boundaries from the operator's shell (a new installation's first district)."""


@areas_group.command("import")
@click.argument("path", type=click.File("rb"))
@click.option("--repair", is_flag=True, help="Repair invalid rings instead of refusing them.")
@with_appcontext
def areas_import(path, repair: bool) -> None:
    """Import districts, streets or communities from a GeoJSON file: all of them, or none.

    The same checks as ``POST /api/v1/areas`` (codes, levels, parents, geometry); a new
    installation starts here, then ``gridserve users create --area CODE``.
    """
    from gridserve.errors import AppError
    from gridserve.scope import OPERATOR
    from gridserve.services.geography import areas

    try:
        payload = json.loads(path.read())
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="PATH") from exc
    try:
        with audit.acting_as(_cli_actor()), transaction():
            made = areas.import_boundaries(OPERATOR, payload, repair=repair)
            for area in made:
                click.echo(f"created {area.level} {area.code} {area.name} (id {area.id})")
    except AppError as exc:
        raise click.ClickException(f"{exc.message} {exc.details or ''}".strip()) from exc


@main.group("users")
def users_group() -> None:
    """Manage accounts from the operator's shell."""


@users_group.command("create")
@click.option("--username", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(ROLES),
)
@click.option("--area", "area_code", help="Code of the area node the user is bound to.")
@click.option("--institution", "institution_name", help="Institution (code or any alias).")
@click.option("--full-name", default="")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="GRIDSERVE_NEW_USER_PASSWORD",
    help="Prompted for when not given (or set GRIDSERVE_NEW_USER_PASSWORD).",
)
@with_appcontext
def users_create(
    username: str,
    role: str,
    area_code: str | None,
    institution_name: str | None,
    full_name: str,
    password: str,
) -> None:
    """Create an account bound to an area (by code) or an institution."""
    from gridserve.errors import AppError
    from gridserve.services.accounts import institutions, users
    from gridserve.services.geography import areas

    if len(password) < 8:
        raise click.BadParameter("at least 8 characters", param_hint="--password")
    try:
        with audit.acting_as(_cli_actor()), transaction():
            area = areas.find_by_code(area_code) if area_code else None
            if area_code and area is None:
                raise click.BadParameter(f"no area {area_code!r}", param_hint="--area")
            inst = None
            if institution_name:
                inst = institutions.resolve(institution_name)
                if inst is None:
                    raise click.BadParameter(
                        f"no institution {institution_name!r}", param_hint="--institution"
                    )
            user = users.create_user(
                None,
                {
                    "username": username,
                    "password": password,
                    "role": role,
                    "full_name": full_name,
                    "area_id": area.id if area else None,
                    "institution_id": inst.id if inst else None,
                },
            )
            click.echo(f"created {user.role} {user.username} (id {user.id})")
    except AppError as exc:
        raise click.ClickException(f"{exc.message} {exc.details or ''}".strip()) from exc


@main.group("keys")
def keys_group() -> None:
    """The keys that encrypt personal data (GRIDSERVE_DATA_KEYS, newest first)."""


@keys_group.command("generate", with_appcontext=False)
def keys_generate() -> None:
    """Print a new data key (needs no configuration: make it before you configure)."""
    from gridserve.crypto import generate_key

    click.echo(generate_key())


@keys_group.command("rotate")
@click.option(
    "--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000),
    help="Rows read and rewritten per batch.",
)  # fmt: skip
@with_appcontext
def keys_rotate(batch_size: int) -> None:
    """Re-encrypt every piece of personal data with the newest key, and re-hash the SMS
    numbers' look-up hashes with it (the SMS tables', case reporters' and case feedback's),
    in one transaction.

    Put the new key first in GRIDSERVE_DATA_KEYS and restart every process
    before running this; drop the old key afterwards. Either every row is
    rewritten or, on any error, none is. SMS look-ups and sends wait while it
    runs (the hash key is locked) and use the new key once it has committed.
    """
    from gridserve.crypto import DecryptionError
    from gridserve.services.accounts import institutions
    from gridserve.services.cases import phones as case_phones
    from gridserve.services.field import households, workers
    from gridserve.services.geography import areas
    from gridserve.services.sms import numbers as sms_numbers

    keys = settings().data_keys or []
    if len(keys) < 2:
        click.echo("only one key configured: rows are re-encrypted with that same key")
    try:
        with audit.acting_as(_cli_actor()), transaction():
            old, new = sms_numbers.rotation()  # first: it locks the hash key
            numbers = sms_numbers.rehash_all(batch_size)
            cases = case_phones.rehash_all(old, new, batch_size)
            count = households.reencrypt_all(batch_size)
            staff = {
                "workers": workers.reencrypt_all(),
                "institution_contacts": institutions.reencrypt_all(),
                "area_duty_phones": areas.reencrypt_all(),
            }
            audit.record("rotate_data_keys", "personal_data", None, {**numbers, **staff, **cases})
    except DecryptionError as exc:
        raise click.ClickException(
            f"{exc}; nothing was changed (is the old key still in GRIDSERVE_DATA_KEYS?)"
        ) from exc
    click.echo(f"re-encrypted {count} household(s) with the newest key")
    click.echo(
        f"re-encrypted {staff['workers']} worker and {staff['institution_contacts']} contact "
        "phone(s)"
    )
    click.echo(f"re-encrypted {staff['area_duty_phones']} area duty mobile(s)")
    click.echo(
        "re-encrypted and re-hashed SMS numbers: "
        + ", ".join(f"{n} in {table}" for table, n in numbers.items())
    )
    click.echo(
        f"re-encrypted and re-hashed {cases['tasks']} case reporter phone(s); re-hashed "
        f"{cases['case_feedback']} case feedback number(s)"
        + (
            f" ({cases['case_feedback_unmatched']} no longer matching a reporter: cleared)"
            if cases["case_feedback_unmatched"]
            else ""
        )
    )


if __name__ == "__main__":
    main()
