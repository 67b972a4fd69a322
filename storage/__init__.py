"""Persistence and encryption: SQLModel tables, AES-GCM templates, append-only audit log."""

from sqlalchemy import Engine
from sqlmodel import Session

from storage.api_keys import authenticate, create_api_key, has_api_key, list_api_keys
from storage.audit import append_event, query_events
from storage.audit_chain import ChainBreak, ChainReport, verify_chain
from storage.audit_checkpoint import (
    Checkpoint,
    check_checkpoint,
    checkpoint_public_key,
    export_checkpoint,
    parse_checkpoint,
)
from storage.backup import BackupFiles, RestoreReport, backup_master_keys, create_backup, restore_backup
from storage.cipher import Keyring, Sealed, generate_key, key_id_of
from storage.db import create_schema, make_engine, session_scope
from storage.doors import ensure_door, list_doors
from storage.errors import (
    AuditChainError,
    BackupError,
    ChainBroken,
    CheckpointInvalid,
    CheckpointMismatch,
    Conflict,
    DatabaseUnavailable,
    DecryptionError,
    KeyringError,
    MissingKey,
    NotFound,
    StorageError,
    UnknownKeyId,
)
from storage.master_key import add_key_to_file, key_file_keys, load_keyring, merge_keys_into_file
from storage.migrate import current_revision, head_revision, schema_drift
from storage.models import (
    ApiKey,
    ApiKeyPublic,
    AuditEventCreate,
    AuditEventPublic,
    Decision,
    Door,
    Person,
    PersonPublic,
    Role,
)
from storage.people import create_person, delete_person, get_person, list_people, to_public
from storage.person_keys import master_key_usage, person_data_key, rewrap_person_keys
from storage.protocols import Cipher
from storage.settings import StorageSettings, default_home
from storage.templates import (
    DecryptedTemplate,
    bump_gallery_version,
    gallery_version,
    iter_templates,
    store_template,
)

__all__ = [
    "BackupError",
    "BackupFiles",
    "RestoreReport",
    "backup_master_keys",
    "create_backup",
    "key_file_keys",
    "merge_keys_into_file",
    "restore_backup",
    "ApiKey",
    "ApiKeyPublic",
    "AuditChainError",
    "AuditEventCreate",
    "AuditEventPublic",
    "ChainBreak",
    "ChainBroken",
    "ChainReport",
    "Checkpoint",
    "CheckpointInvalid",
    "CheckpointMismatch",
    "Cipher",
    "Conflict",
    "DatabaseUnavailable",
    "DecryptedTemplate",
    "DecryptionError",
    "Decision",
    "Door",
    "Engine",
    "KeyringError",
    "Keyring",
    "MissingKey",
    "NotFound",
    "Person",
    "PersonPublic",
    "Role",
    "Sealed",
    "Session",
    "StorageError",
    "StorageSettings",
    "UnknownKeyId",
    "add_key_to_file",
    "append_event",
    "authenticate",
    "bump_gallery_version",
    "check_checkpoint",
    "checkpoint_public_key",
    "create_api_key",
    "create_person",
    "create_schema",
    "current_revision",
    "default_home",
    "delete_person",
    "ensure_door",
    "export_checkpoint",
    "gallery_version",
    "has_api_key",
    "head_revision",
    "generate_key",
    "get_person",
    "iter_templates",
    "key_id_of",
    "list_api_keys",
    "list_doors",
    "list_people",
    "load_keyring",
    "make_engine",
    "master_key_usage",
    "parse_checkpoint",
    "person_data_key",
    "query_events",
    "rewrap_person_keys",
    "schema_drift",
    "session_scope",
    "store_template",
    "to_public",
    "verify_chain",
]
