import logging
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from alembic.util import CommandError
from flask import current_app

from commerce.catalog.quick_search import is_derived
from commerce.downgrade_guard import DowngradeGuard, guarding, is_forced, watch_downgrades

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_engine_url():
    return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)

    with context.begin_transaction():
        context.run_migrations()


@contextmanager
def sqlite_foreign_keys_off(connection):
    """SQLite's procedure for schema changes: foreign keys off around the transaction.

    Batch operations rebuild a table by copying it and dropping the original; with foreign keys
    on, that DROP deletes the rows first and ON DELETE CASCADE empties the child tables (the
    0009 upgrade emptied every manual collection this way). The pragma is a no-op inside a
    transaction, so it is set on the driver connection before Alembic begins one, and put back
    whatever happens.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def check_sqlite_foreign_keys(connection):
    """Before commit: the migrated rows still satisfy every foreign key (else roll back)."""
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({row[0] for row in broken})
        raise CommandError(
            f"Refused: the migration would leave {len(broken)} row(s) pointing at missing rows "
            f"(in {', '.join(tables)}). Nothing was changed."
        )


def _destination():
    """The revision a downgrade or upgrade goes to, as typed ("base" for none)."""
    try:
        revision = context.get_revision_argument()
    except KeyError:  # commands that move nothing (current, history)
        return ""
    return revision if isinstance(revision, str) else " ".join(revision or ()) or "base"


def _include_name(name, type_, parent_names):
    return not (type_ == "table" and is_derived(name))


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()
    # A downgrade that would drop tables holding rows is refused unless forced
    # (`flask db downgrade -x force=1 ...`): see commerce/downgrade_guard.py.
    guard = DowngradeGuard(
        forced=is_forced(context.get_x_argument(as_dictionary=True)),
        destination=_destination(),
    )
    watch_downgrades(context.script)

    with connectable.connect() as connection, sqlite_foreign_keys_off(connection):
        # One transaction for the whole run on SQLite too (its connections issue a real BEGIN,
        # commerce/db.py), so a refused downgrade rolls back everything it did.
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            # Derived tables outside the models (the quick search's FTS5 tables on SQLite)
            # are never proposed for removal by autogenerate.
            **{"transactional_ddl": True, "include_name": _include_name, **conf_args},
        )

        with context.begin_transaction(), guarding(guard):
            context.run_migrations()
            guard.check()
            check_sqlite_foreign_keys(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
