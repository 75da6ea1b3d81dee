"""Turn every flow of a project file into an Airflow DAG.

A DAG file holds two lines::

    from airflow_provider_importio.flows.dag_factory import flow_dags
    flow_dags(__file__, "projects/acme.yaml", globals())

A delivery is one DAG run that starts at ``T``, its logical date (the cron tick, or the moment
of a manual trigger): ``schedule`` is the flow's ``cron`` (UTC), ``dagrun_timeout`` is
``closeHours``, and a deadline alert calls ``on_push_overdue`` when the run has not finished
(pushed) by ``T + pushHours``. An inactive flow's DAG is created paused; it can still be
triggered by hand, with params that override the input URI, the chunk count and the sources.

A project file with an error raises :class:`~airflow_provider_importio.workbench.config_errors.ConfigError`
from the DAG file that loads it: Airflow shows one import error naming the project file, the path
in it and the rule, and DAG files of other projects load as usual. Keep one DAG file per project.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param

from airflow_provider_importio.workbench.config_model import Collection, Flow, Project
from airflow_provider_importio.workbench.windows import delivery_windows, format_duration

#: Setting this to ``off`` builds flow DAGs without deadline alerts. Only for ``dag.test()`` runs
#: (tests, the demo), which crash on DAGs with deadlines in Airflow 3.3.2; never for a scheduler.
DEADLINES_ENV = "IMPORTIO_FLOW_DEADLINES"
DEFAULT_CALLBACK = "airflow_provider_importio.flows.callbacks.log_push_overdue"
#: Where chunk files and snapshot results go when the factory is not told (``s3://...`` or a path).
ARTIFACTS_ENV = "IMPORTIO_ARTIFACTS_URI"
#: Deliveries before this date are never scheduled (catchup is off anyway).
START_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)
DEFAULT_ARGS: dict[str, Any] = {"owner": "importio", "retries": 2, "retry_delay": timedelta(minutes=1),
                                "retry_exponential_backoff": True}


def dag_id_for(project: Project, flow: Flow) -> str:
    return f"{project.slug}__{flow.slug}"


def flow_dags(dag_file: str | Path, project_file: str | Path, namespace: MutableMapping[str, Any] | None = None,
              **options: Any) -> dict[str, DAG]:
    """Load ``project_file`` (relative to ``dag_file``'s folder) and build its flow DAGs into ``namespace``.

    A project file that passed its checks once is read from a small cache while its text stays the
    same (:mod:`~airflow_provider_importio.flows.project_cache`; ``IMPORTIO_PROJECT_CACHE=off``).
    """
    from airflow_provider_importio.flows.project_cache import load_project

    path = Path(project_file)
    if not path.is_absolute():
        path = Path(dag_file).resolve().parent / path
    dags = build_flow_dags(load_project(path), **options)
    if namespace is not None:
        namespace.update(dags)
    return dags


def build_flow_dags(
    project: Project,
    *,
    on_push_overdue: Callable[..., Any] | str | None = None,
    default_args: Mapping[str, Any] | None = None,
    max_active_runs: int | None = None,
    deadlines: bool | None = None,
    artifacts_uri: str | None = None,
    artifacts_conn_id: str | None = None,
    importio_conn_id: str = "importio_default",
    store_conn_id: str = "importio_store_default",
    domain_concurrency: int = 4,
    poll_interval: float | None = None,
    lease_poll_interval: float | None = None,
    review_timeout_choice: str = "Fail",
) -> dict[str, DAG]:
    """One DAG per flow of ``project``, keyed by DAG id (``<project>__<flow>``).

    :param on_push_overdue: an async callable (or its dotted path) run by the triggerer when a
        delivery misses ``pushHours``; called with ``project``, ``flow``, ``dag_id``,
        ``push_hours`` and ``context``. Default: a warning in the triggerer's log.
    :param default_args: merged over :data:`DEFAULT_ARGS`.
    :param max_active_runs: deliveries of one flow open at once; default: as many as the cron
        can start within ``closeHours`` (so deliveries overlap as Workbench's do, never pile up).
    :param deadlines: build deadline alerts; default on unless ``IMPORTIO_FLOW_DEADLINES=off``.
    :param artifacts_uri: where chunk files and snapshot results go (``s3://bucket/prefix`` or a
        local directory); default ``$IMPORTIO_ARTIFACTS_URI``, else ``$AIRFLOW_HOME/importio-artifacts``
        (fine for one machine, not for distributed workers).
    :param artifacts_conn_id: AWS connection for the artifacts; default the flow's input connection.
    :param domain_concurrency: collection runs of one domain at once (the collection's ``domain``).
    :param poll_interval: seconds between polls of a running crawl; default ``[importio]
        crawl_poll_interval`` (30, ``AIRFLOW__IMPORTIO__CRAWL_POLL_INTERVAL``).
    :param lease_poll_interval: seconds between asks for a busy extractor's lease; default
        ``[importio] lease_poll_interval`` (15).
    :param review_timeout_choice: what a QA review that nobody answers before the push deadline
        decides (``Fail``, the default, never pushes unreviewed data).
    """
    if deadlines is None:
        deadlines = os.environ.get(DEADLINES_ENV, "on").strip().lower() not in ("off", "0", "false", "no")
    settings = {
        "artifacts_uri": artifacts_uri or os.environ.get(ARTIFACTS_ENV) or default_artifacts_uri(),
        "artifacts_conn_id": artifacts_conn_id,
        "importio_conn_id": importio_conn_id,
        "store_conn_id": store_conn_id,
        "domain_concurrency": domain_concurrency,
        "poll_interval": _seconds(poll_interval, "crawl_poll_interval", 30.0),
        "lease_poll_interval": _seconds(lease_poll_interval, "lease_poll_interval", 15.0),
        "review_timeout_choice": review_timeout_choice,
    }
    return {
        dag_id_for(project, flow): _flow_dag(project, flow, on_push_overdue=on_push_overdue,
                                             default_args={**DEFAULT_ARGS, **(default_args or {})},
                                             max_active_runs=max_active_runs, deadlines=deadlines,
                                             settings=settings)
        for flow in project.flows
    }


def _seconds(given: float | None, option: str, default: float) -> float:
    """``given``, else the ``[importio]`` option (``AIRFLOW__IMPORTIO__<OPTION>``), else ``default``."""
    if given is not None:
        return float(given)
    from airflow.configuration import conf

    return conf.getfloat("importio", option, fallback=default)


def default_artifacts_uri() -> str:
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return os.path.join(home, "importio-artifacts")


def _flow_dag(project: Project, flow: Flow, *, on_push_overdue: Callable[..., Any] | str | None,
              default_args: dict[str, Any], max_active_runs: int | None, deadlines: bool,
              settings: dict[str, Any]) -> DAG:
    # The Task SDK's timetable, not ``airflow.timetables.trigger``'s: both serialize to the same
    # CronTriggerTimetable, but the core class imports Airflow's serialization code while the DAG is
    # being built (its ``__eq__``, called when a mapped task joins the DAG): ~0.1 s in a process
    # that has not imported it yet.
    from airflow.sdk import CronTriggerTimetable

    collection = project.flow_collection(flow)
    dag_id = dag_id_for(project, flow)
    deadline = _deadline(project, flow, dag_id, on_push_overdue) if deadlines else None
    with DAG(
        dag_id=dag_id,
        description=f"{project.name}: {flow.name} (Import.io flow {flow.slug})",
        schedule=CronTriggerTimetable(flow.cron, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        dagrun_timeout=timedelta(hours=flow.close_hours),
        max_active_runs=max_active_runs or overlapping_deliveries(flow.cron, flow.close_hours),
        is_paused_upon_creation=not flow.active,
        default_args=default_args,
        params=_params(flow, collection),
        doc_md=flow_doc(project, flow),
        tags=["importio", f"project:{project.slug}", f"collection:{collection.slug}"],
        deadline=deadline,
    ) as dag:
        _delivery_tasks(project, flow, collection, settings)
    return dag


def _delivery_tasks(project: Project, flow: Flow, collection: Collection, settings: dict[str, Any]) -> None:
    """pickup (per source when the input URI names one) → collection runs (chunks × sources) → QA →
    reviews of failed snapshots by a person → push to the linked destinations."""
    from dataclasses import asdict

    from airflow_provider_importio.operators.collection_run import ImportioCollectionRunOperator
    from airflow_provider_importio.operators.input_pickup import ImportioInputPickupOperator
    from airflow_provider_importio.operators.plan import (
        ImportioPlanDeliveryOperator,
        ImportioPlanReviewsOperator,
        ImportioPlanRunsOperator,
    )
    from airflow_provider_importio.operators.push import ImportioPushOperator
    from airflow_provider_importio.operators.qa import ImportioQAOperator
    from airflow_provider_importio.operators.qa_review import ImportioQAReviewOperator
    from airflow_provider_importio.workbench.config_codec import checks_to_dicts, schema_to_dict

    definition = flow.definition
    template = definition.input_uri_template
    per_source = bool(template) and any(token in template for token in (":source", "{source}"))
    sources = {s.slug: {"slug": s.slug, "extractor_id": s.extractor_id} for s in collection.sources}
    artifacts = settings["artifacts_uri"].rstrip("/")
    artifacts_conn = settings["artifacts_conn_id"] or definition.input_connection
    base_variables = {"project": project.slug, "collection": collection.slug, "flow": flow.slug,
                      "bucketname": definition.input_bucket}

    groups = ImportioPlanDeliveryOperator(
        task_id="plan_delivery", sources=sources, per_source=per_source, base_variables=base_variables,
        staging_prefix=f"{artifacts}/staging/{project.slug}/{flow.slug}",
    ).output
    pickup = ImportioInputPickupOperator.partial(
        task_id="pickup_inputs",
        input_uri="{{ params.input_uri }}" if template else None,
        chunks="{{ params.chunks }}" if template else 1,
        data_hours=flow.data_hours,
        chunk_collect_hours=definition.chunk_collect_hours,
        aws_conn_id=definition.input_connection,
    ).expand_kwargs(groups)
    runs = ImportioPlanRunsOperator(
        task_id="plan_runs", groups=groups, pickups=pickup.output, sources=sources, per_source=per_source,
    ).output
    collect = ImportioCollectionRunOperator.partial(
        task_id="collect",
        project=project.slug,
        collection=collection.slug,
        flow=flow.slug,
        results_uri=f"{artifacts}/snapshots/{project.slug}/{flow.slug}/{{{{ run_id }}}}",
        domain=collection.domain,
        locale=collection.locale,
        domain_concurrency=settings["domain_concurrency"],
        importio_conn_id=settings["importio_conn_id"],
        aws_conn_id=artifacts_conn,
        store_conn_id=settings["store_conn_id"],
        poll_interval=settings["poll_interval"],
        lease_poll_interval=settings["lease_poll_interval"],
    ).expand_kwargs(runs)
    schema = project.collection_schema(collection)
    qa_args = {
        "schema": schema_to_dict(schema),
        "checks": checks_to_dicts(collection.checks),
        "collection": collection.slug,
        "data_store": collection.data_store,
        "aws_conn_id": artifacts_conn,
    }
    qa = ImportioQAOperator.partial(task_id="qa", store_conn_id=settings["store_conn_id"], **qa_args).expand(
        snapshot=collect.output)
    to_review = ImportioPlanReviewsOperator(task_id="plan_reviews", results=qa.output).output
    review = ImportioQAReviewOperator.partial(
        task_id="qa_review", push_hours=flow.push_hours, qa=qa_args, timeout_choice=settings["review_timeout_choice"],
        store_conn_id=settings["store_conn_id"],
    ).expand(snapshot=to_review)
    push = ImportioPushOperator(
        task_id="push",
        snapshots=qa.output,
        destinations=[asdict(d) for d in project.collection_destinations(collection)],
        fields=schema.field_names,
        row_schema=schema.to_json_schema(),
        project=project.slug,
        blank_row_for_no_data=collection.blank_row_for_no_data,
        aws_conn_id=artifacts_conn,
        store_conn_id=settings["store_conn_id"],
        trigger_rule="none_failed",  # runs when no snapshot needed a review (qa_review skipped)
    )
    review >> push


def _deadline(project: Project, flow: Flow, dag_id: str, callback: Callable[..., Any] | str | None) -> Any:
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        # queued_at, not the logical date: a manual run has none, and Airflow then fires at once
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=flow.push_hours),
        callback=AsyncCallback(callback or DEFAULT_CALLBACK, kwargs={
            "project": project.slug, "flow": flow.slug, "dag_id": dag_id, "push_hours": flow.push_hours,
        }),
        name="push_overdue",
    )


def _params(flow: Flow, collection: Collection) -> dict[str, Param]:
    definition = flow.definition
    slugs = [source.slug for source in collection.sources]
    params = {
        "sources": Param(
            [source.slug for source in collection.sources if source.active], type="array",
            items={"type": "string", "enum": slugs}, uniqueItems=True,
            title="Sources", description="Sources to collect in this delivery (default: the ACTIVE ones).",
        ),
    }
    if definition.input_uri_template:
        params["input_uri"] = Param(
            definition.input_uri_template, type="string", minLength=1, title="Input URI",
            description="The input file (template variables allowed), instead of the flow's inputUriTemplate.",
        )
        params["chunks"] = Param(
            definition.chunk_count, type="integer", minimum=1, title="Chunks",
            description="How many chunks to split the inputs into for this delivery.",
        )
    return params


def overlapping_deliveries(cron: str, close_hours: float, sample_ticks: int = 500) -> int:
    """The most deliveries of this cron that are open at once, when each stays open ``close_hours``."""
    times = cron_ticks(cron, sample_ticks)
    close = timedelta(hours=close_hours)
    most, first = 1, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= close:
            first += 1
        most = max(most, last - first + 1)
    return most


def cron_ticks(cron: str, count: int, start: datetime = START_DATE) -> list[datetime]:
    """The first ``count`` ticks of ``cron`` after ``start`` (UTC), as croniter's ``get_next`` gives them.

    A cron for every day of the month and every month (``m h * * dow``, the usual flow schedule)
    repeats every week, so its ticks are its weekdays × hours × minutes: listing them so is ~50×
    faster than croniter's ``get_next`` per tick (the DAG file is parsed every 30 s). Every other
    cron (days of the month, months, ``L``, ``#``, seconds) goes through croniter.
    """
    from croniter import croniter

    ticks = croniter(cron, start)
    fields = ticks.expanded
    if (len(fields) != 5 or fields[2] != ["*"] or fields[3] != ["*"] or ticks.nth_weekday_of_month
            or start.utcoffset() != timedelta(0)
            or not all(isinstance(value, int) for field in fields for value in field if value != "*")):
        return [ticks.get_next(datetime) for _ in range(count)]
    minutes, hours, weekdays = (range(n) if field == ["*"] else sorted(field)
                                for field, n in ((fields[0], 60), (fields[1], 24), (fields[4], 7)))
    times: list[datetime] = []
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    day = 0
    while len(times) < count:
        date = midnight + timedelta(days=day)
        if (date.weekday() + 1) % 7 in weekdays:  # cron counts weekdays from Sunday = 0
            times += [moment for hour in hours for minute in minutes
                      if (moment := date + timedelta(hours=hour, minutes=minute)) > start]
        day += 1
    return times[:count]


def flow_doc(project: Project, flow: Flow) -> str:
    """Markdown for the DAG page: the project README, the flow's settings and its windows."""
    collection = project.flow_collection(flow)
    definition = flow.definition
    windows = delivery_windows(flow, START_DATE)
    hours = lambda h: format_duration(timedelta(hours=h))  # noqa: E731
    sources = "\n".join(
        f"| `{s.slug}` | {s.name} | `{s.extractor_id}` | {s.state} |" for s in collection.sources
    ) or "| — | | | |"
    destinations = ", ".join(f"`{d.slug}` ({d.type}{'' if d.active else ', inactive'})"
                             for d in project.collection_destinations(collection)) or "none"
    lines = [
        f"# {flow.name}",
        "",
        f"Import.io flow `{flow.slug}` of project **{project.name}** (`{project.slug}`), "
        f"collection **{collection.name}** (`{collection.slug}`). "
        f"{'Active: runs on its schedule.' if flow.active else 'Inactive: created paused; trigger it by hand.'}",
        "",
        "| setting | value |",
        "|---|---|",
        f"| cron (UTC) | `{flow.cron}` |",
        f"| dataHours | {flow.data_hours} (collection ends {hours(flow.data_hours)} after the start) |",
        f"| pushHours | {flow.push_hours} (deadline alert if not pushed by then) |",
        f"| closeHours | {flow.close_hours} (the run times out then) |",
        f"| inputUriTemplate | `{definition.input_uri_template or 'none: extractor defaults'}` |",
        f"| chunks | {definition.chunk_count} |",
        f"| chunk window | {hours(flow.chunk_hours)} |",
        f"| parameters | locale `{collection.locale}`, domain `{collection.domain}` |",
        f"| destinations | {destinations} |",
        "",
        f"**Windows of a delivery starting at T:** {windows.describe()}",
        "",
        "| source | name | extractor | state |",
        "|---|---|---|---|",
        sources,
    ]
    if project.readme.strip():
        lines += ["", "## Project README", "", project.readme.strip()]
    return "\n".join(lines)
