"""person_names: the names of many people in one query, absent ids left out."""

from __future__ import annotations

from storage import Engine, create_person, delete_person, person_names, session_scope


def test_person_names_skips_missing_ids(engine: Engine) -> None:
    with session_scope(engine) as session:
        ada = create_person(session, name="Ada").id
        bob = create_person(session, name="<b>Bob</b>").id
        gone = create_person(session, name="Gone").id
        assert ada is not None and bob is not None and gone is not None
        delete_person(session, gone)
        assert person_names(session, {ada, bob, gone, 987654}) == {ada: "Ada", bob: "<b>Bob</b>"}
        assert person_names(session, []) == {}
