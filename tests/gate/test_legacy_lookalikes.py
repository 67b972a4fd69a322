"""Templates stored before migration 0011 (no look-alike record) still form look-alike pairs.

0011 added `face_template.lookalikes`, NULL on every row that existed before it. A NULL record means
"not known": every reader of the gallery searches that template's neighbours itself (Gallery.apply),
so a pair of people both enrolled before the upgrade is found at the gate and on the console's
look-alike page as if it had been recorded; the stored record only saves the gate that search.
Checked on a database really taken down to 0010 and up again, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from enrollment import EnrollmentSettings, confusable_pairs
from gate import GalleryCache
from recognition import Recognizer
from storage import Engine, Keyring, session_scope
from tests.storage.lookalike_helpers import stored_records, upgrade_from_0010


def _null_records(engine: Engine) -> int:
    return sum(record is None for record in stored_records(engine).values())


def _gate(engine: Engine, keyring: Keyring, recognizer: Recognizer) -> GalleryCache:
    return GalleryCache(
        engine=engine, keyring=keyring, recognizer=recognizer, poll_s=0.0, monotonic=lambda: 0.0
    )


def test_pairs_enrolled_before_0011_are_found_by_the_gate_and_the_console(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, enroll_person, group_faces
) -> None:
    erin = enroll_person("Erin", group_faces[2])
    twin = enroll_person("Erin again", group_faces[2])
    frank = enroll_person("Frank", group_faces[3])
    assert _null_records(engine) == 0, "enrollment stores a record with every template"

    upgrade_from_0010(engine)

    assert _null_records(engine) == 3
    threshold = recognizer.cos_threshold
    gate = _gate(engine, keyring, recognizer)
    pairs = gate.current().lookalikes(threshold)
    assert (erin, twin) in pairs and (twin, erin) in pairs
    assert (erin, frank) not in pairs and (twin, frank) not in pairs
    with session_scope(engine) as session:
        floor = threshold - EnrollmentSettings().confusable_margin_cos
        listed = confusable_pairs(session, keyring, recognizer, min_score=floor)
    assert [(pair.person_a, pair.person_b) for pair in listed] == [(erin, twin)]

    third = enroll_person("Erin thrice", group_faces[2])
    assert _null_records(engine) == 3, "a new enrollment stores its own record and touches no other"
    assert set(gate.current().confusable_pairs(threshold)) == {(erin, twin), (erin, third), (twin, third)}
