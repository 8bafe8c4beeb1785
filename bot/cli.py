"""The ``haven`` command: run, train, chat, purge, db, directory (see ``haven --help``)."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import click

from bot.settings import get_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="haven")
def main() -> None:
    """Haven: a multilingual intake assistant for people affected by human trafficking.

    Start everything with `haven run` (or `make run`), then chat over Rasa's REST channel
    or with `haven chat`. Configuration comes from HAVEN_* environment variables (README).
    """
    os.umask(0o077)  # databases, exports, secrets and logs: readable by their owner only


@main.command()
@click.option("--force", is_flag=True, help="Train even if a model for this data exists.")
def train(force: bool) -> None:
    """Train the Rasa model if the data, domain, config or NLU code changed."""
    from bot.training import train as train_model

    train_model(get_settings(), force=force, echo=click.echo)


@main.command()
@click.option("--no-train", is_flag=True, help="Fail instead of training when no model is current.")
def run(no_train: bool) -> None:
    """Start the Rasa server, the bot service and the web process; Ctrl-C stops all three."""
    from bot.stack import Stack
    from bot.training import model_path
    from bot.training import train as train_model

    settings = get_settings()
    model = model_path(settings)
    Stack(settings, model).check_ports()  # before a training that may take minutes
    _prepare_database(settings)
    if not model.exists():
        if no_train:
            raise click.ClickException(f"No model at {model}; run `haven train` first.")
        model = train_model(settings, echo=click.echo)
    sys.exit(Stack(settings, model).run_forever())


def _post(url: str, body: dict) -> list[dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as reply:  # noqa: S310 - our own URL
        return json.loads(reply.read() or b"[]")


@main.command()
@click.option("--url", default=None, help="Rasa server URL (default: the local stack).")
@click.option("--sender", default=None, help="Conversation id (default: a new random one).")
@click.option("--language", default=None, help="Language hint sent as channel metadata (en, es).")
def chat(url: str | None, sender: str | None, language: str | None) -> None:
    """Talk to a running Haven in this terminal, over the REST channel (the full stack).

    Type a message and press Enter; type a button's number to press it; Ctrl-D to quit.
    """
    settings = get_settings()
    webhook = f"{url or settings.rasa_url}/webhooks/rest/webhook"
    sender = sender or f"cli-{uuid.uuid4().hex[:12]}"
    metadata = {"language": language} if language else {}
    buttons: list[dict] = []
    click.echo(f"Talking to {webhook} as {sender}. Ctrl-D to quit.")
    while True:
        try:
            text = click.prompt(
                click.style("you", bold=True), prompt_suffix="> ", default="", show_default=False
            )
        except (EOFError, click.Abort):
            click.echo()
            return
        if text.strip().isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        try:
            replies = _post(webhook, {"sender": sender, "message": text, "metadata": metadata})
        except (urllib.error.URLError, OSError) as error:
            raise click.ClickException(
                f"Haven is not reachable at {webhook} ({error}). "
                "Start it with `make run` in another terminal."
            ) from error
        buttons = []
        for reply in replies:
            if reply.get("text"):
                click.echo(click.style("haven> ", fg="cyan", bold=True) + reply["text"])
            for button in reply.get("buttons") or []:
                buttons.append(button)
                click.echo(f"   [{len(buttons)}] {button.get('title')}")


@main.command()
@click.option(
    "--days", type=int, default=None, help="Conversations: age in days (HAVEN_RETENTION_DAYS, 30)."
)
@click.option(
    "--referral-days",
    type=int,
    default=None,
    help="Referrals: days after closing, or without activity (HAVEN_REFERRAL_RETENTION_DAYS, 90).",
)
@click.option(
    "--audit-days",
    type=int,
    default=None,
    help="Audit log and closed referral records (HAVEN_AUDIT_RETENTION_DAYS, 365).",
)
def purge(days: int | None, referral_days: int | None, audit_days: int | None) -> None:
    """Delete now every kind of stored personal data past its retention period.

    Conversations older than --days; the personal data of referrals closed more than
    --referral-days ago (and of open ones nobody touched for that long, which are closed
    as expired); audit log entries and closed referral records older than --audit-days;
    ended staff sessions. `haven run` already does this every HAVEN_PURGE_INTERVAL_MINUTES
    (60); use this command when Haven is not running, or at once after lowering a period.
    Prints counts only.
    """
    from bot.db.migrate import upgrade
    from bot.retention import purge_all, with_periods

    one_person = ' (one person\'s data: they write "delete my data")'
    for value, option, hint in ((days, "--days", one_person),
                                (referral_days, "--referral-days", ""),
                                (audit_days, "--audit-days", "")):  # fmt: skip
        if value is not None and value < 1:  # 0 would erase what is in use this minute
            raise click.BadParameter(f"must be 1 or more{hint}", param_hint=option)
    settings = with_periods(get_settings(), days, referral_days, audit_days)
    upgrade(settings.database_url)  # the tables exist even if Haven never ran here
    for line in purge_all(settings).lines():
        click.echo(line)


@main.command("api-token")
@click.option("--minutes", type=click.IntRange(1, 24 * 60), default=5, show_default=True)
def api_token(minutes: int) -> None:
    """Print a short-lived token for Rasa's HTTP API (send it as `Authorization: Bearer …`)."""
    from bot.rasa_api import api_token as make_token

    click.echo(make_token(get_settings(), ttl_seconds=minutes * 60))


