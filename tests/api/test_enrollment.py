"""Enrollment and identification over HTTP with the real models: all or nothing, clear 4xx, delete forgets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from enrollment import EnrollmentSettings
from recognition import PresentationAttackDetector, Recognizer, door_threshold
from storage import Engine, Keyring, Role
from tests.api.conftest import (
    ApiHarness,
    flipped,
    huge_png,
    make_services,
    make_tokens,
    rescaled,
    side_by_side,
    wait_for_gallery,
)
from tests.data import (
    UNREADABLE_EXIF_BLOCKS,
    encode_jpeg,
    encode_pillow,
    encode_psd,
    minifasnet_dir,
    no_face_photos,
    with_unreadable_exif,
)

PhotoMaker = Callable[[list[bytes]], bytes]

BAD_PHOTOS: dict[str, tuple[PhotoMaker, str]] = {
    # name: (photo from group_faces, words the reason must contain)
    "truncated-jpeg": (lambda faces: faces[0][: len(faces[0]) // 2], "unreadable image"),
    # Cut inside the JPEG header: PIL fails while opening, not while decoding (was a raw OSError → 500).
    "header-truncated-jpeg": (lambda faces: faces[0][:300], "corrupt or truncated image"),
    "garbage-bytes": (lambda faces: b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "unreadable image"),
    "not-an-image": (lambda faces: b"name,role\nada,admin\n", "not a recognised image format"),
    "empty-file": (lambda faces: b"", "empty file"),
    # Pillow refuses it before its size can be read; the reason gave Pillow's limit (178956970), not ours.
    "20000x20000-png": (
        lambda faces: huge_png(),
        "image is 400000000 pixels, the limit is 40000000 pixels"
        " (FACEGATE_RECOGNITION_LIMITS__MAX_IMAGE_PIXELS)",
    ),
    "no-face": (lambda faces: no_face_photos()[0].read_bytes(), "no face found"),
    "two-faces": (lambda faces: side_by_side(faces[1], faces[2]), "several faces"),
}


def _files(*photos: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("photos", (name, data, "image/jpeg")) for name, data in photos]


def _identify(api: ApiHarness, photo: bytes, role: Role = Role.admin) -> dict[str, Any]:
    response = api.client.post(
        "/identify", files={"photo": ("probe.jpg", photo, "image/jpeg")}, headers=api.auth(role)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("case", sorted(BAD_PHOTOS))
def test_bad_photo_is_rejected_and_nothing_is_written(
    api: ApiHarness, group_faces: list[bytes], case: str
) -> None:
    make, reason = BAD_PHOTOS[case]
    person_id = api.create_person()
    before = api.state()
    response = api.client.post(
        f"/people/{person_id}/faces",
        files=_files((f"{case}.jpg", make(group_faces))),
        headers=api.auth(Role.admin),
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"] == "enrollment rejected; nothing was stored"
    assert len(body["problems"]) == 1
    assert body["problems"][0]["photo"] == f"{case}.jpg"
    assert reason in body["problems"][0]["reason"]
    assert api.state() == before


def test_mixed_batch_names_every_bad_photo_and_writes_nothing(
    api: ApiHarness, group_faces: list[bytes]
) -> None:
    person_id = api.create_person()
    before = api.state()
    photos = _files(("good.jpg", group_faces[0]), ("half.jpg", group_faces[0][:500]), ("mask.jpg", b""))
    response = api.client.post(f"/people/{person_id}/faces", files=photos, headers=api.auth(Role.admin))
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert [p["photo"] for p in problems] == ["half.jpg", "mask.jpg"]
    assert api.state() == before
    assert api.client.get(f"/people/{person_id}", headers=api.auth(Role.admin)).json()["template_count"] == 0


def test_one_good_one_bad_photo_is_422(api: ApiHarness, group_faces: list[bytes]) -> None:
    person_id = api.create_person()
    before = api.state()
    photos = _files(("good.jpg", group_faces[0]), ("no-face.jpg", no_face_photos()[0].read_bytes()))
    response = api.client.post(f"/people/{person_id}/faces", files=photos, headers=api.auth(Role.admin))
    assert response.status_code == 422
    assert response.json()["problems"] == [{"photo": "no-face.jpg", "reason": "no face found"}]
    assert api.state() == before


def test_photos_sent_under_one_name_are_told_apart_by_their_place(
    api: ApiHarness, group_faces: list[bytes]
) -> None:
    # Phones name every upload image.jpg: the refusal named "image.jpg", not which of the two it was.
    person_id = api.create_person()
    before = api.state()
    photos = _files(("image.jpg", group_faces[0]), ("image.jpg", group_faces[0][:500]))
    response = api.client.post(f"/people/{person_id}/faces", files=photos, headers=api.auth(Role.admin))
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert [p["photo"] for p in problems] == ["image.jpg (photo 2)"]
    assert problems[0]["reason"].startswith("unreadable image")
    assert api.state() == before


FOREIGN_REASON = (
    "image (by its first bytes), not a photo format FaceGate reads (BMP, GIF, JPEG, PNG, PPM, TIFF, WEBP)"
)


def test_photos_in_formats_beside_the_photo_formats_are_refused_by_name_with_the_other_problems(
    api: ApiHarness, group_faces: list[bytes]
) -> None:
    # The decoder took any format Pillow opens (ICO, PSD, TGA, ...): decoders an access-control server
    # taking uploads need not run, for formats no folder reader takes. Each is now refused by its name,
    # with the request's other problems, and the same face as a JPEG is enrolled.
    person_id = api.create_person()
    before = api.state()
    face = group_faces[0]
    photos = _files(
        ("face.jpg", face),
        ("face.ico", encode_pillow(face, "ICO")),
        ("half.jpg", face[:500]),
        ("face.psd", encode_psd(face)),
        ("face.tga", encode_pillow(face, "TGA")),
    )
    response = api.client.post(f"/people/{person_id}/faces", files=photos, headers=api.auth(Role.admin))

    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert [problem["photo"] for problem in problems] == ["face.ico", "half.jpg", "face.psd", "face.tga"]
    foreign = [problems[place]["reason"] for place in (0, 2, 3)]
    assert foreign == [f"unreadable image: {name} {FOREIGN_REASON}" for name in ("ICO", "PSD", "CUR")]
    assert problems[1]["reason"].startswith("unreadable image: corrupt or truncated image")
    assert api.state() == before
    answer = api.client.post(
        f"/people/{person_id}/faces", files=_files(("face.jpg", face)), headers=api.auth(Role.admin)
    )
    assert answer.status_code == 201, answer.text


def test_identify_refuses_an_ico_by_name(api: ApiHarness, group_faces: list[bytes]) -> None:
    response = api.client.post(
        "/identify",
        files={"photo": ("probe.ico", encode_pillow(group_faces[0], "ICO"), "image/x-icon")},
        headers=api.auth(Role.device),
    )

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"ICO {FOREIGN_REASON}"


@pytest.mark.parametrize("block", sorted(UNREADABLE_EXIF_BLOCKS))
def test_a_face_photo_whose_exif_block_pillow_cannot_read_enrolls_and_identifies(
    api: ApiHarness, group_faces: list[bytes], block: str
) -> None:
    # Its pixels are sound, but the EXIF block raised in Pillow: the photo was refused as "corrupt or
    # truncated" (not a TIFF header), or the request failed with a 500 (struct.error, a header cut short).
    photo = with_unreadable_exif(group_faces[0], block)
    person_id = api.create_person()

    response = api.client.post(
        f"/people/{person_id}/faces", files=_files(("edited.jpg", photo)), headers=api.auth(Role.admin)
    )

    assert response.status_code == 201, response.text
    assert len(response.json()["template_ids"]) == 1
    faces = _identify(api, photo)["faces"]
    assert [face["person_id"] for face in faces] == [person_id]


def test_unknown_person_is_404_and_writes_nothing(api: ApiHarness, group_faces: list[bytes]) -> None:
    before = api.state()
    response = api.client.post(
        "/people/424242/faces", files=_files(("a.jpg", group_faces[0])), headers=api.auth(Role.admin)
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "person 424242 does not exist"}
    assert api.state() == before


def test_missing_photos_field_is_422(api: ApiHarness) -> None:
    person_id = api.create_person()
    before = api.state()
    response = api.client.post(f"/people/{person_id}/faces", data={"name": "x"}, headers=api.auth(Role.admin))
    assert response.status_code == 422
    assert response.json()["detail"]
    assert api.state() == before


def test_too_many_photos_is_422(api: ApiHarness, group_faces: list[bytes]) -> None:
    person_id = api.create_person()
    before = api.state()
    limit = api.services.enrollment.max_photos
    photos = _files(*[(f"{i}.jpg", group_faces[0]) for i in range(limit + 1)])
    response = api.client.post(f"/people/{person_id}/faces", files=photos, headers=api.auth(Role.admin))
    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"photo": "(request)", "reason": f"{limit + 1} photos, the limit is {limit}"}
    ]
    assert api.state() == before


@pytest.mark.parametrize(
    "case", ["truncated-jpeg", "header-truncated-jpeg", "garbage-bytes", "empty-file", "20000x20000-png"]
)
def test_identify_refuses_unusable_images_with_422(
    api: ApiHarness, group_faces: list[bytes], case: str
) -> None:
    make, _ = BAD_PHOTOS[case]
    response = api.client.post(
        "/identify",
        files={"photo": ("probe.jpg", make(group_faces), "image/jpeg")},
        headers=api.auth(Role.device),
    )
    assert response.status_code == 422
    assert response.json()["detail"]


def test_identify_photo_without_a_face_finds_nothing(api: ApiHarness) -> None:
    assert _identify(api, no_face_photos()[0].read_bytes())["faces"] == []


def test_enroll_identify_delete(api: ApiHarness, group_faces: list[bytes]) -> None:
    admin = api.auth(Role.admin)
    person_id = api.create_person("Person Zero")
    version_before = api.state().gallery_version

    photos = _files(("front.jpg", group_faces[0]), ("mirrored.jpg", flipped(group_faces[0])))
    enrolled = api.client.post(f"/people/{person_id}/faces", files=photos, headers=admin)
    assert enrolled.status_code == 201, enrolled.text
    body = enrolled.json()
    assert (
        body["person_id"] == person_id
        and body["templates_added"] == 2
        and len(set(body["template_ids"])) == 2
    )
    assert api.client.get(f"/people/{person_id}", headers=admin).json()["template_count"] == 2
    state = api.state()
    assert state.templates == 2 and state.gallery_version > version_before

    known = _identify(api, rescaled(group_faces[0], 1.3))
    assert known["model_id"] == api.services.recognizer.model_id
    threshold = known["cos_threshold"]
    # The gate's policy through the same function: FPIR 1e-3 (the default) over the 2 templates.
    expected = door_threshold(
        api.services.recognizer.embedder.bundle.calibration,
        default_cos_threshold=api.services.recognizer.cos_threshold,
        fpir_target=1e-3,
        gallery_size=2,
    )
    assert threshold == expected.cos_threshold and known["threshold_policy"] == expected.basis
    assert known["fpir_target"] == 1e-3 and known["gallery_size"] == 2 and "FPIR" in known["threshold_policy"]
    [face] = known["faces"]
    assert face["person_id"] == person_id
    assert face["candidates"][0]["person_id"] == person_id and face["candidates"][0]["score"] >= threshold
    assert 0.0 < face["detection_score"] <= 1.0
    x1, y1, x2, y2 = (face["bbox"][k] for k in ("x1", "y1", "x2", "y2"))
    assert 0 <= x1 < x2 and 0 <= y1 < y2

    [stranger] = _identify(api, group_faces[3])["faces"]
    assert stranger["person_id"] is None
    assert all(c["score"] < threshold for c in stranger["candidates"])

    two = _identify(api, side_by_side(group_faces[0], group_faces[3]))["faces"]
    assert sorted((f["person_id"] is None) for f in two) == [False, True]

    assert api.client.delete(f"/people/{person_id}", headers=admin).status_code == 204
    after = api.state()
    assert after.templates == 0 and after.people == 0 and after.gallery_version > state.gallery_version
    [gone] = _identify(api, rescaled(group_faces[0], 1.3))["faces"]
    assert gone["person_id"] is None and gone["candidates"] == []


def test_enroll_two_people_and_tell_them_apart(api: ApiHarness, group_faces: list[bytes]) -> None:
    admin = api.auth(Role.admin)
    people = {}
    # Not 4: that man is in three-quarter profile (yaw about 65°), which enrollment refuses.
    for index in (1, 5):
        person_id = api.create_person(f"Person {index}")
        response = api.client.post(
            f"/people/{person_id}/faces", files=_files(("a.jpg", group_faces[index])), headers=admin
        )
        assert response.status_code == 201
        people[index] = person_id
    for index, person_id in people.items():
        [face] = _identify(api, rescaled(group_faces[index], 0.9))["faces"]
        assert face["person_id"] == person_id
        assert [c["person_id"] for c in face["candidates"]][0] == person_id


def test_enrolling_someone_already_enrolled_is_flagged_as_a_possible_duplicate(
    api: ApiHarness, group_faces: list[bytes]
) -> None:
    admin = api.auth(Role.admin)
    alice = api.create_person("Alice")
    first = api.client.post(f"/people/{alice}/faces", files=_files(("a.jpg", group_faces[0])), headers=admin)
    assert first.status_code == 201 and first.json()["possible_duplicates"] == []
    again = api.create_person("Alice again")
    response = api.client.post(
        f"/people/{again}/faces", files=_files(("mirror.jpg", flipped(group_faces[0]))), headers=admin
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["templates_added"] == 1
    assert body["cos_threshold"] == api.services.recognizer.cos_threshold
    [duplicate] = body["possible_duplicates"]
    assert duplicate["photo"] == "mirror.jpg" and duplicate["person_id"] == alice
    assert body["cos_threshold"] <= duplicate["score"] <= 1.0


def test_blurred_photo_is_422_naming_sharpness(api: ApiHarness, group_faces: list[bytes]) -> None:
    person_id = api.create_person()
    before = api.state()
    blurred = encode_jpeg(
        cv2.GaussianBlur(cv2.imdecode(np.frombuffer(group_faces[0], np.uint8), 1), (0, 0), 3)
    )
    response = api.client.post(
        f"/people/{person_id}/faces", files=_files(("b.jpg", blurred)), headers=api.auth(Role.admin)
    )
    assert response.status_code == 422
    [problem] = response.json()["problems"]
    assert problem["photo"] == "b.jpg" and problem["reason"].startswith("face too blurred (sharpness ")
    assert api.state() == before


def test_identify_with_no_fpir_target_uses_the_model_default(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, group_faces: list[bytes]
) -> None:
    services = make_services(engine, keyring, recognizer)
    token = make_tokens(engine)[Role.device]
    settings = ApiSettings(identify_fpir_target=None)
    with TestClient(create_app(services, settings=settings)) as client:
        wait_for_gallery(services)
        files = {"photo": ("probe.jpg", group_faces[0], "image/jpeg")}
        body = client.post("/identify", files=files, headers={"Authorization": f"Bearer {token}"}).json()
    assert body["cos_threshold"] == recognizer.cos_threshold and body["fpir_target"] is None
    assert "default" in body["threshold_policy"]


@pytest.mark.model
def test_pad_enforced_refuses_an_attack_photo_through_the_api(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, pad_detector: PresentationAttackDetector
) -> None:
    services = replace(
        make_services(engine, keyring, recognizer),
        enrollment=EnrollmentSettings(pad_policy="enforce"),
        pad=pad_detector,
    )
    tokens = make_tokens(engine)
    samples = minifasnet_dir() / "samples"
    with TestClient(create_app(services, settings=ApiSettings())) as client:
        wait_for_gallery(services)
        api = ApiHarness(client=client, services=services, tokens=tokens)
        person_id = api.create_person()
        before = api.state()
        response = client.post(
            f"/people/{person_id}/faces",
            files=_files(("image_F1.jpg", (samples / "image_F1.jpg").read_bytes())),
            headers=api.auth(Role.admin),
        )
        assert response.status_code == 422, response.text
        (problem,) = response.json()["problems"]
        assert problem["reason"].startswith("presentation attack suspected")
        assert api.state() == before
        live = client.post(
            f"/people/{person_id}/faces",
            files=_files(("image_T1.jpg", (samples / "image_T1.jpg").read_bytes())),
            headers=api.auth(Role.admin),
        )
        assert live.status_code == 201, live.text
