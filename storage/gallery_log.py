"""Reading the gallery in bulk and as changes since a version, so gates never decrypt more than changed.

A full load unwraps every person's data key in one query and streams templates in batches; a delta
reads the change log (added templates, removed people, access-rule changes) after a version.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby

from sqlalchemy import Row, func, text, update
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from storage.cipher import Sealed, open_all_with, unpack_sealed
from storage.errors import NotFound
from storage.inserts import insert_if_absent
from storage.models import FaceTemplate, GalleryChange, GalleryChangeKind, GalleryVersion
from storage.person_keys import unwrap_person_keys
from storage.protocols import Cipher
from storage.statement_timeout import allow_long_statements

logger = logging.getLogger(__name__)

_IN_CLAUSE_ROWS = 500  # SQLite allows 999 bound parameters per statement


GALLERY_CHANNEL = "facegate_gallery"
"""PostgreSQL NOTIFY channel of gallery version bumps (storage/changes.py listens on it)."""


def row_aads(template_id: str, person_id: int, model_id: str) -> tuple[bytes, bytes]:
    """Associated data binding a template's ciphertext, and its look-alike neighbours', to its row,
    person and model (F1): (template, neighbours)."""
    binding = f"{template_id}|{person_id}|{model_id}"
    return f"facegate/template/v1|{binding}".encode(), f"facegate/lookalikes/v1|{binding}".encode()


@dataclass(frozen=True)
class DecryptedTemplate:
    """A template's plaintext bytes (the caller knows the vector format) and its owner."""

    template_id: str
    person_id: int
    model_id: str
    plaintext: bytes
    lookalikes: bytes | None = None
    """Its look-alike neighbours found at enrollment (recognition's byte form), None when not stored."""


@dataclass(frozen=True)
class GalleryDelta:
    """What changed after one version up to `version`: apply removals, then additions."""

    version: int
    added: list[DecryptedTemplate] = field(default_factory=list)
    removed_person_ids: list[int] = field(default_factory=list)
    has_access_changes: bool = False


def record_change(
    session: Session, kind: GalleryChangeKind, *, person_id: int | None = None, template_id: str | None = None
) -> None:
    """Log one change; the caller's `bump_gallery_version` stamps it with the new version."""
    session.add(GalleryChange(kind=kind, person_id=person_id, template_id=template_id))


def gallery_version(session: Session) -> int:
    row = session.get(GalleryVersion, 1)
    return 0 if row is None else row.version


def gallery_stamp(session: Session) -> tuple[int, str]:
    """The gallery version and epoch, in one read. The epoch is new at each restore, so a gallery is known
    by both together (a restore numbers its gallery from the backup's version, which a gate may hold)."""
    table = GalleryVersion.__table__  # type: ignore[attr-defined]
    row = session.connection().execute(select_columns(table.c.version, table.c.epoch).where(table.c.id == 1))
    found = row.first()
    return (0, "") if found is None else (int(found[0]), str(found[1]))


def lock_gallery_version(session: Session) -> int:
    """Hold the gallery version row until the caller's transaction ends; returns the version.

    A writer that reads the gallery before changing it (enrollment stores each template's look-alikes
    in the gallery it joins) takes this first, so that it reads every change committed before its own:
    two enrollments at once would otherwise each miss the other. PostgreSQL waits here for the row;
    SQLite waits for its one write lock, which this takes (see `_locked_version_row`).
    """
    return _locked_version_row(session).version


