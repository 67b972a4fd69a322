"""People: create, read, list and delete (deleting erases their templates)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, delete, select, update

from storage.erasure_log import ErasedBy, record_erasure
from storage.errors import NotFound
from storage.gallery_log import bump_gallery_version, lock_gallery_version, record_change
from storage.lookalike_purge import forget_lookalikes_of
from storage.models import FaceTemplate, GalleryChangeKind, Person, PersonPublic
from storage.person_keys import shred_person_key
from storage.timeutil import as_utc


def create_person(session: Session, *, name: str) -> Person:
    person = Person(name=name)
    session.add(person)
    session.flush()
    return person


def get_person(session: Session, person_id: int) -> Person:
    """Raises NotFound when no such person exists."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"person {person_id} does not exist")
    return person


def hold_person(session: Session, person_id: int) -> Person:
    """Read the person afresh and keep them from being deleted until the caller's transaction ends.

    For a writer holding the gallery version row (see `lock_gallery_version`): a person read before
    the lock may have been deleted while it waited.

    Raises:
        NotFound: no such person (any more).
    """
    person = session.get(Person, person_id, with_for_update={"key_share": True})
    if person is None:
        raise NotFound(f"person {person_id} does not exist")
    return person


def lock_person(session: Session, person_id: int) -> Person:
    """Read the person afresh, locked until the caller's transaction ends, for their erasure.

    On PostgreSQL no row that refers to them (a template, a membership, a data key) can be added
    meanwhile: its foreign-key check waits for the lock, then fails. So what an erasure counts after
    this is what it removes, and nothing is removed uncounted by the cascade. (SQLite lets one writer
    at a time through: from the erasure's first write on, no one else writes.)

    Raises:
        NotFound: no such person (any more).
    """
    person = session.get(Person, person_id, with_for_update=True)
    if person is None:
        raise NotFound(f"person {person_id} does not exist")
    return person


def _template_counts(
    session: Session, person_ids: Collection[int], *, model_id: str | None
) -> dict[int, tuple[int, int]]:
    """Each person's (templates of `model_id`, templates of other models), in one query; None: every
    template counts as the first."""
    if not person_ids:
        return {}
    query = (
        select(FaceTemplate.person_id, FaceTemplate.model_id, func.count())
        .where(col(FaceTemplate.person_id).in_(person_ids))
        .group_by(col(FaceTemplate.person_id), col(FaceTemplate.model_id))
    )
    counts = dict.fromkeys(person_ids, (0, 0))
    for person_id, template_model_id, count in session.exec(query).all():
        own, other = counts[person_id]
        is_own = model_id is None or template_model_id == model_id
        counts[person_id] = (own + int(count), other) if is_own else (own, other + int(count))
    return counts


def _public(person: Person, counts: dict[int, tuple[int, int]]) -> PersonPublic:
    assert person.id is not None
    own, other = counts[person.id]
    return PersonPublic(
        id=person.id,
        name=person.name,
        created_at=as_utc(person.created_at),
        template_count=own,
        other_model_template_count=other,
    )


def to_public(session: Session, person: Person, *, model_id: str | None = None) -> PersonPublic:
    """The person as the API shows them, their templates counted for `model_id` (the running model: what
    its galleries hold) apart from other models' (enrolled before a model switch, never searched by it);
    None counts every template as the model's (storage code that runs no model)."""
    assert person.id is not None
    return _public(person, _template_counts(session, [person.id], model_id=model_id))


@dataclass(frozen=True)
class PersonOfOtherModels:
    """A person whose every template was made by other models than one: not in that model's gallery."""

    id: int
    name: str
    templates_by_model: dict[str, int]


