"""The small planning steps of a flow DAG (``plan_delivery``, ``plan_runs``, ``plan_reviews``).

Each turns the delivery's params or an upstream task's XCom into the list that the next mapped
task expands over. They are plain operators rather than ``@task`` functions so that parsing a flow
DAG does not import the standard provider's ``PythonOperator`` (and its decorator machinery); their
task ids, inputs and XCom outputs are what the ``@task`` versions had.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator


def chosen_sources(params: Mapping[str, Any], sources: Mapping[str, Any]) -> list[str]:
    """The slugs in ``params["sources"]`` that the collection has, in the order given."""
    return [slug for slug in params.get("sources") or [] if slug in sources]


class ImportioPlanDeliveryOperator(BaseOperator):
    """One input pickup per source (the input URI names the source) or one for all sources.

    Returns a list of ``{"variables": {...}, "staging_uri": ...}``, the kwargs of each mapped
    ``pickup_inputs`` task.

    :param sources: the collection's sources by slug (``{"slug", "extractor_id"}``).
    :param per_source: whether the flow's input URI names the source (``:source``/``{source}``).
    :param base_variables: template variables of the input URI (project, collection, flow, bucketname).
    :param staging_prefix: where the chunks go: ``<staging_prefix>/<run_id>/<source or "all">``.
    """

    ui_color = "#e8f5e9"

    def __init__(self, *, sources: Mapping[str, Mapping[str, Any]], per_source: bool,
                 base_variables: Mapping[str, Any], staging_prefix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sources = dict(sources)
        self.per_source = per_source
        self.base_variables = dict(base_variables)
        self.staging_prefix = staging_prefix

    def execute(self, context: Any) -> list[dict[str, Any]]:
        chosen = chosen_sources(context["params"], self.sources)
        if not chosen:
            raise ValueError("no sources selected for this delivery (params.sources is empty)")
        groups = chosen if self.per_source else ["all"]
        run_id = context["run_id"]
        return [{"variables": {**self.base_variables, "source": group if self.per_source else ""},
                 "staging_uri": f"{self.staging_prefix}/{run_id}/{group}"}
                for group in groups]


class ImportioPlanRunsOperator(BaseOperator):
    """A collection run per (chunk, source): each source gets the chunks of its own input file.

    Returns a list of ``{"chunk": ..., "source": {"slug", "extractor_id"}}``, the kwargs of each
    mapped ``collect`` task.

    :param groups: ``plan_delivery``'s output (templated: an ``XComArg``).
    :param pickups: the chunks of each pickup, in the order of ``groups`` (templated: the mapped
        ``pickup_inputs`` task's output).
    :param sources: the collection's sources by slug.
    :param per_source: whether each group is one source (else every chosen source gets every chunk).
    """

    template_fields: Sequence[str] = ("groups", "pickups")
    ui_color = "#e8f5e9"

    def __init__(self, *, groups: Any, pickups: Any, sources: Mapping[str, Mapping[str, Any]], per_source: bool,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.groups = groups
        self.pickups = pickups
        self.sources = dict(sources)
        self.per_source = per_source

    def execute(self, context: Any) -> list[dict[str, Any]]:
        chosen = chosen_sources(context["params"], self.sources)
        runs = []
        from airflow_provider_importio.operators.mapped_output import whole

        for group, chunks in zip(self.groups, whole(self.pickups)):
            for slug in [group["variables"]["source"]] if self.per_source else chosen:
                runs += [{"chunk": chunk, "source": self.sources[slug]} for chunk in chunks]
        return runs


class ImportioPlanReviewsOperator(BaseOperator):
    """The QA results a person must look at (``PENDING_QA`` or ``ESCALATED``), for the mapped ``qa_review``.

    :param results: the mapped ``qa`` task's output (templated: an ``XComArg``).
    """

    template_fields: Sequence[str] = ("results",)
    ui_color = "#e8f5e9"

    def __init__(self, *, results: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.results = results

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from airflow_provider_importio.operators.qa import REVIEW_STATES

        from airflow_provider_importio.operators.mapped_output import whole

        return [r for r in whole(self.results) if r.get("state") in REVIEW_STATES]
