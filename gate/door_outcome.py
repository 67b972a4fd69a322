"""What a gate loop does with a verdict: the door's access rules, the door actuator and the audit event.

It logs to the logger the loop passes in (the worker's), so its lines keep that logger's name. A door
that fails to unlock (a broker or webhook away) is logged by its first failure with the cause, a count
per error_audit_interval_s and its end at the next unlock that works (gate/failure_log.py); each grant it
turns into door_error (the unlock never left: denied) or door_unconfirmed (sent, not confirmed: still
granted, the door may have opened) is still logged and audited as a decision.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from gate.access_policy import DoorPolicy
from gate.decision import (
    CAMERA_UNAVAILABLE,
    DOOR_ERROR,
    DOOR_UNCONFIRMED,
    NOT_AUTHORISED,
    RateLimiter,
    Verdict,
)
from gate.errors import ActuatorError, DoorUnconfirmed
from gate.failure_log import FailureLog, FailureTexts
from gate.loop_io import GateIo
from gate.pad import PadEvidence
from gate.settings import GateSettings
from gate.stream import SourceOutage
from storage import AuditEventCreate, Decision

_DOOR_FAILED = FailureTexts(
    first="%(where)s failed to unlock (%(cause)s); grants are door_error (not sent: denied) or "
    "door_unconfirmed (sent, not confirmed) until it unlocks again",
    still="%(where)s still failing to unlock: %(count)d grants not confirmed open in the last %(span_s).0f s",
    ended="%(where)s unlocks again after %(span_s).1f s (%(count)d grants were not confirmed open)",
    still_level=logging.ERROR,  # every count is a person left outside a door they may open
)


class DoorOutcome:
    """One door's verdicts admitted by its rules, acted on and audited; failures audited at a bounded rate."""

    def __init__(
        self, *, door: str, source_name: str, io: GateIo, settings: GateSettings, logger: logging.Logger
    ) -> None:
        self.door, self.source_name, self.io, self.settings = door, source_name, io, settings
        self.logger = logger
        self.errors = RateLimiter(interval_s=settings.decision.error_audit_interval_s)
        self.door_failures = FailureLog(
            logger,
            _DOOR_FAILED,
            where=f"door {door}",
            interval_s=settings.decision.error_audit_interval_s,
            monotonic=io.monotonic,
        )

    def settle(
        self,
        track_id: int,
        verdict: Verdict,
        *,
        policy: DoorPolicy,
        threshold: float,
        rule: str,
        pad: PadEvidence | None,
    ) -> Verdict:
        """Apply the door's access policy, drive the door and audit; the verdict as finally decided."""
        verdict = self._authorise(verdict, policy)
        # A grant's unlock id is its audit event's event_uid: a door controller's log names the event.
        unlock_id = str(uuid.uuid4()) if verdict.decision is Decision.granted else None
        verdict = self._open_door(verdict, unlock_id)
        self.logger.info(
            "door %s track %d: %s (%s) person=%s score=%s",
            self.door,
            track_id,
            verdict.decision.value,
            verdict.reason,
            verdict.person_id,
            verdict.score,
        )
        event = self._event(verdict, threshold, rule=rule, track_id=track_id, pad=pad, event_uid=unlock_id)
        self.io.record(event)
        return verdict

    def _authorise(self, verdict: Verdict, policy: DoorPolicy) -> Verdict:
        """A grant for someone the door's rules do not admit now becomes 'denied: not_authorised'."""
        if verdict.decision is not Decision.granted or verdict.person_id is None:
            return verdict
        if policy.admits(verdict.person_id, self.io.utc_now()):
            return verdict
        return replace(verdict, decision=Decision.denied, reason=NOT_AUTHORISED)

    def _open_door(self, verdict: Verdict, unlock_id: str | None) -> Verdict:
        """Unlock for a grant. An unlock that never left turns the grant into a denial (door_error); one
        sent but not confirmed keeps it granted as door_unconfirmed: the door may have opened."""
        if verdict.decision is not Decision.granted or unlock_id is None:
            return verdict
        try:
            self.io.actuator.unlock(
                door=self.door, duration_s=self.settings.door.unlock_s, unlock_id=unlock_id
            )
        except DoorUnconfirmed as exc:
            self.door_failures.failed(exc)
            return replace(verdict, reason=DOOR_UNCONFIRMED)
        except ActuatorError as exc:
            self.door_failures.failed(exc)
            return replace(verdict, decision=Decision.denied, reason=DOOR_ERROR)
        self.door_failures.recovered()
        return verdict

    def _event(
        self,
        verdict: Verdict,
        threshold: float,
        *,
        rule: str,
        track_id: int | None,
        pad: PadEvidence | None = None,
        event_uid: str | None = None,
    ) -> AuditEventCreate:
        return AuditEventCreate(
            event_uid=event_uid,
            door=self.door,
            source=self.source_name,
            track_id=track_id,
            decision=verdict.decision,
            reason=verdict.reason,
            person_id=verdict.person_id,
            score=verdict.score,
            threshold=threshold,
            model_id=self.io.recognizer.model_id,
            weights_hash=self.io.recognizer.weights_sha256,
            margin=verdict.margin_cos,
            quality=verdict.quality,
            rule=rule,
            pad_model_id=pad.model_id if pad else None,
            pad_weights_hash=pad.weights_hash if pad else None,
            pad_score=pad.score if pad else None,
            pad_threshold=pad.threshold if pad else None,
            pad_cues=pad.cues_json if pad else None,
        )

    def fail_closed(
        self, reason: str, error: Exception | None, *, threshold: float, track_id: int | None = None
    ) -> None:
        """Audit a denial for a failure, at most once per error_audit_interval_s for each reason."""
        if not self.errors.allow(reason, self.io.monotonic()):
            self.logger.debug("%s not audited again yet (%s)", reason, type(error).__name__)
            return
        verdict = Verdict(Decision.denied, reason, None, None)
        self.io.record(self._event(verdict, threshold, rule=f"fail closed: {reason}", track_id=track_id))

    def outage(self, outage: SourceOutage, *, threshold: float) -> None:
        """Audit a camera outage as a denial; a flap logs at debug (the reader counts it in its outage)."""
        self.logger.log(
            logging.DEBUG if outage.is_flap else logging.WARNING,
            "door %s: source %s unavailable (%s); door stays shut",
            self.door,
            self.source_name,
            outage.reason,
        )
        verdict = Verdict(Decision.denied, CAMERA_UNAVAILABLE, None, None)
        rule = f"fail closed: {CAMERA_UNAVAILABLE}"
        self.io.record(self._event(verdict, threshold, rule=rule, track_id=None))