def people_of_other_models(session: Session, *, model_id: str) -> list[PersonOfOtherModels]:
    """People with templates, none of them made by `model_id` (enrolled before a model switch), by id.

    A gallery of `model_id` holds none of their templates, so they are not recognised until enrolled again.
    """
    query = (
        select(FaceTemplate.person_id, Person.name, FaceTemplate.model_id, func.count())
        .join(Person, col(Person.id) == col(FaceTemplate.person_id))
        .group_by(col(FaceTemplate.person_id), col(Person.name), col(FaceTemplate.model_id))
        .order_by(col(FaceTemplate.person_id), col(FaceTemplate.model_id))
    )
    found: dict[int, PersonOfOtherModels] = {}
    for person_id, name, template_model_id, count in session.exec(query).all():
        person = found.setdefault(person_id, PersonOfOtherModels(person_id, name, {}))
        person.templates_by_model[template_model_id] = int(count)
    return [person for person in found.values() if model_id not in person.templates_by_model]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_people(
    session: Session,
    *,
    name_contains: str | None = None,
    offset: int = 0,
    limit: int = 50,
    model_id: str | None = None,
) -> tuple[list[PersonPublic], int]:
    """One page of people ordered by id (whose name contains `name_contains`, any case), and the total;
    templates counted as `to_public` counts them for `model_id`."""
    conditions = []
    if name_contains:
        pattern = f"%{_escape_like(name_contains.lower())}%"
        conditions.append(func.lower(col(Person.name)).like(pattern, escape="\\"))
    total = int(session.exec(select(func.count()).select_from(Person).where(*conditions)).one())
    query = select(Person).where(*conditions).order_by(col(Person.id)).offset(offset).limit(limit)
    people = session.exec(query).all()
    ids = [person.id for person in people if person.id is not None]
    counts = _template_counts(session, ids, model_id=model_id)
    return [_public(person, counts) for person in people], total


def rename_person(
    session: Session, person_id: int, *, name: str, model_id: str | None = None
) -> PersonPublic:
    """Give a person a new display name.

    Raises:
        NotFound: no such person.
    """
    # One statement that finds and changes the row: a person read first could be erased before the
    # UPDATE, which then matched no row and escaped as the ORM's StaleDataError (a 500).
    renamed = session.exec(update(Person).where(col(Person.id) == person_id).values(name=name))
    if renamed.rowcount == 0:
        raise NotFound(f"person {person_id} does not exist")
    person = session.get(Person, person_id, populate_existing=True)
    assert person is not None, "updated in this transaction"
    return to_public(session, person, model_id=model_id)


def delete_person(session: Session, person_id: int, *, erased_by: ErasedBy) -> int:
    """Delete a person, their data key and every template, and null the look-alike records of other
    people's templates that name them (`forget_lookalikes_of`, with `erased_by`'s keyring); bump the
    gallery version; append the erasure's audit event (`erased_by`: who and when) in the same transaction.

    Destroying the data key makes copies of the templates (in backups, say) unreadable too.
    Returns the number of templates removed. The gallery version row is locked first, as enrollment
    locks it before it touches the person: taken the other way round, the two deadlocked. Then the
    person (`lock_person`): no template added meanwhile goes uncounted with the cascade.

    Raises:
        NotFound: no such person.
        ChainBroken: the audit chain's head is missing although events exist.
        UnknownKeyId, DecryptionError: another person's data key cannot be unwrapped (a missing master key).
    """
    lock_gallery_version(session)
    lock_person(session, person_id)
    shred_person_key(session, person_id)
    removed = session.exec(delete(FaceTemplate).where(col(FaceTemplate.person_id) == person_id))
    # By its key, not the ORM's delete of the row read above: on SQLite that read holds no lock, and a
    # deletion committed since left the ORM's DELETE matching nothing while this one answered success.
    if session.exec(delete(Person).where(col(Person.id) == person_id)).rowcount == 0:
        raise NotFound(f"person {person_id} does not exist")
    forget_lookalikes_of(session, erased_by.keyring, person_id=person_id)
    record_change(session, GalleryChangeKind.person_removed, person_id=person_id)
    bump_gallery_version(session)
    record_erasure(session, erased_by, person_id=person_id)
    session.flush()
    return int(removed.rowcount)


def person_names(session: Session, person_ids: Collection[int]) -> dict[int, str]:
    """The names of those of `person_ids` that exist, in one query (a page of events names up to 50)."""
    if not person_ids:
        return {}
    rows = session.exec(select(Person.id, Person.name).where(col(Person.id).in_(list(person_ids))))
    return {person_id: name for person_id, name in rows if person_id is not None}
