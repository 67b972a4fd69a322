"""Persistence and encryption: SQLModel tables, AES-GCM templates, append-only audit log."""

from sqlalchemy import Engine
from sqlmodel import Session

from storage.api_keys import authenticate, create_api_key, has_api_key, list_api_keys
from storage.audit import append_event, query_events
from storage.cipher import Keyring, generate_key, key_id_of, load_keyring
from storage.db import create_schema, make_engine, session_scope
from storage.doors import ensure_door, list_doors
from storage.errors import (
    Conflict,
    DatabaseUnavailable,
    DecryptionError,
    KeyringError,
    MissingKey,
    NotFound,
    StorageError,
    UnknownKeyId,
)
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
from storage.settings import StorageSettings, default_home
from storage.templates import (
    DecryptedTemplate,
    bump_gallery_version,
    gallery_version,
    iter_templates,
    store_template,
)

__all__ = [
    "ApiKey",
    "ApiKeyPublic",
    "AuditEventCreate",
    "AuditEventPublic",
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
    "Session",
    "StorageError",
    "StorageSettings",
    "UnknownKeyId",
    "append_event",
    "authenticate",
    "bump_gallery_version",
    "create_api_key",
    "create_person",
    "create_schema",
    "default_home",
    "delete_person",
    "ensure_door",
    "gallery_version",
    "has_api_key",
    "generate_key",
    "get_person",
    "iter_templates",
    "key_id_of",
    "list_api_keys",
    "list_doors",
    "list_people",
    "load_keyring",
    "make_engine",
    "query_events",
    "session_scope",
    "store_template",
    "to_public",
]
