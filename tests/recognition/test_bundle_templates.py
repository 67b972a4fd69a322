"""Templates remember the bundle that made them: a gallery of one model never sees another's templates.

SFace and MobileFaceNet are both 128-d, so a mixed gallery would search without error and return
meaningless scores; only the stored model id keeps them apart. SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from enrollment import EnrollmentSettings, Photo, enroll, identify
from recognition import BundleEmbedderConfig, RecognitionSettings, Recognizer, build_recognizer
from storage import Engine, Keyring, create_person, iter_templates, session_scope
from tests.data import SHARED_DATA_DIR

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def mobilefacenet(tmp_path_factory: pytest.TempPathFactory) -> Recognizer:
    weights = SHARED_DATA_DIR / "weights"
    if not (weights / "mobilefacenet_foamliu").is_dir():
        pytest.skip(f"MobileFaceNet weights not found under {weights} (set FACEGATE_DATA_DIR)")
    settings = RecognitionSettings(
        allow_model_download=False,
        bundle_dirs=[weights],
        embedder=BundleEmbedderConfig(name="mobilefacenet-foamliu-onnx"),
    )
    return build_recognizer(settings, cache_dir=tmp_path_factory.mktemp("model-cache"))


def _enroll(engine: Engine, keyring: Keyring, recognizer: Recognizer, name: str, photo: bytes) -> int:
    with session_scope(engine) as session:
        person = create_person(session, name=name)
        assert person.id is not None
        enroll(
            session,
            keyring,
            recognizer,
            person_id=person.id,
            photos=[Photo("face.jpg", photo)],
            settings=EnrollmentSettings(),
        )
        return person.id


def test_each_model_searches_only_its_own_templates(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    mobilefacenet: Recognizer,
    group_faces: list[bytes],
) -> None:
    assert (
        recognizer.embedder.dim == mobilefacenet.embedder.dim
        and recognizer.model_id != mobilefacenet.model_id
    )
    sface_person = _enroll(engine, keyring, recognizer, "enrolled with sface", group_faces[0])

    with session_scope(engine) as session:
        assert (
            identify(session, keyring, mobilefacenet, image_data=group_faces[0], fpir_target=None)[0][
                0
            ].candidates
            == []
        )
        assert (
            identify(session, keyring, recognizer, image_data=group_faces[0], fpir_target=None)[0][
                0
            ].person_id
            == sface_person
        )

    mobilefacenet_person = _enroll(
        engine, keyring, mobilefacenet, "enrolled with mobilefacenet", group_faces[1]
    )

    with session_scope(engine) as session:
        for model, person in ((recognizer, sface_person), (mobilefacenet, mobilefacenet_person)):
            stored = list(iter_templates(session, keyring, model_id=model.model_id))
            assert [(t.person_id, t.model_id) for t in stored] == [(person, model.model_id)]
            candidates = identify(session, keyring, model, image_data=group_faces[1], fpir_target=None)[0][
                0
            ].candidates
            assert {match.person_id for match in candidates} == {person}