def _locked_version_row(session: Session) -> GalleryVersion:
    """The gallery version row, locked until the caller's transaction ends; made (version 0) if missing.

    On a fresh database two writers both find no row: each inserts it with ON CONFLICT DO NOTHING, so
    the later one waits for the earlier to end and then locks the row it made, instead of failing on
    the primary key (a plain insert did) or going on unlocked.

    SQLite has no row locks and ignores FOR UPDATE, and its driver runs a transaction's reads outside
    it until the first write: a SELECT here held nothing, and another writer could commit between it
    and the caller's first write (two enrollments each stored look-alikes missing the other). A no-op
    UPDATE is that first write: it begins the transaction with SQLite's write lock (waiting, up to the
    busy timeout, for another writer's commit), so what the caller reads next is what it will change.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.execute(text("UPDATE gallery_version SET version = version WHERE id = 1"))
    row = session.get(GalleryVersion, 1, with_for_update=True)
    if row is not None:
        return row
    insert_if_absent(session, GalleryVersion, {"id": 1, "version": 0, "changes_since": 0}, key=["id"])
    row = session.get(GalleryVersion, 1, with_for_update=True)
    assert row is not None, "inserted just now, or by a transaction that has committed it"
    return row


def bump_gallery_version(session: Session) -> int:
    """Increment the version inside the caller's transaction and stamp its logged changes; returns it."""
    row = _locked_version_row(session)
    row.version += 1
    session.add(row)
    session.flush()
    session.exec(
        update(GalleryChange).where(col(GalleryChange.version).is_(None)).values(version=row.version)
    )
    notify_gallery_change(session, row.version)
    return row.version


