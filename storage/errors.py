"""Errors raised by the storage package.

StorageError
├── NotFound              a row that was asked for does not exist
│   ├── MissingReference    a write refers to a row that does not exist (deleted meanwhile): a foreign key
│   └── DoorNotFound        a door name that is no door's name or former name (a gate's or a device key's)
├── Conflict              a unique name or key is already taken (checked first, or by the database)
│   ├── IdempotencyKeyInFlight  a request with this idempotency key is still being processed
│   └── DoorsLeftOpen       a deletion would leave doors without rules (admitting everyone); not asked to
├── IdempotencyKeyReused  an idempotency key sent again with another request (route or body)
├── ConstraintViolation   a write broke another database constraint (NOT NULL, CHECK): a bug
├── InvalidValue          a value the caller gave is out of range (an expiry in the past)
├── InvalidDatabaseUrl    the database URL is not a URL, or names a database or driver not installed
├── DatabaseUnavailable   the database cannot be reached or refused the operation
│   ├── TransactionAborted  PostgreSQL aborted the transaction (deadlock, serialization failure): retryable
│   └── StatementTimeout    PostgreSQL cancelled a statement that ran or waited for a lock past the bound
├── MigrationFailed       a schema migration failed; the whole upgrade was rolled back
├── SchemaTooNew          a newer release migrated the database past every migration this one knows
├── SchemaMissing         a table or column this release needs is not in the database (not migrated, dropped)
├── InvalidDevice         a device key or public key that cannot serve as an edge device
├── BackupError           a backup file is damaged or foreign, or the restore target is not empty
├── UnreadableEvent       an audit row holds a value FaceGate never writes (SQLite): it cannot be listed
├── AuditChainError
│   ├── ChainBroken         the audit hash chain is broken: nothing is signed or appended on top of it
│   ├── CheckpointInvalid   a checkpoint is malformed, its signature fails, or another key signed it
│   ├── CheckpointMismatch  the log no longer holds a checkpoint's link: history before it was rewritten
│   └── BreakNotAcknowledged  a re-anchoring names other breaks than the chain has (or it has none)
└── KeyringError
    ├── MissingKey        no master key in the environment or the key file
    ├── UnknownKeyId      a row was encrypted with a key that is not in the keyring
    └── DecryptionError   authentication failed: wrong key, tampered ciphertext, or a row swapped
"""


class StorageError(Exception):
    """Base class of every storage error."""


class NotFound(StorageError):
    """The requested row does not exist."""


class MissingReference(NotFound):
    """A foreign key failed: the row a write refers to is gone (deleted by a concurrent transaction)."""


class DoorNotFound(NotFound):
    """No door has this name, now or before a rename: a gate configured with it has no rules to apply."""


class Conflict(StorageError):
    """A unique value is already taken."""


class IdempotencyKeyInFlight(Conflict):
    """Another request with the same idempotency key (and caller) is still being processed, or recorded
    its answer while this one ran: this one changed nothing; retried later, it gets that answer."""


class DoorsLeftOpen(Conflict):
    """Deleting these rules (a rule, a group) would leave doors without rules, and a door without rules
    admits every enrolled person at any time; nothing was deleted. Allowed with `allow_open_doors`."""

    def __init__(self, message: str, *, doors: tuple[str, ...]) -> None:
        super().__init__(message)
        self.doors = doors
        """The names of the doors that would be left open to everyone."""


class IdempotencyKeyReused(StorageError):
    """An idempotency key sent again with a different request (another route, path or body): the key
    names one request only, so nothing was done."""


class ConstraintViolation(StorageError):
    """A write broke a NOT NULL, CHECK or other constraint that callers cannot cause: a bug."""


class InvalidValue(StorageError):
    """A value given by the caller is out of its allowed range."""


class InvalidDatabaseUrl(StorageError):
    """The database URL cannot be read, or names a database or driver this project does not install."""


class DatabaseUnavailable(StorageError):
    """The database could not be reached or failed the operation."""


class StatementTimeout(DatabaseUnavailable):
    """PostgreSQL cancelled a statement that ran, or waited for a lock another session holds, longer than
    FACEGATE_DATABASE_STATEMENT_TIMEOUT_S (57014, 55P03); nothing of the transaction was kept."""


class TransactionAborted(DatabaseUnavailable):
    """PostgreSQL aborted the transaction to resolve a deadlock (40P01) or serialization failure (40001).

    Nothing of it was kept; running the whole transaction again can succeed.
    """


class CommitUnconfirmed(DatabaseUnavailable):
    """The connection to the database was lost while it committed: the server may have committed the
    transaction before the connection went, or not, and no one can tell from here.

    Every other DatabaseUnavailable means nothing was kept; this one must not be retried blindly where a
    second run would store the change twice (an upload adds templates): check what is stored first.
    """


class MigrationFailed(StorageError):
    """A schema migration failed: the database refused one of its statements (a bug of the migration, a
    lock timeout), or its own code raised (a backfill that cannot parse what it reads).

    Not DatabaseUnavailable: the database was reached. The upgrade is one transaction, so nothing of it was
    kept and the database stays at the revision it had.
    """


class SchemaTooNew(StorageError):
    """The database's schema revision is none of this release's migrations: a newer release upgraded it
    (a rollback of the software alone), so this one cannot tell what its tables hold; nothing was changed."""


class SchemaMissing(StorageError):
    """A statement met a table or column the database lacks: the schema was never migrated, or was dropped
    or replaced (an older dump restored) after this process migrated it at its start.

    Not DatabaseUnavailable: the database answered, and waiting does not help; an operator must migrate or
    restore it. The message names what is missing and, by the database's schema revision, what to do.
    """


class BackupError(StorageError):
    """A backup cannot be written or restored."""


class UnreadableEvent(StorageError):
    """An audit row holds a value FaceGate never writes (SQLite keeps any value in any column: a decision
    'GRANTED', a time 'garbage'), so a list or export that reaches it cannot show it; the message names its
    sequence and column and points to `facegate audit verify`, which reports it as an edit."""

    def __init__(self, message: str, *, sequence: int) -> None:
        super().__init__(message)
        self.sequence = sequence
        """The unreadable event's sequence: a list filtered or paged around it can be read."""


class AuditChainError(StorageError):
    """The audit log's hash chain or a checkpoint of it does not hold."""


class ChainBroken(AuditChainError):
    """The chain has a broken link or lost its head; it is not extended or signed."""


class CheckpointInvalid(AuditChainError):
    """A checkpoint does not parse, its Ed25519 signature fails, or it was signed by an unexpected key."""


class CheckpointMismatch(AuditChainError):
    """The event at a checkpoint's sequence is gone or has another link: history was rewritten."""


class BreakNotAcknowledged(AuditChainError):
    """A re-anchoring's acknowledgement does not name exactly the chain's breaks, or the chain has none."""


class KeyringError(StorageError):
    """A key problem: missing, unknown or wrong."""


class MissingKey(KeyringError):
    """No usable master key was configured."""


class UnknownKeyId(KeyringError):
    """The key that encrypted a row is not in the keyring."""


class DecryptionError(KeyringError):
    """AES-GCM authentication failed."""


class InvalidDevice(StorageError):
    """An API key without the device role used as a device, or a malformed device public key."""
