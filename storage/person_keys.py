"""Per-person data keys: created on first enrollment, wrapped by the master key, destroyed on erasure."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import Row, func
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, delete, select, update
from sqlmodel.sql.expression import SelectOfScalar

from storage.cipher import KEY_BYTES, Sealed
from storage.errors import NotFound
from storage.inserts import insert_if_absent
from storage.models import Person, PersonKey, utc_now
from storage.protocols import Cipher
from storage.statement_timeout import allow_long_statements

_IN_CLAUSE_IDS = 500  # SQLite before 3.32 allows 999 bound parameters per statement


def _wrap_aad(person_id: int) -> bytes:
    """Binds a wrapped key to its person: a key row copied onto another person fails to unwrap."""
    return f"facegate/person-key/v1|{person_id}".encode()


def _unwrap(cipher: Cipher, row: PersonKey | Row[int, str, bytes, bytes]) -> bytes:
    person_id, master_key_id, nonce, wrapped_key = (
        row.person_id,
        row.master_key_id,
        row.nonce,
        row.wrapped_key,
    )
    return cipher.open(
        Sealed(key_id=master_key_id, nonce=nonce, ciphertext=wrapped_key), _wrap_aad(person_id)
    )


def person_data_key(session: Session, cipher: Cipher, person_id: int, *, create: bool = False) -> bytes:
    """The person's data key, unwrapped; with `create`, made on first use (see `person_data_keys`).

    Raises:
        NotFound: no key (the person was erased or never enrolled) and `create` is false.
        UnknownKeyId, DecryptionError: the wrapping master key is missing or the row was altered.
    """
    row = session.get(PersonKey, person_id)
    if row is not None:
        return _unwrap(cipher, row)
    if not create:
        raise NotFound(f"person {person_id} has no data key (erased or never enrolled)")
    return person_data_keys(session, cipher, [person_id])[person_id]


def person_data_keys(session: Session, cipher: Cipher, person_ids: Sequence[int]) -> dict[int, bytes]:
    """The data keys of many people, unwrapped a chunk of ids per query; missing ones made (rows locked).

    Idempotent under concurrency: a key another transaction stores first is the one returned.

    Raises:
        UnknownKeyId, DecryptionError: a wrapping master key is missing or a row was altered.
    """
    wanted = sorted(set(person_ids))
    keys: dict[int, bytes] = {}
    for start in range(0, len(wanted), _IN_CLAUSE_IDS):
        keys.update(unwrap_person_keys(session, cipher, person_ids=wanted[start : start + _IN_CLAUSE_IDS]))
    missing = [person_id for person_id in wanted if person_id not in keys]
    for start in range(0, len(missing), _IN_CLAUSE_IDS):
        chunk = missing[start : start + _IN_CLAUSE_IDS]
        session.exec(select(Person.id).where(col(Person.id).in_(chunk)).with_for_update()).all()
    new_rows = []
    for person_id in missing:
        keys[person_id] = secrets.token_bytes(KEY_BYTES)
        sealed = cipher.seal(keys[person_id], _wrap_aad(person_id))
        new_rows.append(
            {
                "person_id": person_id,
                "master_key_id": sealed.key_id,
                "nonce": sealed.nonce,
                "wrapped_key": sealed.ciphertext,
                "created_at": utc_now(),
            }
        )
    if not new_rows:
        return keys
    # Two first uses at once: the later insert waits for the earlier and does nothing. A row whose nonce
    # is not ours holds the other's key, which is the one to use (a template sealed under a key that was
    # not stored could never be read); our own rows are not unwrapped again (a KMS call each).
    insert_if_absent(session, PersonKey, new_rows, key=["person_id"])
    ours = {row["person_id"]: row["nonce"] for row in new_rows}
    for start in range(0, len(missing), _IN_CLAUSE_IDS):
        for row in _key_rows(session, missing[start : start + _IN_CLAUSE_IDS]):
            if row.nonce != ours[row.person_id]:
                keys[row.person_id] = _unwrap(cipher, row)
    return keys


def unwrap_person_keys(
    session: Session, cipher: Cipher, *, person_ids: Sequence[int] | SelectOfScalar[int]
) -> dict[int, bytes]:
    """The data keys of many people in one query (ids, or a query that selects them), unwrapped.

    People without a key are absent from the result.

    Raises:
        UnknownKeyId, DecryptionError: a wrapping master key is missing or a row was altered.
    """
    return {row.person_id: _unwrap(cipher, row) for row in _key_rows(session, person_ids)}


def _key_rows(
    session: Session, person_ids: Sequence[int] | SelectOfScalar[int]
) -> Sequence[Row[int, str, bytes, bytes]]:
    """The wrapped key rows of these people (person id, master key id, nonce, wrapped key)."""
    columns = select_columns(
        col(PersonKey.person_id),
        col(PersonKey.master_key_id),
        col(PersonKey.nonce),
        col(PersonKey.wrapped_key),
    )
    return session.connection().execute(columns.where(col(PersonKey.person_id).in_(person_ids))).all()


def shred_person_key(session: Session, person_id: int) -> bool:
    """Delete the person's data key; returns whether there was one."""
    return bool(session.exec(delete(PersonKey).where(col(PersonKey.person_id) == person_id)).rowcount)


def rewrap_person_keys(session: Session, cipher: Cipher) -> int:
    """Re-wrap every data key not under the primary master key; returns how many changed.

    Templates are untouched (their data keys do not change), so this is quick and safe while gates run:
    a row is readable under either master key until the old one is removed. A key deleted with its
    person meanwhile is skipped (each row is updated by its key and nonce, not by the ORM, whose UPDATE of
    a row gone since the read failed the rotation: SQLite's read holds no lock).
    """
    allow_long_statements(session.connection())  # every person's key; a lock wait is still bounded
    old_rows = session.exec(
        select(PersonKey).where(col(PersonKey.master_key_id) != cipher.primary_key_id).with_for_update()
    ).all()
    changed = 0
    for row in old_rows:
        sealed = cipher.seal(_unwrap(cipher, row), _wrap_aad(row.person_id))
        same = (col(PersonKey.person_id) == row.person_id) & (col(PersonKey.nonce) == row.nonce)
        values = {"master_key_id": sealed.key_id, "nonce": sealed.nonce, "wrapped_key": sealed.ciphertext}
        changed += session.exec(update(PersonKey).where(same).values(**values)).rowcount
    return changed


def master_key_usage(session: Session) -> dict[str, int]:
    """How many data keys each master key id wraps (to tell when an old key can be retired)."""
    rows = session.exec(select(PersonKey.master_key_id, func.count()).group_by(col(PersonKey.master_key_id)))
    return {master_key_id: int(count) for master_key_id, count in rows}
