"""Where the master keys come from: a KMS hook, FACEGATE_MASTER_KEY, or a 0600 key file; and rotation."""

from __future__ import annotations

import importlib
import logging
from types import TracebackType

from storage.cipher import (
    Keyring,
    decode_key_list,
    generate_key,
    key_file_reloader,
    key_id_of,
    write_key_file,
    write_key_file_bytes,
)
from storage.errors import KeyringError, MissingKey
from storage.file_modes import close_to_others, fsync_directory
from storage.protocols import Cipher
from storage.settings import StorageSettings

logger = logging.getLogger(__name__)


def _load_kms_hook(spec: str, settings: StorageSettings) -> Cipher:
    """`package.module:factory`, called with the settings; it returns a Cipher backed by a KMS."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise KeyringError(f"FACEGATE_KMS_HOOK must look like 'package.module:factory', got {spec!r}")
    factory = getattr(importlib.import_module(module_name), attribute, None)
    if factory is None:
        raise KeyringError(f"FACEGATE_KMS_HOOK: {module_name} has no attribute {attribute!r}")
    cipher: Cipher = factory(settings)
    return cipher


def load_keyring(settings: StorageSettings, *, create_if_missing: bool = False) -> Cipher:
    """The master keys from a KMS hook, FACEGATE_MASTER_KEY (comma-separated, newest first), or the
    key file (one key a line, newest first; created 0600 when asked, re-read when it changes).

    Raises:
        MissingKey: no key configured and creation not allowed, or a key that does not decode.
        KeyringError: the KMS hook cannot be loaded, or the key file cannot be created.
    """
    if settings.kms_hook:
        return _load_kms_hook(settings.kms_hook, settings)
    if settings.master_key is not None:
        text = settings.master_key.get_secret_value()
        return Keyring(decode_key_list(text, "FACEGATE_MASTER_KEY", separator=","))
    path = settings.resolved_key_file
    if not path.exists():
        if not create_if_missing:
            raise MissingKey(
                f"no master key: set FACEGATE_MASTER_KEY or run `facegate init` to create {path}"
            )
        try:
            write_key_file(path, [generate_key()])
        except OSError as exc:
            raise KeyringError(f"cannot write the key file {path}: {exc}") from exc
        logger.info("created master key file %s", path)
    close_to_others(path)  # copied in with the umask's 0644, every local user could read the master key
    reload = key_file_reloader(path)
    return Keyring(decode_key_list(path.read_text(), f"key file {path}", separator="\n"), reload=reload)


def keys_come_from_key_file(settings: StorageSettings) -> bool:
    """False when FACEGATE_MASTER_KEY or a KMS hook supplies the master keys: the key file is then unused."""
    return not (settings.kms_hook or settings.master_key is not None)


def add_key_to_file(settings: StorageSettings) -> str:
    """Prepend a new master key to the key file (older keys stay, decrypt-only); returns its id.

    Raises:
        KeyringError: the keys come from the environment or a KMS, which this command cannot change;
            or the key file cannot be written.
    """
    if not keys_come_from_key_file(settings):
        raise KeyringError(
            "the master key comes from FACEGATE_MASTER_KEY or a KMS: put the new key first there "
            "(FACEGATE_MASTER_KEY=NEW,OLD) and run `facegate keys rewrap`"
        )
    path = settings.resolved_key_file
    if not path.exists():
        raise MissingKey(f"no key file at {path}: run `facegate init` first")
    old = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    new = generate_key()
    try:
        write_key_file(path, [new, *old])
    except OSError as exc:
        raise KeyringError(f"cannot write the key file {path}: {exc}; it was left as it was") from exc
    return key_id_of(decode_key_list(new, "new key", separator="\n")[0])


def key_file_keys(settings: StorageSettings) -> list[str] | None:
    """The key file's keys (base64, newest first) for a key backup; None when keys come from elsewhere."""
    if not keys_come_from_key_file(settings) or not settings.resolved_key_file.exists():
        return None
    return [line.strip() for line in settings.resolved_key_file.read_text().splitlines() if line.strip()]