def _prepare_database(settings) -> None:
    """Migrate the app database; load the shipped directory data into an empty one."""
    from bot.db.migrate import upgrade
    from bot.directory.seed import seed_if_empty

    upgrade(settings.database_url)
    for path, report in seed_if_empty(settings):
        click.echo(f"Loaded {report.inserted.get('service', 0)} services from {path}.")


@main.group()
def db() -> None:
    """The app database (HAVEN_DATABASE_URL; SQLite under var/ by default)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the app database to the latest schema."""
    from bot.db.migrate import current_revision, upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    click.echo(f"Database at revision {current_revision(settings.database_url)}.")


# --- Backup and restore of both databases (bot/backup.py; docs/deployment.md) ---------------

_PART_OPTION = click.option(
    "--only",
    type=click.Choice(["app", "conversations"]),
    default=None,
    help="Only the app database (directory, staff, referrals) or only the conversations.",
)


@main.command("backup")
@click.argument("destination", type=click.Path(path_type=Path))
@_PART_OPTION
def backup_command(destination: Path, only: str | None) -> None:
    """Back up the app database and the conversations into DESTINATION, a new folder.

    Safe while Haven runs (SQLite's online backup; pg_dump for PostgreSQL). The folder is
    owner-only and holds personal data; contact details stay encrypted with the contact
    keys, which are not in it: keep the keys, apart from the backups.
    """
    from bot.backup import LABELS, BackupError, backup, database_urls

    settings = get_settings()
    try:
        manifest = backup(destination, database_urls(settings), [only] if only else None)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    for name, part in manifest.parts.items():
        click.echo(f"Backed up the {LABELS[name]} ({part.kind}): {destination / part.file}, "
                   f"{part.bytes} bytes.")  # fmt: skip
    click.echo(f"App database revision: {manifest.alembic_revision or '-'}. Manifest written.")
    keys = "HAVEN_CONTACT_KEYS" if settings.contact_keys_env else "var/contact-key"
    click.echo(f"Personal data: keep it private. Contact details need the keys in {keys} "
               "(not in the backup): keep a copy of them apart.")  # fmt: skip


@main.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_PART_OPTION
@click.option("--yes", is_flag=True, help="Replace databases that already hold data.")
def restore_command(source: Path, only: str | None, yes: bool) -> None:
    """Restore a backup made by `haven backup` into the configured databases.

    Stop every Haven process first. Every file is checked against the manifest before
    anything is written; a database that holds data is replaced only with --yes.
    """
    from bot.backup import LABELS, BackupError, database_urls, restore, unreadable_referrals
    from bot.db.migrate import current_revision, head_revision

    settings = get_settings()
    urls = database_urls(settings)
    try:
        done = restore(source, urls, [only] if only else None, overwrite=yes)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    for restored in done:
        counts = ", ".join(f"{table} {rows}" for table, rows in restored.rows.items() if rows)
        click.echo(f"Restored the {LABELS[restored.part]}: {counts or 'no rows'}.")
        if restored.part == "app":
            revision = current_revision(urls["app"])
            if revision != head_revision():
                click.echo(f"The app database is at revision {revision}: run `haven db upgrade`.")
            total, unreadable = unreadable_referrals(urls["app"], settings)
            if unreadable:
                click.echo(f"WARNING: {unreadable} of {total} referral(s) cannot be decrypted with "
                           "the contact keys here: set HAVEN_CONTACT_KEYS to the keys in use "
                           "when the backup was made.")  # fmt: skip


@main.group()
def directory() -> None:
    """The service directory: import and export Open Referral HSDS data."""


