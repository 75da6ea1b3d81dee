"""``ImportioDeployExtractorOperator``: the staging → production deploy step of Workbench's guide."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_importio.workbench.deploy import DeployError, apply_deploy, dry_run_summary, plan_deploy


class ImportioDeployExtractorOperator(BaseOperator):
    """Point the production extractor at the staging extractor's latest configuration.

    The first deploy creates the production extractor by duplicating staging (once); later ones
    PATCH its ``latestConfigId``. Without ``production_extractor_id`` the production extractor is
    found by ``production_name`` (default ``"<staging name> (production)"``), so a re-run never
    duplicates twice; a deploy with nothing to change makes no change. The plan is logged. A
    refused deploy (same extractor twice, an archived one) fails the task without retries; API
    errors are raised as they are (transient ones were already retried by the hook).

    Returns (XCom) ``{"staging_extractor_id", "production_extractor_id", "old_config_id",
    "new_config_id", "changed", "created", "dry_run", "changes"}``; in a dry run ``changed`` is
    false and ``production_extractor_id`` is ``None`` if it would be created.

    :param staging_extractor_id: the extractor that is edited and tested (templated).
    :param production_extractor_id: the production extractor (templated); see above when ``None``.
    :param production_name: name to find or create the production extractor by (templated).
    :param dry_run: log what would change and change nothing.
    :param importio_conn_id: the Import.io connection (templated).
    """

    template_fields: Sequence[str] = (
        "staging_extractor_id", "production_extractor_id", "production_name", "importio_conn_id",
    )
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        staging_extractor_id: str,
        production_extractor_id: str | None = None,
        production_name: str | None = None,
        dry_run: bool = False,
        importio_conn_id: str = "importio_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.staging_extractor_id = staging_extractor_id
        self.production_extractor_id = production_extractor_id
        self.production_name = production_name
        self.dry_run = dry_run
        self.importio_conn_id = importio_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_importio.hooks.importio import ImportioHook

        hook = ImportioHook(importio_conn_id=self.importio_conn_id)
        try:
            return self._deploy(hook)
        except DeployError as exc:
            # A refusal, or a half-made production extractor: a retry would not do better.
            raise AirflowFailException(str(exc)) from exc

    def _deploy(self, hook: Any) -> dict[str, Any]:
        plan = plan_deploy(
            hook, self.staging_extractor_id, self.production_extractor_id or None,
            production_name=self.production_name or None,
        )
        for line in plan.lines():
            self.log.info("%s", line)
        if self.dry_run:
            self.log.info("Dry run: %s", "nothing changed" if plan.is_noop else "the changes above were not made")
            return dry_run_summary(plan)
        result = apply_deploy(hook, plan)
        self.log.info(
            "Production extractor %s runs configuration %s%s", result.production_extractor_id,
            result.new_config_id, "" if result.changed else " (unchanged)",
        )
        return {**result.to_dict(), "dry_run": False, "changes": list(plan.changes)}