def restore_keyring(settings: StorageSettings, backup_keys: list[str]) -> Cipher:
    """The master keys the installation holds once a restore is done: the configured ones, and, when keys
    come from the key file, the key backup's too (the restore adds them to it). They check the backup's
    authentication and which data keys will open.

    Raises:
        MissingKey: no key at all (the backup's keys came from FACEGATE_MASTER_KEY or a KMS, and none is
            configured here), or a configured or backed-up key does not decode.
        KeyringError: the KMS hook cannot be loaded.
    """
    if not keys_come_from_key_file(settings):
        return load_keyring(settings)
    keys = list(dict.fromkeys([*(key_file_keys(settings) or []), *backup_keys]))
    if not keys:
        raise MissingKey(
            "no master key: the key backup holds none (they came from FACEGATE_MASTER_KEY or a KMS) and "
            "none is configured here: set FACEGATE_MASTER_KEY to them"
        )
    return Keyring(decode_key_list("\n".join(keys), "master key", separator="\n"))


def backup_keys_not_configured(settings: StorageSettings, backup_keys: list[str]) -> list[str]:
    """Ids of the key backup's master keys that a restore leaves out of the installation: with
    FACEGATE_MASTER_KEY or a KMS, those it does not hold (the key file, unused then, gets none); none
    when the keys come from the key file (the restore adds them).

    Raises:
        MissingKey: a configured or backed-up key does not decode.
        KeyringError: the KMS hook cannot be loaded.
    """
    if keys_come_from_key_file(settings) or not backup_keys:
        return []
    held = set(load_keyring(settings).key_ids)
    decoded = decode_key_list("\n".join(backup_keys), "backed-up master key", separator="\n")
    return [key_id for key_id in map(key_id_of, decoded) if key_id not in held]


def merge_keys_into_file(settings: StorageSettings, keys: list[str]) -> int:
    """Add restored master keys to the key file (created 0600 if missing); returns how many were new.

    Keys already there keep their order, so the current primary key stays primary. When the master keys
    come from FACEGATE_MASTER_KEY or a KMS nothing is written (returns 0): that file would be read by no
    process, yet hold master keys in plain text, and become the keyring the day the variable is unset.

    Raises:
        MissingKey: a restored key does not decode.
        KeyringError: the key file cannot be written.
    """
    if not keys_come_from_key_file(settings):
        return 0
    current = key_file_keys(settings) or []
    new = [key for key in keys if key not in current]
    if new:
        decode_key_list("\n".join(new), "restored key", separator="\n")
        path = settings.resolved_key_file
        try:
            write_key_file(path, [*current, *new] if current else keys)
        except OSError as exc:
            raise KeyringError(f"cannot write the key file {path}: {exc}") from exc
    return len(new)


class KeyFileMerge:
    """A restore's `merge_keys_into_file`, undone if the restore fails after it: a context around the
    restore, whose `write` the restore calls last in its transaction (before its commit). Leaving the
    context with an exception after `write` puts the key file back byte for byte (removes it when there
    was none), so that a restore that failed at any step, its commit included, added no other
    installation's master keys to this one's key file.
    """

    def __init__(self, settings: StorageSettings, keys: list[str]) -> None:
        self._settings = settings
        self._keys = keys
        self._previous: bytes | None = None
        self.added = 0

    def __enter__(self) -> KeyFileMerge:
        return self

    def write(self) -> None:
        """Add the keys (`merge_keys_into_file`); `added` says how many were new.

        Raises:
            MissingKey, KeyringError: as `merge_keys_into_file` (the key file is left as it was).
        """
        path = self._settings.resolved_key_file
        try:
            previous = path.read_bytes() if path.exists() else None
        except OSError as exc:
            raise KeyringError(f"cannot read the key file {path}: {exc}") from exc
        self.added = merge_keys_into_file(self._settings, self._keys)
        self._previous = previous

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None or not self.added:
            return
        path = self._settings.resolved_key_file
        try:
            if self._previous is None:
                path.unlink(missing_ok=True)
                fsync_directory(path.parent)
            else:
                write_key_file_bytes(path, self._previous)
        except OSError:
            logger.exception("the restore failed and the key file %s could not be put back", path)
            return
        self.added = 0
        logger.info("the restore failed: the key file %s was put back as it was", path)
