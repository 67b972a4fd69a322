"""Keeping one Gallery equal to a stored one: apply the change log, or load everything in batches.

Where the templates live is a `GallerySource` (storage's `StoredGallery`, wired in by the gate and
enrollment): recognition never imports storage, the source only has to have this shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np

from recognition.codec import vectors_from_bytes
from recognition.errors import IndexStateError
from recognition.gallery import Gallery
from recognition.pipeline import Recognizer

logger = logging.getLogger(__name__)

_PROGRESS_EVERY_S = 2.0

LoadProgress = Callable[[str, int, int], None]
"""Told `(stage, done, total)` as a full load goes: stage `decrypting` counts templates read (total: the
stored count), then `searching look-alikes` counts those searched (total: those without a stored record;
`done` 0 when the search starts)."""


class StoredTemplate(Protocol):
    """One decrypted template as a source gives it (bytes in `recognition.codec`'s format)."""

    @property
    def template_id(self) -> str: ...

    @property
    def person_id(self) -> int: ...

    @property
    def plaintext(self) -> bytes: ...

    @property
    def lookalikes(self) -> bytes | None:
        """Its look-alike neighbours stored at enrollment (`Gallery.neighbour_records`); None: search."""
        ...


class TemplateChanges(Protocol):
    """What changed up to `version`: remove the people first, then add the templates."""

    @property
    def version(self) -> int: ...

    @property
    def added(self) -> Sequence[StoredTemplate]: ...

    @property
    def removed_person_ids(self) -> Sequence[int]: ...


class GallerySource(Protocol):
    """The stored gallery of one model, read inside one transaction."""

    def stamp(self) -> tuple[int, str]:
        """The stored version and epoch, in one read: another epoch means another gallery, whatever its
        version number (a restore numbers its gallery from the backup's version, which one may hold)."""
        ...

    def changes_since(self, version: int) -> TemplateChanges | None:
        """The changes after `version`; None when they are unknown (then load everything)."""
        ...

    def count(self) -> int:
        """How many templates a full load yields."""
        ...

    def batches(self) -> Iterator[Sequence[StoredTemplate]]:
        """Every template, decrypted, in batches."""
        ...


class GallerySync:
    """One writer's view of a stored gallery: `refresh` applies a delta in place or builds a new one.

    Readers may search `gallery` from other threads while `refresh` runs (see Gallery); a full load
    builds a new Gallery and replaces the attribute in one assignment when it is complete, before
    `version`: a reader that reads `version` and then `gallery` never pairs a gallery with a version
    newer than it. `catch_up` and `load` are refresh's two halves, for a caller that runs a full load
    elsewhere (in a thread of its own) while it keeps serving the gallery it has.
    """

    def __init__(
        self,
        recognizer: Recognizer,
        *,
        monotonic: Callable[[], float],
        progress: LoadProgress | None = None,
    ) -> None:
        self._recognizer = recognizer
        self._monotonic = monotonic
        self._progress = progress
        """Told each full load's progress (a CLI's progress bar), besides the log lines."""
        self.gallery = recognizer.new_gallery()
        self.version: int | None = None
        """The stored version whose changes are all in `gallery` (None before the first full load)."""
        self.epoch: str | None = None
        """The stored gallery's epoch at `version`: the change log only applies within one epoch."""
        self.is_loading = False
        """Whether `load` is loading the gallery in full now (another thread may ask, not wait)."""
        self._is_dirty = False

    def refresh(self, source: GallerySource) -> bool:
        """Bring the gallery up to the source's version; returns whether anything changed.

        Raises:
            IndexStateError: stored bytes of the wrong width, found by the full load a change that cannot
                be applied falls back to (the next refresh loads in full again); whatever the source raises.
        """
        before = (self.version, self.gallery, self.gallery.revision)
        if not self.catch_up(source):
            self.load(source)
        return before != (self.version, self.gallery, self.gallery.revision)

    def catch_up(self, source: GallerySource) -> bool:
        """Apply what the change log says changed since `version`; returns False when only a full load
        can bring the gallery to the source's version (none loaded yet, another epoch, the log cannot
        tell, or an earlier change was not applied whole): then the gallery is as it was, or partly changed by
        changes after `version`.

        Raises:
            Whatever the source raises.
        """
        version, epoch = source.stamp()
        if epoch != self.epoch:
            if self.version is not None:
                logger.warning("gallery epoch changed (a restore): loading version %d in full", version)
            return False
        if version == self.version and not self._is_dirty:
            return True
        if self.version is None or self._is_dirty:
            return False
        changes = source.changes_since(self.version)
        if changes is None:
            return False
        try:
            self._apply(changes)
        except IndexStateError as exc:
            # A full load stamps the version it read before its templates, so an enrollment committed
            # in between is loaded and then named again by the log: load in full now, not fail a caller.
            logger.warning("gallery version %d not applied (%s): loading in full", changes.version, exc)
            return False
        self.version, self._is_dirty = changes.version, False
        return True

    def load(self, source: GallerySource) -> None:
        """Replace the gallery by every stored template, stamped with the version read before them.

        Raises:
            IndexStateError: stored bytes of the wrong width (the next refresh loads in full again);
                whatever the source raises.
        """
        version, epoch = source.stamp()
        self.is_loading = True
        try:
            self.gallery = self._full_load(source)
        finally:
            self.is_loading = False
        self.epoch, self.version, self._is_dirty = epoch, version, False

    def _apply(self, changes: TemplateChanges) -> None:
        self._is_dirty = True  # until it is applied whole: a failure part-way means a full load
        self._recognizer.add_to(
            self.gallery,
            [(t.template_id, t.person_id, t.plaintext) for t in changes.added],
            removed_person_ids=changes.removed_person_ids,
            neighbours=[t.lookalikes for t in changes.added],
        )
        logger.info(
            "gallery version %d applied: %d templates added, %d people removed, now %d templates",
            changes.version,
            len(changes.added),
            len(changes.removed_person_ids),
            len(self.gallery),
        )

    def _full_load(self, source: GallerySource) -> Gallery:
        return load_gallery(source, self._recognizer, monotonic=self._monotonic, progress=self._progress)


def load_gallery(
    source: GallerySource,
    recognizer: Recognizer,
    *,
    monotonic: Callable[[], float],
    lookalike_min_cos: float | None = None,
    progress: LoadProgress | None = None,
) -> Gallery:
    """A new gallery from every stored template, with progress lines (H5) and `progress` calls.

    Every template is decrypted first and the index built once over all of them (trained once, on the
    whole gallery's sample), then look-alike pairs are recorded from `lookalike_min_cos` up (default:
    the model's threshold). At the default they come from the stored neighbour records, which were
    taken at that threshold, and only templates without one are searched, in one batched pass after the
    build; below or above it every template is searched (a record holds no pair under the threshold).

    Raises:
        IndexStateError: stored bytes of the wrong width.
        Whatever the source raises.
    """
    total = source.count()
    reporter = _Progress(monotonic, progress)
    keys: list[str] = []
    owners: list[int] = []
    neighbours: list[bytes | None] = []
    vectors = []
    for batch in source.batches():
        keys += [t.template_id for t in batch]
        owners += [t.person_id for t in batch]
        neighbours += [t.lookalikes for t in batch]
        vectors.append(vectors_from_bytes([t.plaintext for t in batch], dim=recognizer.embedder.dim))
        reporter.report(len(keys), total)
    if lookalike_min_cos is not None:
        neighbours = [None] * len(keys)
    logger.info(
        "gallery decrypted: %d templates in %.1f s; building the index (%d without stored look-alikes)",
        len(keys),
        reporter.elapsed_s(),
        sum(record is None for record in neighbours),
    )
    gallery = recognizer.new_gallery(lookalike_min_cos=lookalike_min_cos)
    reporter.begin("searching look-alikes")
    gallery.apply(
        template_keys=keys,
        person_ids=owners,
        vectors=np.concatenate(vectors) if vectors else np.empty((0, gallery.dim), dtype=np.float32),
        neighbours=neighbours,
        progress=reporter.report,
    )
    logger.info(
        "gallery loaded: %d templates, %d look-alike pairs in %.1f s",
        len(gallery),
        len(gallery.pairs),
        reporter.elapsed_s(),
    )
    return gallery


class _Progress:
    """A log line every few seconds with the stage's rate and the time left (H5)."""

    def __init__(self, monotonic: Callable[[], float], progress: LoadProgress | None) -> None:
        self._monotonic = monotonic
        self._progress = progress
        self._started = self._stage_started = self._reported = monotonic()
        self._stage = "decrypting"

    def elapsed_s(self) -> float:
        return self._monotonic() - self._started

    def begin(self, stage: str) -> None:
        self._stage, self._stage_started = stage, self._monotonic()

    def report(self, done: int, total: int) -> None:
        """Log a line when one is due; `done` 0 marks the stage's real start (after the index build)."""
        if self._progress is not None:
            self._progress(self._stage, done, total)
        now = self._monotonic()
        if done == 0:
            self._stage_started = now
            return
        if now - self._reported < _PROGRESS_EVERY_S:
            return
        self._reported = now
        rate = done / max(now - self._stage_started, 1e-9)
        logger.info(
            "loading the gallery: %s, %d of %d templates, %.0f/s, about %.0f s left",
            self._stage,
            done,
            total,
            rate,
            (total - done) / max(rate, 1e-9),
        )
