"""An erased person's templates leave a running gate's gallery whole: unsearchable and gone from memory."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import faiss
import numpy as np
import pytest

from enrollment import EnrollmentRejected
from gate import GalleryCache
from recognition import FaissFactoryIndexConfig, Recognizer
from storage import Engine, Keyring, erase_person, session_scope
from tests.fakes import FakeClock
from tests.storage.audit_helpers import audited_by

POLL_S = 1.0
APPROXIMATE = FaissFactoryIndexConfig(factory="IVF2,Flat", search_params="nprobe=2", exact_max_templates=4)
"""The factory kind with its approximate index built from the fifth template on (IVF, which removes ids)."""
GRAPH = FaissFactoryIndexConfig(factory="HNSW8", search_params="efSearch=16", exact_max_templates=4)
"""The same with an HNSW index, which cannot remove ids."""


@pytest.mark.parametrize("index", [None, APPROXIMATE, GRAPH], ids=["flat", "ivf", "hnsw"])
def test_a_person_erased_while_the_gate_runs_leaves_no_vector_in_its_gallery(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    group_faces: list[bytes],
    enroll_person: Callable[..., int],
    index: FaissFactoryIndexConfig | None,
) -> None:
    """Regression: the factory kind tombstoned an erased person's rows but kept their decrypted vectors in
    the array it re-scores from, and an HNSW index their codes, in the gate's (and the API's) memory until
    the next full load."""
    gate_recognizer = Recognizer(
        detector=recognizer.detector, embedder=recognizer.embedder, limits=recognizer.limits, index=index
    )
    people, photos = [], []
    for n, photo in enumerate(group_faces):
        with contextlib.suppress(EnrollmentRejected):  # a face turned too far sideways for enrollment
            people.append(enroll_person(f"P{n}", photo))
            photos.append(photo)
    assert len(people) >= 5, "the approximate index is built from the fifth template on"
    clock = FakeClock()
    cache = GalleryCache(
        engine=engine, keyring=keyring, recognizer=gate_recognizer, poll_s=POLL_S, monotonic=clock
    )
    gallery = cache.current()
    assert len(gallery) == len(people)
    assert index is None or gallery.index.is_approximate  # type: ignore[attr-defined]
    (observed,) = recognizer.observe(recognizer.decode(photos[0]))
    probe = observed.embedding.vector
    assert gallery.search(probe, 1)[0].person_id == people[0]

    with session_scope(engine) as session:
        erase_person(session, people[0], erased_by=audited_by(keyring))
    clock.advance(POLL_S)

    assert cache.current() is gallery and len(gallery) == len(people) - 1  # the change applied in place
    assert people[0] not in {match.person_id for match in gallery.search(probe, len(people))}
    copies = _vectors_held(gallery.index)
    assert len(copies) == (2 if index is GRAPH else 1)
    if index is APPROXIMATE:
        assert gallery.index._ann.ntotal == len(people) - 1  # type: ignore[attr-defined]  # IVF removed hers
    for held in copies:
        assert held.shape[0] >= len(people) - 1
        assert float(np.max(held @ probe)) < 0.9  # the others are different people; her own scored ~1


def _vectors_held(index: object) -> list[np.ndarray]:
    """Every copy of the vectors the index keeps in memory: the factory kind's re-scoring array (its rows
    given so far) and its HNSW graph's storage, or the flat kind's FAISS storage (IndexIDMap2 over
    IndexFlatIP)."""
    vectors = getattr(index, "_vectors", None)
    if vectors is None:
        return [_flat_storage(index._index)]  # type: ignore[attr-defined]
    held = [np.asarray(vectors[: index._book.rows])]  # type: ignore[attr-defined]  # beyond: unused capacity
    ann = faiss.downcast_index(index._ann)  # type: ignore[attr-defined]
    if isinstance(ann, faiss.IndexIDMap2):  # an HNSW graph (an IVF index removes ids itself)
        held.append(_flat_storage(ann, graph=True))
    return held


def _flat_storage(mapped: faiss.Index, *, graph: bool = False) -> np.ndarray:
    inner = faiss.downcast_index(faiss.downcast_index(mapped).index)
    flat = faiss.downcast_index(inner.storage) if graph else inner
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d).copy()


def test_a_full_load_after_an_erasure_holds_no_look_alike_pair_naming_the_erased_person(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    group_faces: list[bytes],
    enroll_person: Callable[..., int],
) -> None:
    """Regression: the survivor's stored neighbour record (taken at its enrollment) still names the erased
    person, and a gate's full load (a start, a reload) turned it into a look-alike pair of its gallery: the
    erased person's id and similarity in memory, and the gate's rule text claiming a confusable margin."""
    ann = enroll_person("Ann", group_faces[0])
    twin = enroll_person("Twin", group_faces[0])  # the same face: a look-alike pair, recorded with her
    with session_scope(engine) as session:
        erase_person(session, ann, erased_by=audited_by(keyring))

    gallery = GalleryCache(
        engine=engine, keyring=keyring, recognizer=recognizer, poll_s=POLL_S, monotonic=FakeClock()
    ).current()

    assert (
        len(gallery) == 1
        and gallery.search(gallery_probe(recognizer, group_faces[0]), 1)[0].person_id == twin
    )
    assert gallery.confusable_pairs(-1.0) == {} and not gallery.lookalikes(recognizer.cos_threshold)


def gallery_probe(recognizer: Recognizer, photo: bytes) -> np.ndarray:
    (observed,) = recognizer.observe(recognizer.decode(photo))
    return observed.embedding.vector


def test_a_change_that_erases_a_person_and_adds_their_look_alike_leaves_no_pair_naming_them(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    group_faces: list[bytes],
    enroll_person: Callable[..., int],
) -> None:
    """Regression: a look-alike enrolled while she was in the gallery, then her erasure, both in one gate
    check: the change removed her, then added the look-alike with its stored record naming her, and that
    pair stayed in the running gate's gallery."""
    ann = enroll_person("Ann", group_faces[0])
    clock = FakeClock()
    cache = GalleryCache(
        engine=engine, keyring=keyring, recognizer=recognizer, poll_s=POLL_S, monotonic=clock
    )
    gallery = cache.current()
    twin = enroll_person("Twin", group_faces[0])  # its record names Ann, in the gallery at its enrollment
    with session_scope(engine) as session:
        erase_person(session, ann, erased_by=audited_by(keyring))
    clock.advance(POLL_S)

    assert cache.current() is gallery and len(gallery) == 1  # one change, applied in place
    assert gallery.search(gallery_probe(recognizer, group_faces[0]), 1)[0].person_id == twin
    assert gallery.confusable_pairs(-1.0) == {} and not gallery.lookalikes(recognizer.cos_threshold)
