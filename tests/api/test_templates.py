"""A person's templates: metadata with the photo's quality measures (never the vector); delete one."""

from __future__ import annotations

from storage import Role
from tests.api.conftest import ApiHarness

QUALITY = {
    "face_px",
    "sharpness_laplacian_var",
    "yaw_deg",
    "pitch_deg",
    "mean_grey_level",
    "clipped_fraction",
    "detector_score",
}


def _enroll(api: ApiHarness, person_id: int, photos: list[bytes]) -> list[str]:
    files = [("photos", (f"photo-{i}.jpg", photo, "image/jpeg")) for i, photo in enumerate(photos)]
    response = api.client.post(f"/people/{person_id}/faces", files=files, headers=api.auth(Role.admin))
    assert response.status_code == 201, response.text
    return list(response.json()["template_ids"])


def test_templates_are_listed_with_source_model_quality_and_date(
    api: ApiHarness, group_faces: list[bytes]
) -> None:
    person_id = api.create_person("Ada")
    ids = _enroll(api, person_id, group_faces[:1])
    ids += _enroll(api, person_id, group_faces[:1])  # the same photo again: a second template
    admin = api.auth(Role.admin)

    listed = api.client.get(f"/people/{person_id}/templates", headers=admin).json()
    assert listed["total"] == 2 and [t["id"] for t in listed["items"]] == ids
    first = listed["items"][0]
    assert first["source_name"] == "photo-0.jpg" and first["model_id"] == api.services.recognizer.model_id
    assert set(first["quality"]) == QUALITY and first["quality"]["face_px"] > 0
    assert first["created_at"].endswith(("Z", "+00:00"))
    assert api.client.get("/people/987654/templates", headers=admin).status_code == 404


def test_deleting_one_template_keeps_the_others_and_bumps_the_gallery(
    api: ApiHarness, group_faces: list[bytes]
) -> None:
    person_id = api.create_person("Ada")
    keep, drop = _enroll(api, person_id, group_faces[:1]) + _enroll(api, person_id, group_faces[:1])
    other = api.create_person("Grace")
    admin = api.auth(Role.admin)
    before = api.state()

    assert api.client.delete(f"/people/{other}/templates/{drop}", headers=admin).status_code == 404
    deleted = api.client.delete(f"/people/{person_id}/templates/{drop}", headers=admin)

    assert deleted.status_code == 204
    after = api.state()
    assert after.templates == before.templates - 1 and after.gallery_version == before.gallery_version + 1
    listed = api.client.get(f"/people/{person_id}/templates", headers=admin).json()
    assert [t["id"] for t in listed["items"]] == [keep]
    assert api.client.delete(f"/people/{person_id}/templates/{drop}", headers=admin).status_code == 404