def notify_gallery_change(session: Session, version: int) -> None:
    """Queue `NOTIFY facegate_gallery` in the caller's transaction: sent at commit (PostgreSQL only)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        payload = {"channel": GALLERY_CHANNEL, "payload": str(version)}
        connection.execute(text("SELECT pg_notify(:channel, :payload)"), payload)


_Row = Row[str, int, str, bytes, bytes, bytes | None]


def _decrypt(rows: Iterable[_Row], data_keys: dict[int, bytes], model_id: str) -> list[DecryptedTemplate]:
    """Each row's template and stored neighbours, one AES-GCM context per person's run of rows."""
    found = []
    for person_id, group in groupby(rows, key=lambda row: row[1]):
        if person_id not in data_keys:
            raise NotFound(f"person {person_id} has no data key (erased or never enrolled)")
        mine = list(group)
        sealed: list[tuple[Sealed, bytes]] = []
        for template_id, _, key_id, nonce, ciphertext, lookalikes in mine:
            aad, lookalikes_binding = row_aads(template_id, person_id, model_id)
            sealed.append((Sealed(key_id, nonce, ciphertext), aad))
            if lookalikes is not None:
                sealed.append((unpack_sealed(key_id, lookalikes), lookalikes_binding))
        opened = iter(open_all_with(data_keys[person_id], sealed))
        for template_id, *_, lookalikes in mine:
            plaintext = next(opened)
            neighbours = None if lookalikes is None else next(opened)
            found.append(DecryptedTemplate(template_id, person_id, model_id, plaintext, neighbours))
    return found


_COLUMNS = (
    col(FaceTemplate.id),
    col(FaceTemplate.person_id),
    col(FaceTemplate.key_id),
    col(FaceTemplate.nonce),
    col(FaceTemplate.ciphertext),
    col(FaceTemplate.lookalikes),
)


_COUNT_IDS_PER_QUERY = 5000
"""Person ids in one IN list of `count_templates` (SQLite allows 32766 bound parameters, PostgreSQL 65535)."""


def count_templates(session: Session, *, model_id: str, person_ids: Collection[int] | None = None) -> int:
    """How many templates of one model are stored; only those of `person_ids` when given."""
    query = select(func.count()).select_from(FaceTemplate).where(col(FaceTemplate.model_id) == model_id)
    if person_ids is None:
        return int(session.exec(query).one())
    ids, count = sorted(person_ids), 0
    for start in range(0, len(ids), _COUNT_IDS_PER_QUERY):
        part = ids[start : start + _COUNT_IDS_PER_QUERY]
        count += int(session.exec(query.where(col(FaceTemplate.person_id).in_(part))).one())
    return count


def load_templates(
    session: Session, cipher: Cipher, *, model_id: str, batch_templates: int = 16_384
) -> Iterator[list[DecryptedTemplate]]:
    """Every template of one model, decrypted, in batches; data keys are unwrapped in one query first.
    The rest of the session's transaction is not cut by the statement timeout (a lock wait still is).

    Raises:
        NotFound: a template whose person has no data key.
        UnknownKeyId, DecryptionError: a key or a row cannot be authenticated.
    """
    allow_long_statements(session.connection())  # a million templates, sorted; a lock wait is still bounded
    owners = select(FaceTemplate.person_id).where(FaceTemplate.model_id == model_id).distinct()
    data_keys = unwrap_person_keys(session, cipher, person_ids=owners)
    rows = session.connection().execute(
        select_columns(*_COLUMNS)
        .where(col(FaceTemplate.model_id) == model_id)
        .order_by(col(FaceTemplate.person_id), col(FaceTemplate.id))
        .execution_options(yield_per=batch_templates)
    )
    try:
        for batch in rows.partitions(batch_templates):
            yield _decrypt(batch, data_keys, model_id)
    finally:
        rows.close()  # a server-side cursor (PostgreSQL) is released even when decryption fails


def iter_templates(session: Session, cipher: Cipher, *, model_id: str) -> Iterator[DecryptedTemplate]:
    """Every template of one model, decrypted (see `load_templates`)."""
    for batch in load_templates(session, cipher, model_id=model_id):
        yield from batch


def gallery_delta(
    session: Session, cipher: Cipher, *, model_id: str, since_version: int
) -> GalleryDelta | None:
    """The changes after `since_version` up to the current version; None when the log cannot tell.

    None means: reload everything (the version is older than the log, from before a restore, or
    ahead of the database).

    Raises:
        NotFound, UnknownKeyId, DecryptionError: an added template cannot be decrypted.
    """
    state = session.get(GalleryVersion, 1)
    version, since = (0, 0) if state is None else (state.version, state.changes_since)
    if since_version < since or since_version > version:
        return None
    changes = session.exec(
        select(GalleryChange)
        .where(col(GalleryChange.version) > since_version, col(GalleryChange.version) <= version)
        .order_by(col(GalleryChange.id))
    ).all()
    removed = {c.person_id for c in changes if c.kind == GalleryChangeKind.person_removed}
    # A template can be logged twice in one window (enrolled, then re-added by delete_template).
    added_ids = dict.fromkeys(c.template_id for c in changes if c.kind == GalleryChangeKind.template_added)
    return GalleryDelta(
        version=version,
        added=_templates_by_id(
            session, cipher, model_id=model_id, template_ids=[t for t in added_ids if t is not None]
        ),
        removed_person_ids=sorted(person_id for person_id in removed if person_id is not None),
        has_access_changes=any(c.kind == GalleryChangeKind.access_changed for c in changes),
    )


def _templates_by_id(
    session: Session, cipher: Cipher, *, model_id: str, template_ids: list[str]
) -> list[DecryptedTemplate]:
    """The named templates of one model that still exist (a removed person's are gone), decrypted.

    Their owners' data keys are read first, as `load_templates` reads them: read after the templates (in
    a statement of its own, which sees what committed since), a person erased in between had templates
    but no key, and the delta failed with NotFound.
    """
    found: list[DecryptedTemplate] = []
    for start in range(0, len(template_ids), _IN_CLAUSE_ROWS):
        chunk = template_ids[start : start + _IN_CLAUSE_ROWS]
        named = (col(FaceTemplate.model_id) == model_id, col(FaceTemplate.id).in_(chunk))
        owners = select(FaceTemplate.person_id).where(*named).distinct()
        data_keys = unwrap_person_keys(session, cipher, person_ids=owners)
        rows = session.connection().execute(select_columns(*_COLUMNS).where(*named)).all()
        found.extend(_decrypt(rows, data_keys, model_id))
    return found


class StoredGallery:
    """The stored gallery of one model inside the caller's session: what a gallery sync reads."""

    def __init__(self, session: Session, cipher: Cipher, *, model_id: str) -> None:
        self._session = session
        self._cipher = cipher
        self._model_id = model_id

    def stamp(self) -> tuple[int, str]:
        return gallery_stamp(self._session)

    def changes_since(self, version: int) -> GalleryDelta | None:
        return gallery_delta(self._session, self._cipher, model_id=self._model_id, since_version=version)

    def count(self) -> int:
        return count_templates(self._session, model_id=self._model_id)

    def batches(self) -> Iterator[list[DecryptedTemplate]]:
        return load_templates(self._session, self._cipher, model_id=self._model_id)
