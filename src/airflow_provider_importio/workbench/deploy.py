"""Deploying a staging extractor to production, as Workbench's quick-start guide does it.

The production extractor is made once, by duplicating the staging extractor, and never edited:
to deploy, its ``latestConfigId`` is pointed at the staging extractor's latest configuration.
:func:`plan_deploy` reads both extractors and says what would change (the dry run);
:func:`apply_deploy` does it. Re-running a deploy that succeeded changes nothing.

When no production extractor id is given, the production extractor is looked up by name
(``production_name``, default ``"<staging name> (production)"``) among the caller's extractors,
and created (duplicate + rename) only when there is none, so a re-run never makes a second one.

Plain Python: works on any object with the extractor methods of
:class:`~airflow_provider_importio.clients.importio.ImportioApi` (the client or the hook).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_importio.clients.errors import ApiError
from airflow_provider_importio.clients.importio_records import Extractor

#: Appended to the staging extractor's name to name the production extractor by default.
PRODUCTION_SUFFIX = " (production)"


class ExtractorApi(Protocol):
    """The part of ``ImportioApi`` a deploy uses."""

    def get_extractor(self, extractor_id: str) -> Extractor: ...

    def list_extractors(self) -> Iterable[Extractor]: ...

    def duplicate_extractor(self, extractor_id: str) -> Extractor: ...

    def update_extractor(self, extractor_id: str, **fields: Any) -> Extractor: ...

    def set_extractor_latest_config(self, extractor_id: str, config_id: str) -> Extractor: ...


class DeployError(Exception):
    """A deploy that must not go ahead (same extractor twice, archived, ambiguous, ...)."""


def default_production_name(staging: Extractor) -> str:
    """``"<staging name> (production)"`` (the staging id when it has no name)."""
    return f"{staging.name or staging.guid}{PRODUCTION_SUFFIX}"


@dataclass(frozen=True)
class DeployPlan:
    """What a deploy would do. ``production_extractor_id`` is ``None`` when the production
    extractor does not exist yet and will be made by duplicating staging."""

    staging_extractor_id: str
    staging_name: str | None
    staging_config_id: str
    production_extractor_id: str | None
    #: The production extractor's name (the name a new one will get).
    production_name: str | None
    #: The production extractor's current ``latestConfigId``; ``None`` when it will be created.
    production_config_id: str | None
    #: Human-readable lines, one per change; empty when there is nothing to do.
    changes: tuple[str, ...]

    @property
    def is_noop(self) -> bool:
        return not self.changes

    @property
    def creates_production(self) -> bool:
        return self.production_extractor_id is None

    def lines(self) -> list[str]:
        """The plan for a log: both extractors, then the changes (or that there are none)."""
        staging = (f"Staging extractor {self.staging_extractor_id} ({self.staging_name}): "
                   f"latestConfigId {self.staging_config_id}")
        if self.creates_production:
            production = f"Production extractor: none named {self.production_name!r} yet"
        else:
            production = (f"Production extractor {self.production_extractor_id} ({self.production_name}): "
                          f"latestConfigId {self.production_config_id}")
        if self.is_noop:
            return [staging, production, "Nothing to change: production already runs the staging configuration"]
        return [staging, production, *(f"Change: {line}" for line in self.changes)]


@dataclass(frozen=True)
class DeployResult:
    """What a deploy did; :meth:`to_dict` is JSON-able (for XCom)."""

    staging_extractor_id: str
    production_extractor_id: str
    #: Production's ``latestConfigId`` before the deploy (``None`` when it was created).
    old_config_id: str | None
    new_config_id: str
    changed: bool
    created: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "staging_extractor_id": self.staging_extractor_id,
            "production_extractor_id": self.production_extractor_id,
            "old_config_id": self.old_config_id,
            "new_config_id": self.new_config_id,
            "changed": self.changed,
            "created": self.created,
        }


def dry_run_summary(plan: DeployPlan) -> dict[str, Any]:
    """A dry run of ``plan`` in :meth:`DeployResult.to_dict`'s shape, plus ``dry_run`` and
    ``changes``; ``production_extractor_id`` is ``None`` when it would be created."""
    return {
        "staging_extractor_id": plan.staging_extractor_id,
        "production_extractor_id": plan.production_extractor_id,
        "old_config_id": plan.production_config_id,
        "new_config_id": plan.staging_config_id,
        "changed": False,
        "created": False,
        "dry_run": True,
        "changes": list(plan.changes),
    }


def plan_deploy(
    api: ExtractorApi,
    staging_extractor_id: str,
    production_extractor_id: str | None = None,
    *,
    production_name: str | None = None,
) -> DeployPlan:
    """Read the extractors and plan the deploy; changes nothing.

    :param production_extractor_id: the production extractor; ``None`` looks it up by
        ``production_name`` and plans to create it (by duplicating staging) when there is none.
    :param production_name: used only without ``production_extractor_id``; default
        ``"<staging name> (production)"``.
    :raises DeployError: the same extractor twice, an archived extractor, a staging extractor
        without ``latestConfigId``, or several extractors named ``production_name``.
    """
    if not staging_extractor_id:
        raise DeployError("a staging extractor id is required")
    if production_extractor_id and production_extractor_id == staging_extractor_id:
        raise DeployError(
            f"staging and production are the same extractor ({staging_extractor_id}); "
            "production must be a separate extractor (a duplicate of staging)"
        )
    staging = _live(api.get_extractor(staging_extractor_id), "staging")
    config_id = staging.latest_config_id
    if not config_id:
        raise DeployError(f"staging extractor {staging.guid} has no latestConfigId to deploy")

    if production_extractor_id:
        production: Extractor | None = _live(api.get_extractor(production_extractor_id), "production")
    else:
        production_name = production_name or default_production_name(staging)
        production = _find_by_name(api, production_name, exclude=staging.guid)

    if production is None:
        changes = (
            f"create the production extractor by duplicating staging {staging.guid} "
            f"(it takes latestConfigId {config_id})",
            f"name the new production extractor {production_name!r}",
        )
        return DeployPlan(staging.guid, staging.name, config_id, None, production_name, None, changes)

    current = production.latest_config_id
    changes = () if current == config_id else (
        f"production {production.guid}: latestConfigId {current} -> {config_id}",
    )
    return DeployPlan(staging.guid, staging.name, config_id, production.guid, production.name, current, changes)


def apply_deploy(api: ExtractorApi, plan: DeployPlan) -> DeployResult:
    """Carry out ``plan`` (from :func:`plan_deploy`); a no-op plan makes no request.

    Deploys ``plan.staging_config_id``, the configuration the plan showed, even if staging has
    moved on since. A new production extractor is duplicated exactly once; if naming it (or
    pointing it at the planned configuration) then fails, the :class:`DeployError` gives its id.
    """
    if plan.is_noop:
        assert plan.production_extractor_id is not None
        return DeployResult(plan.staging_extractor_id, plan.production_extractor_id, plan.production_config_id,
                            plan.staging_config_id, changed=False, created=False)
    if plan.creates_production:
        return _create_production(api, plan)
    assert plan.production_extractor_id is not None
    updated = api.set_extractor_latest_config(plan.production_extractor_id, plan.staging_config_id)
    if updated.latest_config_id != plan.staging_config_id:
        raise DeployError(
            f"production extractor {updated.guid} reports latestConfigId {updated.latest_config_id} "
            f"after the update to {plan.staging_config_id}"
        )
    return DeployResult(plan.staging_extractor_id, updated.guid, plan.production_config_id,
                        plan.staging_config_id, changed=True, created=False)


def _create_production(api: ExtractorApi, plan: DeployPlan) -> DeployResult:
    copy = api.duplicate_extractor(plan.staging_extractor_id)
    fields: dict[str, Any] = {}
    if plan.production_name and copy.name != plan.production_name:
        fields["name"] = plan.production_name
    if copy.latest_config_id != plan.staging_config_id:
        fields["latestConfigId"] = plan.staging_config_id
    if fields:
        try:
            copy = api.update_extractor(copy.guid, **fields)
        except ApiError as exc:
            raise DeployError(
                f"created production extractor {copy.guid} by duplicating staging, but could not set "
                f"{', '.join(fields)} on it ({exc}); fix it and deploy with production extractor id {copy.guid}"
            ) from exc
    return DeployResult(plan.staging_extractor_id, copy.guid, None, plan.staging_config_id,
                        changed=True, created=True)


def _live(extractor: Extractor, role: str) -> Extractor:
    if extractor.archived:
        raise DeployError(f"the {role} extractor {extractor.guid} ({extractor.name}) is archived")
    return extractor


def _find_by_name(api: ExtractorApi, name: str, exclude: str) -> Extractor | None:
    found = [e for e in api.list_extractors() if e.name == name and e.guid != exclude and not e.archived]
    if len(found) > 1:
        ids = ", ".join(e.guid for e in found)
        raise DeployError(f"{len(found)} extractors are named {name!r} ({ids}); give the production extractor id")
    return found[0] if found else None
