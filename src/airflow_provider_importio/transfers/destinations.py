"""Destinations as the push operator takes them, their paths per snapshot, and their Airflow assets.

The DAG factory passes each linked destination as a plain dict (``dataclasses.asdict(destination)``);
:func:`destination_from_dict` turns it back into a checked
:class:`~airflow_provider_importio.workbench.config_model.Destination`. Plain Python, no Airflow,
except :func:`destination_alias`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_importio.workbench import templates
from airflow_provider_importio.workbench.config_model import (
    DEFAULT_FILENAME_TEMPLATE,
    DESTINATION_FORMATS,
    DESTINATION_TYPES,
    Destination,
)

if TYPE_CHECKING:
    from airflow.sdk import AssetAlias

    from airflow_provider_importio.store.records import Delivery, Snapshot

#: Asset alias names: ``importio-destination:<project>/<destination slug>``.
ALIAS_PREFIX = "importio-destination"
#: Destination types this package writes files to (STITCH has its own operator).
FILE_TYPES = ("S3", "SFTP")
#: camelCase keys (the project file's) accepted beside the attribute names.
_CAMEL = {"pathTemplate": "path_template", "filenameTemplate": "filename_template", "keyFields": "key_fields"}
_SAMPLE = templates.destination_variables(
    moment=datetime(2027, 1, 1, 6, 30, tzinfo=timezone.utc), project="project", collection="collection",
    flow="flow", source="source", snapshot="00000000-0000-4000-8000-000000000000",
    delivery="00000000-0000-4000-8000-000000000001", chunk=0, format="JSON",
)


class DestinationError(ValueError):
    """A destination cannot be written to as described (names the destination and the problem)."""


def destination_from_dict(data: Mapping[str, Any] | Destination) -> Destination:
    """A checked :class:`Destination` from ``asdict(destination)`` (camelCase keys accepted too)."""
    if isinstance(data, Destination):
        destination = data
    else:
        names = {f.name for f in dataclasses.fields(Destination)}
        values = {_CAMEL.get(key, key): value for key, value in data.items()}
        unknown = sorted(set(values) - names)
        if unknown:
            raise DestinationError(f"destination {data.get('slug')!r}: unknown key(s) {unknown}")
        missing = sorted({"slug", "name", "type", "connection"} - set(values))
        if missing:
            raise DestinationError(f"destination {data.get('slug')!r}: missing {missing}")
        values["type"] = str(values["type"]).upper()
        values["format"] = str(values.get("format") or "JSON").upper()
        values["active"] = bool(values.get("active", False))
        values["key_fields"] = tuple(values.get("key_fields") or ())
        destination = Destination(**values)
    check_destination(destination)
    return destination


def check_destination(destination: Destination) -> None:
    """Raise :class:`DestinationError` unless every path the destination can render stays under its base.

    Checks the type and format, the bucket or directory, the templates' syntax and variables, that
    ``pathTemplate`` is relative and ``filenameTemplate`` has no ``/``, and renders a sample path.
    Values substituted at push time cannot add ``/`` or ``..`` (:func:`templates.sanitize_value`).
    """
    slug = destination.slug
    if destination.type not in DESTINATION_TYPES:
        raise DestinationError(f"destination {slug!r}: unknown type {destination.type!r}")
    if destination.type not in FILE_TYPES:
        return
    if destination.format not in DESTINATION_FORMATS:
        raise DestinationError(f"destination {slug!r}: unknown format {destination.format!r}; "
                               f"expected one of {', '.join(DESTINATION_FORMATS)}")
    if not destination.connection:
        raise DestinationError(f"destination {slug!r}: no connection")
    if destination.type == "S3" and not destination.bucket:
        raise DestinationError(f"destination {slug!r}: an S3 destination needs a bucket")
    if destination.type == "SFTP" and not destination.directory:
        raise DestinationError(f"destination {slug!r}: an SFTP destination needs a directory")
    for label, text in (("pathTemplate", destination.path_template), ("filenameTemplate", destination.filename_template)):
        if text is None:
            continue
        problems = templates.check_template(text, "destination")
        if problems:
            raise DestinationError(f"destination {slug!r}: {label} {text!r}: {problems[0]}")
    if (destination.path_template or "").startswith("/"):
        raise DestinationError(f"destination {slug!r}: pathTemplate {destination.path_template!r} is absolute; "
                               "it must be relative to the bucket or directory")
    if "/" in (destination.filename_template or ""):
        raise DestinationError(f"destination {slug!r}: filenameTemplate {destination.filename_template!r} "
                               "must not contain '/' (put directories in pathTemplate)")
    try:
        destination.object_path(_SAMPLE)
    except ValueError as exc:
        filename = destination.filename_template or DEFAULT_FILENAME_TEMPLATE
        raise DestinationError(f"destination {slug!r}: {exc} (pathTemplate {destination.path_template!r} and "
                               f"filenameTemplate {filename!r} rendered with sample values)") from None


def moment_of(delivery: Delivery) -> datetime:
    """The moment a delivery's time variables come from: its start ``T``, else when it was created."""
    return delivery.start or delivery.created_at


def snapshot_variables(snapshot: Snapshot, delivery: Delivery, destination: Destination) -> dict[str, str]:
    """The destination template variables of one snapshot (the same on every re-run of the push)."""
    return templates.destination_variables(
        moment=moment_of(delivery), project=snapshot.project, collection=snapshot.collection, flow=snapshot.flow,
        source=snapshot.source, snapshot=snapshot.id, delivery=snapshot.delivery_id, chunk=snapshot.chunk,
        format=destination.format,
    )


def snapshot_path(destination: Destination, snapshot: Snapshot, delivery: Delivery) -> str:
    """The S3 key or SFTP path of a snapshot's file; :class:`DestinationError` if it would leave the base."""
    check_destination(destination)
    try:
        return destination.object_path(snapshot_variables(snapshot, delivery, destination))
    except ValueError as exc:
        raise DestinationError(f"destination {destination.slug!r}: {exc}") from None


def static_prefix(path_template: str | None) -> str:
    """The leading segments of a path template that hold no variable (``exports/{project}`` → ``exports``)."""
    segments: list[str] = []
    for segment in (path_template or "").split("/"):
        if not segment or segment == ".":
            continue
        if templates.template_variables(segment):
            break
        try:
            segments.append(templates.render(segment, {}))
        except templates.TemplateError:
            break
    return "/".join(segments)


def alias_name(project: str, slug: str) -> str:
    """The asset alias of a project's destination: ``importio-destination:<project>/<slug>``."""
    return f"{ALIAS_PREFIX}:{project}/{slug}"


def destination_alias(project: str, slug: str) -> AssetAlias:
    """The :class:`~airflow.sdk.AssetAlias` a push to the destination emits its asset events through."""
    from airflow.sdk import AssetAlias

    return AssetAlias(name=alias_name(project, slug))
