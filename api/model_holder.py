"""The model the service answers with, swapped without a restart when the alias moves.

A :class:`ModelHolder` keeps one :class:`scoring.Scorer` for the registry alias it serves
(``champion`` by default). A background thread asks the registry every
``model_poll_seconds`` which version the alias points to; when it moved, the new version
is loaded *beside* the old one and then swapped in with one assignment. A request holds
the scorer it started with, so no request fails or mixes versions during a swap, and each
decision records the version that made it. A version that fails to load leaves the old
one serving; the failure is kept for ``/readyz`` and the models route.

The holder also keeps the **challenger** (alias ``challenger`` by default), read in the
same registry call and swapped the same way, for shadow scoring: every decision is scored
with it too and its score is stored, never acted on (:mod:`decisions.service`). The
challenger is optional: no alias, the alias on the champion's own version, or a version
that fails to load leaves the service without one (the failure kept in
:attr:`ModelStatus.challenger_error`), and never touches the champion.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scoring import Scorer
from store.clock import utc_now

__all__ = ["ModelHolder", "ModelStatus", "ReloadResult"]

log = logging.getLogger("sme_credit.models")


@dataclass(frozen=True)
class ModelStatus:
    """What the holder serves and what it last saw in the registry."""

    model_name: str
    alias: str
    serving_version: str | None
    registry_aliases: dict[str, str]
    loaded_at: datetime | None
    last_error: str | None
    #: The challenger scoring in the shadow (``None``: none) and why it is not, if failed.
    shadow_version: str | None = None
    challenger_error: str | None = None


@dataclass(frozen=True)
class ReloadResult:
    """Outcome of a reload: the version before and after, and whether it changed."""

    previous_version: str | None
    serving_version: str | None
    changed: bool


class ModelHolder:
    """The scorer of ``models:/<name>@<alias>``, kept current.

    Parameters
    ----------
    tracking_uri : MLflow tracking URI of the registry (``None``: a fixed scorer only).
    model_name, alias : what to serve.
    scorer : a scorer to serve as given (tests, a local model folder); no polling then.
    challenger_alias : the alias of the model scored in the shadow (``None``: none).
    challenger : a scorer to shadow with as given (with ``scorer``).
    """

    def __init__(self, tracking_uri: str | None, model_name: str, alias: str = "champion",
                 *, scorer: Scorer | None = None, keep_versions: int = 4,
                 challenger_alias: str | None = "challenger",
                 challenger: Scorer | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.alias = alias
        self._scorer = scorer
        self._fixed = scorer is not None
        self._lock = threading.Lock()  # one load at a time; readers never wait on it
        self._aliases: dict[str, str] = {}
        self._loaded_at: datetime | None = utc_now() if scorer else None
        self._last_error: str | None = None
        self._versions: OrderedDict[str, Scorer] = OrderedDict()
        self._keep = keep_versions
        if scorer is not None:
            self._versions[scorer.model_version] = scorer
        self.challenger_alias = challenger_alias
        self._challenger = challenger
        self._challenger_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- reading
    def current(self) -> Scorer | None:
        """The scorer to answer with (``None`` while no model could be loaded)."""
        return self._scorer

    def challenger(self) -> Scorer | None:
        """The scorer to score in the shadow with (``None``: no challenger loaded)."""
        return self._challenger

    def status(self) -> ModelStatus:
        """Serving version, the registry's aliases as last read, and the last failure."""
        scorer = self._scorer
        challenger = self._challenger
        return ModelStatus(self.model_name, self.alias,
                           scorer.model_version if scorer else None, dict(self._aliases),
                           self._loaded_at, self._last_error,
                           challenger.model_version if challenger else None,
                           self._challenger_error)

    def scorer_for(self, version: str) -> Scorer:
        """A scorer of one registered version (kept in a small cache), e.g. to reproduce a
        stored decision with the version that made it.

        Raises
        ------
        LookupError
            The version does not exist in the registry (or no registry is configured).
        """
        scorer = self._scorer
        if scorer is not None and scorer.model_version == version:
            return scorer
        with self._lock:
            cached = self._versions.get(version)
            if cached is not None:
                self._versions.move_to_end(version)
                return cached
        if self.tracking_uri is None:
            raise LookupError(f"model version {version!r} is not loaded and no registry "
                              "is configured")
        loaded = Scorer.load(f"models:/{self.model_name}/{version}",
                             tracking_uri=self.tracking_uri)
        with self._lock:
            self._remember(loaded)
        return loaded

    # ----------------------------------------------------------------- loading
    def reload(self) -> ReloadResult:
        """Ask the registry where the alias points and load that version if it moved (and
        the challenger's alias, likewise; see :meth:`_refresh_challenger`).

        Raises
        ------
        LookupError
            The registered model or the alias does not exist.
        """
        previous = self._scorer.model_version if self._scorer else None
        if self._fixed or self.tracking_uri is None:
            return ReloadResult(previous, previous, False)
        from models.registry import alias_versions

        with self._lock:
            try:
                _check_store_exists(self.tracking_uri)
                self._aliases = alias_versions(self.tracking_uri, self.model_name)
                self._refresh_challenger()
                target = self._aliases.get(self.alias)
                if target is None:
                    raise LookupError(f"registered model {self.model_name!r} has no alias "
                                      f"{self.alias!r}")
                if target == previous:
                    self._last_error = None
                    return ReloadResult(previous, previous, False)
                scorer = self._versions.get(target) or Scorer.load(
                    f"models:/{self.model_name}/{target}", tracking_uri=self.tracking_uri)
            except Exception as error:  # noqa: BLE001 - kept for /readyz, old model serves
                self._last_error = f"{type(error).__name__}: {error}"
                raise
            self._remember(scorer)
            self._scorer = scorer  # the swap: one reference assignment
            self._loaded_at = utc_now()
            self._last_error = None
        log.info("serving %s version %s (was %s)", self.model_name, target, previous)
        return ReloadResult(previous, target, True)

    def _refresh_challenger(self) -> None:
        """Follow the challenger's alias as last read (under the lock; never raises)."""
        assert self.tracking_uri is not None
        target = (self._aliases.get(self.challenger_alias)
                  if self.challenger_alias is not None else None)
        current = self._challenger
        if target is None or target == self._aliases.get(self.alias):
            # No challenger, or it is the champion itself: nothing to shadow.
            self._challenger, self._challenger_error = None, None
            if current is not None:
                log.info("no challenger of %s to score in the shadow (was version %s)",
                         self.model_name, current.model_version)
            return
        if current is not None and current.model_version == target:
            return
        try:
            loaded = self._versions.get(target) or Scorer.load(
                f"models:/{self.model_name}/{target}", tracking_uri=self.tracking_uri)
        except Exception as error:  # noqa: BLE001 - the champion serves regardless
            self._challenger = None  # not the challenger any more; retried next poll
            self._challenger_error = f"{type(error).__name__}: {error}"
            log.warning("challenger %s version %s not loaded: %s", self.model_name, target,
                        self._challenger_error)
            return
        self._remember(loaded)
        self._challenger, self._challenger_error = loaded, None
        log.info("scoring in the shadow with %s version %s (was %s)", self.model_name,
                 target, current.model_version if current else None)

    def _remember(self, scorer: Scorer) -> None:
        self._versions[scorer.model_version] = scorer
        self._versions.move_to_end(scorer.model_version)
        while len(self._versions) > self._keep:
            self._versions.popitem(last=False)

    def try_reload(self) -> None:
        """:meth:`reload`, logging instead of raising (start-up and the poller)."""
        try:
            self.reload()
        except Exception as error:  # noqa: BLE001 - logged; the service stays up
            log.warning("model %s@%s not loaded: %s", self.model_name, self.alias, error)

    # ----------------------------------------------------------------- polling
    def start_polling(self, every_seconds: float) -> None:
        """Check the alias every ``every_seconds`` in a daemon thread (0: never)."""
        if every_seconds <= 0 or self._fixed or self.tracking_uri is None:
            return
        if self._thread is not None:
            return

        def poll() -> None:
            while not self._stop.wait(every_seconds):
                self.try_reload()

        self._thread = threading.Thread(target=poll, name="model-alias-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (waits for the thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def _check_store_exists(tracking_uri: str) -> None:
    """Refuse an embedded SQLite store that is not there (MLflow would create an empty
    one, which takes seconds and registers nothing)."""
    prefix = "sqlite:///"
    if tracking_uri.startswith(prefix):
        path = Path(tracking_uri.removeprefix(prefix))
        if not path.exists():
            raise LookupError(f"no MLflow store at {path}: train and promote a model first "
                              "(sme-credit train / promote, or make run)")
