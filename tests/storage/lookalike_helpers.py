"""Look-alike record test helpers: a database upgraded past 0011, and its rows' stored records."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

import storage
from storage import Engine


def upgrade_from_0010(engine: Engine) -> None:
    """Take the schema down to 0010 (dropping every record) and up to head: what an upgrade leaves."""
    config = Config()
    config.set_main_option("script_location", str(Path(storage.__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
    storage.create_schema(engine)


def stored_records(engine: Engine) -> dict[str, bytes | None]:
    """Each template's sealed look-alike record as stored (None: no record), by template id."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, lookalikes FROM face_template")).all()
    return {template_id: None if blob is None else bytes(blob) for template_id, blob in rows}