@directory.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--strict", is_flag=True, help="Refuse the whole import on any problem (nothing changes)."
)
def directory_import(path, strict: bool) -> None:
    """Import HSDS data: a data package folder (CSV + datapackage.json) or HSDS JSON.

    Rows are matched by id, so importing the same data again updates it in place. A bad
    value is dropped or repaired and a bad row skipped, each with a warning naming its
    file, row and field; the rest is imported. With --strict, any problem refuses the
    import and nothing is changed.
    """
    from bot.db.migrate import upgrade
    from bot.directory.hsds_io import MAX_PROBLEMS, DirectoryImportError, import_directory

    settings = get_settings()
    upgrade(settings.database_url)
    bar = None

    def start(total: int) -> None:
        nonlocal bar
        bar = click.progressbar(length=total, label="Importing", file=sys.stderr)
        bar.__enter__()

    try:
        report = import_directory(
            path, settings.database_url, progress=lambda n: bar.update(n), on_total=start,
            strict=strict,
        )  # fmt: skip
    except DirectoryImportError as error:
        raise click.ClickException(str(error)) from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    services = report.inserted.get("service", 0) + report.updated.get("service", 0)
    click.echo(
        f"Imported {path}: {report.rows} rows ({sum(report.inserted.values())} added, "
        f"{sum(report.updated.values())} updated; {services} service(s)), "
        f"{report.repaired_rows} repaired, {report.skipped_rows} skipped."
    )
    if report.warnings:
        click.echo(f"{len(report.warnings)} warning(s):")
        for warning in report.warnings[:MAX_PROBLEMS]:
            click.echo(f"  {warning.warning}")
        if len(report.warnings) > MAX_PROBLEMS:
            click.echo(f"  … and {len(report.warnings) - MAX_PROBLEMS} more")
    if report.skipped_tables:
        click.echo(f"Not imported (not used by Haven): {', '.join(report.skipped_tables)}")


@directory.command("export")
@click.argument("destination", type=click.Path(path_type=Path))
@click.option(
    "--include-confidential",
    is_flag=True,
    help="Keep confidential locations' street addresses and coordinates (files: owner only).",
)
def directory_export(destination, include_confidential: bool) -> None:
    """Export the directory as HSDS: a data package folder, or tables in one .json file.

    Confidential locations (shelters) are exported without street address, postal code or
    coordinates unless --include-confidential is given.
    """
    from bot.db.migrate import upgrade
    from bot.directory.hsds_io import export_directory

    settings = get_settings()
    upgrade(settings.database_url)
    counts = export_directory(destination, settings.database_url, include_confidential)
    click.echo(f"Exported {counts.get('service', 0)} services to {destination}.")
    if include_confidential:
        click.echo("Confidential addresses included: keep these files private.")


@main.group()
def telegram() -> None:
    """The Telegram channel (TELEGRAM_TOKEN; docs/channels.md)."""


@telegram.command("setup")
def telegram_setup() -> None:
    """Register the command menu in each language and the webhook with its secret
    (TELEGRAM_WEBHOOK_URL), or remove the webhook for polling."""
    import asyncio

    from bot.channels.telegram import set_up

    settings = get_settings()
    if not settings.telegram_token:
        raise click.UsageError("Set TELEGRAM_TOKEN (from BotFather) first.")
    for line in asyncio.run(set_up()):
        click.echo(f"Telegram: {line}")


@main.group()
def translate() -> None:
    """Offline machine translation (Argos packages under var/argos; docs/languages.md)."""


@translate.command("install")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def translate_install(path: Path) -> None:
    """Install an .argosmodel package file (downloaded on a connected machine)."""
    from bot.i18n import argos, machine

    _prepare_database(get_settings())
    try:
        installed = argos.install(path)
    except argos.PackageError as error:
        raise click.ClickException(str(error)) from error
    machine.forget(installed.to_code)  # replies translated by an older package
    click.echo(f"Installed {installed.pair} ({installed.version}) in {installed.path}.")
    click.echo("Restart Haven (or wait for its next message) to use it.")


@translate.command("remove")
@click.argument("source")
@click.argument("target")
def translate_remove(source: str, target: str) -> None:
    """Remove the package that translates SOURCE to TARGET (language codes)."""
    from bot.i18n import argos, machine

    _prepare_database(get_settings())
    if not argos.remove(source, target):
        raise click.ClickException(f"No package {source}→{target} is installed.")
    machine.forget(target)
    click.echo(f"Removed {source}→{target}.")


