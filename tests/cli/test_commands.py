"""The `facegate` commands end to end through typer's CliRunner, on real photos and a real video."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.demo import demo_pad_detector, write_video
from api.cli.demo_data import Scene
from api.cli.runtime import operator_login
from recognition import image_suffixes
from storage import (
    ERASURE_DOOR,
    PERSON_ERASED,
    EventFilter,
    Role,
    StorageSettings,
    add_key_to_file,
    create_api_key,
    generate_key,
    open_database,
    query_events,
    session_scope,
)
from tests.data import knn_examples, no_face_photos
from tests.storage.lookalike_helpers import upgrade_from_0010

runner = CliRunner()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_init_creates_a_private_key_file_and_prints_one_admin_key(clean_environment: Path) -> None:
    code, output = _invoke("init")
    assert code == 0, output
    key_file = clean_environment / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert output.count("fg_") == 1
    code, output = _invoke("init")
    assert code == 0 and "already exists" in output and "fg_" not in output


def test_init_creates_an_admin_key_when_none_is_usable(
    clean_environment: Path,
) -> None:
    code, output = _invoke("init")
    assert code == 0 and output.count("fg_") == 1, output
    first = next(word for word in output.split() if word.startswith("fg_"))
    assert _invoke("apikeys", "revoke", first.split("_")[1])[0] == 0
    engine = open_database(StorageSettings())
    past = datetime.now(UTC) - timedelta(days=2)
    with session_scope(engine) as session:
        create_api_key(session, role=Role.admin, label="old", now=past, expires_at=past + timedelta(days=1))
    engine.dispose()
    code, output = _invoke("init")
    assert code == 0 and "already exists" not in output and output.count("fg_") == 1, output


def test_init_under_a_permissive_umask_leaves_the_data_directory_owner_only(clean_environment: Path) -> None:
    former = os.umask(0o022)
    try:
        code, output = _invoke("init")
    finally:
        os.umask(former)
    assert code == 0, output
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in clean_environment.iterdir()}
    assert modes == {"master.key": 0o600, "facegate.db": 0o600, "facegate.db.migrate-lock": 0o600}
    assert stat.S_IMODE(clean_environment.stat().st_mode) == 0o700


def test_commands_refuse_to_run_without_a_master_key() -> None:
    code, output = _invoke("people", "list")
    assert code == 0  # listing people decrypts nothing
    code, output = _invoke("enroll", "Nobody", "missing.jpg")
    assert code == 1 and "no master key" in output


def test_enroll_list_delete(tmp_path: Path, group_faces: list[bytes]) -> None:
    assert _invoke("init")[0] == 0
    first = _write(tmp_path / "a.jpg", group_faces[0])
    flipped = _write(
        tmp_path / "a-flipped.jpg",
        cv2.imencode(".jpg", cv2.flip(cv2.imdecode(np.frombuffer(group_faces[0], np.uint8), 1), 1))[
            1
        ].tobytes(),
    )
    code, output = _invoke("enroll", "Alice", str(first), str(flipped))
    assert code == 0, output
    assert "2 templates" in output
    code, output = _invoke("people", "list")
    assert "Alice" in output and "1 people" in output
    code, output = _invoke("people", "delete", "1")
    assert code == 0 and "2 templates erased" in output
    code, output = _invoke("people", "delete", "1")
    assert code == 1 and "does not exist" in output
    engine = open_database(StorageSettings())
    try:
        with session_scope(engine) as session:
            erasures, _ = query_events(session, where=EventFilter(door=ERASURE_DOOR))
    finally:
        engine.dispose()
    # Recorded once (the refused second deletion adds nothing), by the login running the command.
    assert [(e.person_id, e.reason, e.source) for e in erasures] == [
        (1, PERSON_ERASED, f"CLI user {operator_login()}")
    ]


def test_enroll_refuses_the_whole_batch_and_names_each_bad_photo(
    tmp_path: Path, group_faces: list[bytes]
) -> None:
    assert _invoke("init")[0] == 0
    good = _write(tmp_path / "good.jpg", group_faces[0])
    empty = _write(tmp_path / "empty.jpg", b"")
    no_face = _write(tmp_path / "no-face.jpg", no_face_photos()[0].read_bytes())
    code, output = _invoke("enroll", "Bob", str(good), str(empty), str(no_face))
    assert code == 1
    assert "empty.jpg: unreadable image: empty file" in output
    assert "no-face.jpg: no face found" in output
    assert "good.jpg" not in output
    assert "0 people" in _invoke("people", "list")[1]


def test_enroll_names_the_files_of_a_folder_it_leaves_out(tmp_path: Path, group_faces: list[bytes]) -> None:
    # A folder's files of other suffixes were dropped without a word, and a folder holding only such
    # files was refused as "(request): no photos were uploaded".
    assert _invoke("init")[0] == 0
    mixed, only_heic = tmp_path / "mixed", tmp_path / "only-heic"
    mixed.mkdir()
    only_heic.mkdir()
    _write(mixed / "a.jpg", group_faces[0])
    _write(mixed / "b.heic", b"an iPhone photo, which the decoder does not read")
    _write(only_heic / "c.heic", b"another")
    taken = " ".join(image_suffixes())

    code, output = _invoke("enroll", "Alice", str(mixed))
    assert code == 0, output
    assert f"warning: left out, not {taken}: {mixed / 'b.heic'}\n" in output
    assert "person 1: 1 templates enrolled" in output

    code, output = _invoke("enroll", "Bob", str(only_heic))
    assert code == 1
    assert f"left out, not {taken}: {only_heic / 'c.heic'}\n" in output
    assert "error: no photo to enroll: the folders given hold no image file" in output
    assert "1 people" in _invoke("people", "list")[1]


def test_enroll_takes_a_folders_gif_and_pgm_photos(tmp_path: Path, group_faces: list[bytes]) -> None:
    # The folder reader's suffixes were a list of its own without .gif and .pgm, which the decoder
    # reads: those photos were left out (and, before 1ce1d61, without a word).
    assert _invoke("init")[0] == 0
    face = cv2.imdecode(np.frombuffer(group_faces[0], np.uint8), cv2.IMREAD_COLOR)
    photos = tmp_path / "photos"
    photos.mkdir()
    _write(photos / "a.jpg", group_faces[0])
    _write(photos / "b.GIF", cv2.imencode(".gif", face)[1].tobytes())
    _write(photos / "c.pgm", cv2.imencode(".pgm", cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))[1].tobytes())

    code, output = _invoke("enroll", "Alice", str(photos))

    assert code == 0, output
    assert "left out" not in output
    assert "person 1: 3 templates enrolled" in output


def test_enroll_refuses_an_oversized_file_by_its_size_before_reading_it(
    tmp_path: Path, group_faces: list[bytes]
) -> None:
    # The whole file was read into memory before the decoder's byte limit refused it, however large.
    assert _invoke("init")[0] == 0
    good = _write(tmp_path / "good.jpg", group_faces[0])
    big = tmp_path / "big.jpg"
    with big.open("wb") as file:
        file.truncate(20_000_001)  # sparse: one byte over the default limit, nothing written

    code, output = _invoke("enroll", "Alice", str(good), str(big))

    assert code == 1
    assert output == (
        f"error: {big}: the file is larger than the limit of 20000000 bytes"
        " (FACEGATE_RECOGNITION_LIMITS__MAX_IMAGE_BYTES)\n"
    )
    assert "0 people" in _invoke("people", "list")[1]


def test_gate_decides_on_a_video_file_and_events_show_the_audit(
    tmp_path: Path, group_faces: list[bytes]
) -> None:
    assert _invoke("init")[0] == 0
    assert _invoke("enroll", "Carol", str(_write(tmp_path / "c.jpg", group_faces[1])))[0] == 0
    faces = [cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) for data in group_faces]
    scenes = [
        Scene("Carol", cv2.resize(faces[1], None, fx=1.5, fy=1.5), frozenset({"Carol"}), 0),
        Scene("stranger", cv2.resize(faces[5], None, fx=1.5, fy=1.5), frozenset(), 1),
    ]
    video = tmp_path / "door.avi"
    write_video(scenes, video, frames_per_scene=6)
    assert _invoke("doors", "create", "lab")[0] == 0
    code, output = _invoke("gate", "--source", str(video), "--door", "lab")
    assert code == 0, output
    assert output.count("granted") == 1 and "Carol (person 1)" in output
    assert output.count("denied") == 1 and "unknown" in output
    code, output = _invoke("events", "--door", "lab", "--decision", "granted")
    assert code == 0 and "1 of 1 events" in output
    code, output = _invoke("events", "--door", "elsewhere")
    assert "0 of 0 events" in output
    # The grant's event_uid (the unlock_id its door was sent) finds it alone.
    engine = open_database(StorageSettings())
    try:
        with session_scope(engine) as session:
            events, _ = query_events(session, where=EventFilter(door="lab"))
    finally:
        engine.dispose()
    (granted,) = [e for e in events if e.decision == "granted"]
    assert granted.event_uid is not None
    code, output = _invoke("events", "--event-uid", granted.event_uid)
    assert code == 0 and "1 of 1 events" in output  # of the 2 events at "lab"
    assert "0 of 0 events" in _invoke("events", "--event-uid", "no-such-uid")[1]


def test_gate_reports_a_source_it_cannot_open(tmp_path: Path) -> None:
    assert _invoke("init")[0] == 0
    code, output = _invoke("gate", "--source", str(tmp_path / "no-such-video.avi"), "--door", "lab")
    assert code == 1 and "cannot open video source" in output


def test_demo_without_a_pad_model_says_to_install_the_train_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert demo_pad_detector(tmp_path / "demo-models", tmp_path / "no-shared-data") is None
    assert "(pip install -e '.[train]' and run `facegate pad export`)" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_without_shared_data_uses_bundled_photos_and_decides_correctly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo registers its door, so it runs under the default `unknown_door: refuse` (it relied on the
    # gate registering it); set here too, so that it does whatever the default.
    monkeypatch.setenv("FACEGATE_GATE_UNKNOWN_DOOR", "refuse")
    code, output = _invoke("demo", "--data-dir", str(tmp_path / "no-shared-data"))
    assert code == 0, output
    assert "insightface's bundled group photo" in output and "AUGMENTED" in output
    assert "3 granted, 3 denied; all scenes as expected" in output
    # Each scene's line arrives whole, past the demo's 130 columns too (a log grep for it finds it).
    scene = "  t1 person 4, AUGMENTED copy (1.6×, darker) (never enrolled): granted nobody, "
    assert f"{scene}1 denied unknown, 0 denied presentation_attack — as expected" in output.splitlines()


@pytest.mark.slow
@pytest.mark.model
def test_demo_with_shared_photos_decides_every_scene_correctly() -> None:
    data_dir = knn_examples().parents[3]
    code, output = _invoke("demo", "--data-dir", str(data_dir))
    assert code == 0, output
    assert "face_recognition example photos" in output
    # The dev install has torch, so the demo converts MiniFASNet and shows the phone-screen attack too.
    assert (
        "on a phone screen (simulated presentation attack): granted nobody, 0 denied unknown, 1 denied"
        in output
    )
    assert "6 granted, 4 denied; all scenes as expected" in output


def test_keys_rotate_rewraps_and_enrolled_people_stay_recognisable(
    clean_environment: Path, tmp_path: Path, group_faces: list[bytes]
) -> None:
    assert _invoke("init")[0] == 0
    assert _invoke("enroll", "Alice", str(_write(tmp_path / "a.jpg", group_faces[0])))[0] == 0
    old_key = (clean_environment / "master.key").read_text()

    code, output = _invoke("keys", "rotate")

    assert code == 0, output
    assert "re-wrapped 1 person data keys" in output
    key_lines = (clean_environment / "master.key").read_text().splitlines()
    assert len(key_lines) == 2 and key_lines[1] + "\n" == old_key
    code, output = _invoke("keys", "status")
    assert code == 0 and "encrypts" in output and "decrypt-only" in output
    assert "keys rewrap" not in output
    # Retire the old key: the person's templates still decrypt through the re-wrapped data key.
    (clean_environment / "master.key").write_text(key_lines[0] + "\n")
    code, output = _invoke("enroll", "Alice again", "--person-id", "1", str(tmp_path / "a.jpg"))
    assert code == 0, output


def test_keys_status_says_how_to_finish_a_rotation_killed_before_its_rewrap(
    clean_environment: Path, tmp_path: Path, group_faces: list[bytes]
) -> None:
    """`keys rotate` killed after adding the key: its re-wrap rolled back, the data key is under the old
    key, still in the file. Status says to run `keys rewrap`, which finishes the rotation."""
    assert _invoke("init")[0] == 0
    assert _invoke("enroll", "Alice", str(_write(tmp_path / "a.jpg", group_faces[0])))[0] == 0
    add_key_to_file(StorageSettings())  # what the killed rotation left

    code, output = _invoke("keys", "status")
    assert code == 0 and "1 data keys are not under the encrypting key: `facegate keys rewrap`" in output
    assert _invoke("keys", "rewrap")[0] == 0
    assert "keys rewrap" not in _invoke("keys", "status")[1]


def test_backup_then_restore_on_a_new_machine(
    clean_environment: Path, tmp_path: Path, group_faces: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _invoke("init")[0] == 0
    assert _invoke("enroll", "Alice", str(_write(tmp_path / "a.jpg", group_faces[0])))[0] == 0
    code, output = _invoke("backup", "create", "--out", str(tmp_path / "backups"))
    assert code == 0, output
    data, keys = (
        sorted((tmp_path / "backups").glob("facegate-data-*")),
        sorted((tmp_path / "backups").glob("facegate-keys-*")),
    )
    assert len(data) == len(keys) == 1

    monkeypatch.setenv("FACEGATE_HOME", str(tmp_path / "new-machine"))
    # Another master key in the environment overrides the key file the backup's keys go to: refused.
    monkeypatch.setenv("FACEGATE_MASTER_KEY", generate_key())
    code, output = _invoke("backup", "restore", "--data", str(data[0]), "--keys", str(keys[0]))
    assert code == 1 and "this installation does not have" in output and "nothing was restored" in output
    monkeypatch.delenv("FACEGATE_MASTER_KEY")
    # A key file that cannot be written (its directory is a file): one error line, nothing restored.
    (tmp_path / "not-a-directory").write_text("")
    monkeypatch.setenv("FACEGATE_KEY_FILE", str(tmp_path / "not-a-directory" / "master.key"))
    code, output = _invoke("backup", "restore", "--data", str(data[0]), "--keys", str(keys[0]))
    assert code == 1 and "error: KeyringError: cannot write the key file" in output, output
    monkeypatch.delenv("FACEGATE_KEY_FILE")
    code, output = _invoke("backup", "restore", "--data", str(data[0]), "--keys", str(keys[0]))

    assert code == 0, output
    assert "person 1" in output and "1 master keys added" in output
    assert "Alice" in _invoke("people", "list")[1]
    assert _invoke("audit", "verify")[0] == 0
    code, output = _invoke("enroll", "Alice", "--person-id", "1", str(tmp_path / "a.jpg"))
    assert code == 0, output
    code, output = _invoke("backup", "restore", "--data", str(data[0]), "--keys", str(keys[0]))
    assert code == 1 and "not empty" in output


def test_enroll_warns_of_a_possible_duplicate_and_people_confusable_lists_the_pair(
    tmp_path: Path, group_faces: list[bytes]
) -> None:
    assert _invoke("init")[0] == 0
    mirrored = cv2.flip(cv2.imdecode(np.frombuffer(group_faces[0], np.uint8), 1), 1)
    assert _invoke("enroll", "Alice", str(_write(tmp_path / "a.jpg", group_faces[0])))[0] == 0
    assert _invoke("enroll", "Carol", str(_write(tmp_path / "c.jpg", group_faces[2])))[0] == 0
    code, output = _invoke(
        "enroll", "Alice again", str(_write(tmp_path / "m.jpg", cv2.imencode(".jpg", mirrored)[1].tobytes()))
    )
    assert code == 0, output
    assert "person 3: 1 templates enrolled" in output
    assert "warning: possible duplicate: m.jpg matches person 1 (score 0." in output
    code, output = _invoke("people", "confusable")
    assert code == 0, output
    assert "1 confusable pairs" in output and "1 Alice" in output and "3 Alice again" in output
    assert "Carol" not in output
    code, output = _invoke("people", "confusable", "--min-score", "-1")
    assert code == 0 and "3 confusable pairs" in output and "Carol" in output


def test_people_backfill_lookalikes_after_an_upgrade_past_0011(
    tmp_path: Path, group_faces: list[bytes]
) -> None:
    assert _invoke("init")[0] == 0
    photo = str(_write(tmp_path / "a.jpg", group_faces[0]))
    assert _invoke("enroll", "Alice", photo)[0] == 0
    assert _invoke("enroll", "Alice again", photo)[0] == 0
    engine = open_database(StorageSettings())
    upgrade_from_0010(engine)
    engine.dispose()

    code, output = _invoke("people", "confusable")
    assert code == 0, output
    said = " ".join(output.split())
    assert "1 confusable pairs" in said and "2 templates have no stored look-alike record" in said
    assert "`facegate people backfill-lookalikes`" in said
    code, output = _invoke("people", "backfill-lookalikes")
    assert code == 0 and "2 look-alike records stored for 2 templates without one" in output, output
    code, output = _invoke("people", "backfill-lookalikes")
    assert code == 0 and "0 look-alike records stored for 0 templates without one" in output, output
    code, output = _invoke("people", "confusable")
    assert "1 confusable pairs" in output and "look-alike record" not in output


def test_enroll_refuses_a_blurred_photo_naming_sharpness(tmp_path: Path, group_faces: list[bytes]) -> None:
    assert _invoke("init")[0] == 0
    blurred = cv2.GaussianBlur(cv2.imdecode(np.frombuffer(group_faces[0], np.uint8), 1), (0, 0), 3)
    path = _write(tmp_path / "b.jpg", cv2.imencode(".jpg", blurred)[1].tobytes())
    code, output = _invoke("enroll", "Bob", str(path))
    assert code == 1
    assert "nothing was saved" in output and "b.jpg: face too blurred (sharpness " in output
    assert "0 people" in _invoke("people", "list")[1]
