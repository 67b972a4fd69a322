"""A restore numbers its gallery from the backup's version plus one, which a running gate may hold already,
with other people in it: the gate saw no change and kept admitting people enrolled after the backup. The
restore gives the gallery a new epoch, and gates (database and edge) compare it with the version.

SQLite and PostgreSQL, real models and photos, the production GalleryCache and ApiGallerySource. The
restored database is the gate's own, emptied (as a new one put in its place) and restored into.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlmodel import SQLModel

from gate import GalleryCache, held_templates
from recognition import Gallery
from storage import bind_device_doors, create_backup, gallery_version, restore_backup, session_scope
from tests.api.conftest import ApiHarness
from tests.api.console_browser import serving
from tests.api.test_devices import _device_id, _edge_gate, _enroll
from tests.data import knn_examples
from tests.gate.edge_support import wait_for


def _photo(person: str) -> bytes:
    return (knn_examples() / "train" / person / f"{person}.jpg").read_bytes()


def _identified(api: ApiHarness, gallery: Gallery) -> set[int]:
    """Whom the gallery identifies in the probe photo of Obama (above the model's threshold)."""
    recognizer = api.services.recognizer
    probe = recognizer.decode((knn_examples() / "test" / "obama1.jpg").read_bytes())
    (observation,) = recognizer.observe(probe)
    matches = gallery.search(observation.embedding.vector, 1)
    return {m.person_id for m in matches if m.score >= recognizer.cos_threshold}


def _replace_by_restore(api: ApiHarness, backup_dir: Path) -> int:
    """Empty the database (a new one in its place) and restore the backup in `backup_dir` into it; returns
    the restored gallery version."""
    [data] = backup_dir.glob("facegate-data-*.jsonl")
    [keys] = backup_dir.glob("facegate-keys-*.jsonl")
    with api.services.engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())
    restore_backup(api.services.engine, data=data, keys=keys, cipher=api.services.keyring)
    with session_scope(api.services.engine) as session:
        return gallery_version(session)


def test_a_running_gate_at_the_restored_version_number_reloads_the_restored_gallery(
    api: ApiHarness, tmp_path: Path
) -> None:
    biden = _enroll(api, "Biden", _photo("biden"))
    create_backup(api.services.engine, tmp_path, master_keys=None, cipher=api.services.keyring)
    obama = _enroll(api, "Obama", _photo("obama"))
    cache = GalleryCache(
        engine=api.services.engine,
        keyring=api.services.keyring,
        recognizer=api.services.recognizer,
        poll_s=0.0,
        monotonic=time.monotonic,
    )
    assert _identified(api, cache.current()) == {obama}
    held = cache.version

    restored = _replace_by_restore(api, tmp_path)

    assert restored == held, "the premise: the restore numbers its gallery as the gate's"
    gallery = cache.current()
    assert _identified(api, gallery) == set() and len(gallery) == 1  # Biden's template only
    assert biden not in _identified(api, gallery)


def test_an_edge_gate_at_the_restored_version_number_drops_who_the_restore_left_out(
    api: ApiHarness, tmp_path: Path
) -> None:
    """Also with the sealed cache: a restart after the restore starts from it, and the first sync mends it."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    biden = _enroll(api, "Biden", _photo("biden"))
    with serving(api.client.app) as url:
        gate = _edge_gate(api, url, tmp_path / "gate", door="lab")
        gate.start()
        try:
            wait_for(lambda: biden in gate.template_person_ids.values(), timeout_s=60.0, what="Biden")
            create_backup(
                api.services.engine, tmp_path / "backup", master_keys=None, cipher=api.services.keyring
            )
            obama = _enroll(api, "Obama", _photo("obama"))
            wait_for(lambda: obama in gate.template_person_ids.values(), timeout_s=60.0, what="Obama")
            held = gate.version
        finally:
            gate.close()

        restored = _replace_by_restore(api, tmp_path / "backup")

        assert restored == held, "the premise: the restore numbers its gallery as the gate's"
        assert obama in held_templates(tmp_path / "gate" / "device").values()  # its sealed cache
        restarted = _edge_gate(api, url, tmp_path / "gate", door="lab")
        restarted.start()
        try:
            wait_for(
                lambda: set(restarted.template_person_ids.values()) == {biden},
                timeout_s=60.0,
                what="the restored gallery at the edge gate",
            )
            assert _identified(api, restarted.gallery()) == set()
        finally:
            restarted.close()