@translate.command("list")
def translate_list() -> None:
    """Every language Haven knows: catalog and review, native NLU, packages, door line."""
    from bot.i18n import argos
    from bot.languages import REGISTRY, SOURCE_LANGUAGE

    installed = argos.pairs()
    click.echo(f"{'code':<5}{'language':<24}{'dir':<5}{'NLU':<8}{'packages':<11}catalog")
    for code, language in REGISTRY.items():
        into = (code, SOURCE_LANGUAGE) in installed
        out = (SOURCE_LANGUAGE, code) in installed
        packages = ("→en " if into else "") + ("en→" if out else "")
        if code == SOURCE_LANGUAGE:
            catalog = "source language"
        elif language.has_catalog:
            catalog = language.catalog_review or "not reviewed"
        else:
            catalog = "none (door line)" if language.door else "none"
        nlu = "native" if language.native_nlu else ("pivot" if into else "-")
        name = f"{language.english_name} ({language.native_name})"[:23]
        click.echo(
            f"{code:<5}{name:<24}{language.direction:<5}{nlu:<8}{packages or '-':<11}{catalog}"
        )
    for package in argos.installed_packages():
        click.echo(f"package {package.pair} {package.version}: {package.path}")


@main.group()
def staff() -> None:
    """Staff accounts for the console at /staff (case managers, supervisors, admins)."""


def _staff_database() -> str:
    from bot.db.migrate import upgrade

    url = get_settings().database_url
    upgrade(url)  # the staff tables exist before the first account is made
    return url


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password (12+ characters)", hide_input=True, confirmation_prompt=True)


@staff.command("add")
@click.argument("username")
@click.option("--name", "display_name", default="", help="Name the user sees when you join.")
@click.option(
    "--role",
    type=click.Choice(["case_manager", "supervisor", "admin"]),
    default="case_manager",
    show_default=True,
    help="Supervisors and admins also see the audit log and act on any referral.",
)
@click.option("--language", default="en", show_default=True, help="The console's language.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def staff_add(
    username: str, display_name: str, role: str, language: str, password_stdin: bool
) -> None:
    """Create a staff account (asks for the password; it is stored as an Argon2 hash)."""
    from bot.handoff.staff import StaffError, add_staff
    from bot.languages import REGISTRY

    if language not in REGISTRY:
        raise click.BadParameter(f"not a language Haven knows: {language}", param_hint="--language")
    url = _staff_database()
    try:
        made = add_staff(
            username, _new_password(password_stdin), display_name, role, language, url=url
        )
    except StaffError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Created {made.role} {made.username} ({made.display_name}).")
    click.echo(f"Sign in at {get_settings().console_url}/login")


@staff.command("list")
def staff_list() -> None:
    """Every staff account, its role and whether it is active."""
    from bot.handoff.staff import list_staff

    for member, active in list_staff(_staff_database()):
        state = "active" if active else "disabled"
        click.echo(f"{member.username:<24}{member.role:<14}{member.language:<5}{state:<10}"
                   f"{member.display_name}")  # fmt: skip


@staff.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def staff_password(username: str, password_stdin: bool) -> None:
    """Set a new password (signs the account out everywhere and unlocks it)."""
    from bot.handoff.staff import StaffError, set_password

    try:
        set_password(username, _new_password(password_stdin), _staff_database())
    except StaffError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Password changed for {username}.")


@staff.command("disable")
@click.argument("username")
def staff_disable(username: str) -> None:
    """Disable an account and end its sessions."""
    _set_active(username, False)


@staff.command("enable")
@click.argument("username")
def staff_enable(username: str) -> None:
    """Enable a disabled account."""
    _set_active(username, True)


@staff.command("unlock")
@click.argument("username")
def staff_unlock(username: str) -> None:
    """Unlock an account locked after too many wrong passwords."""
    _set_active(username, True)


def _set_active(username: str, active: bool) -> None:
    from bot.handoff.staff import StaffError, set_active

    try:
        set_active(username, active, _staff_database())
    except StaffError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{username}: {'active' if active else 'disabled'}.")


@staff.command("rotate-key")
def staff_rotate_key() -> None:
    """Re-encrypt referrals' contact details with the first key in HAVEN_CONTACT_KEYS.

    Put a new key first in HAVEN_CONTACT_KEYS (keep the old one after it), run this, then
    remove the old key. Make a key with:
    python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
    """
    from bot.handoff.referrals import rotate_keys

    count = rotate_keys(_staff_database())
    click.echo(f"Re-encrypted {count} referral(s) with the newest key.")


if __name__ == "__main__":
    main()
