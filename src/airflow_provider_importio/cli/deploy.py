"""``importio-deploy``: deploy a staging extractor to production from the command line.

Usage::

    importio-deploy --conn-id importio_default --staging STAGING_ID [--production PROD_ID]
                    [--production-name NAME] [--dry-run] [--json]

Prints the plan, then applies it unless ``--dry-run``. Exit status: 0 done (or nothing to do),
1 refused or failed (message on stderr), 2 bad arguments. Also runnable as
``python -m airflow_provider_importio.cli.deploy``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from airflow_provider_importio.clients.errors import ApiError
from airflow_provider_importio.workbench.deploy import DeployError, apply_deploy, dry_run_summary, plan_deploy


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="importio-deploy",
        description="Point the production extractor at the staging extractor's latest configuration "
        "(creating production by duplicating staging the first time).",
    )
    parser.add_argument("--conn-id", default="importio_default",
                        help="Airflow connection id (default importio_default)")
    parser.add_argument("--staging", required=True, help="staging extractor id")
    parser.add_argument("--production", help="production extractor id (default: found or created by name)")
    parser.add_argument("--production-name", help='production extractor name (default "<staging name> (production)")')
    parser.add_argument("--dry-run", action="store_true", help="print what would change and change nothing")
    parser.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from airflow_provider_importio.hooks.importio import ImportioHook  # imports Airflow: only when run

    hook = ImportioHook(importio_conn_id=args.conn_id)
    try:
        plan = plan_deploy(hook, args.staging, args.production, production_name=args.production_name)
        for line in plan.lines():
            print(line)
        if args.dry_run:
            print("Dry run: nothing changed")
            summary = dry_run_summary(plan)
        else:
            result = apply_deploy(hook, plan)
            print(f"Production extractor {result.production_extractor_id} runs configuration "
                  f"{result.new_config_id}{'' if result.changed else ' (unchanged)'}")
            summary = {**result.to_dict(), "dry_run": False, "changes": list(plan.changes)}
    except (DeployError, ApiError, ValueError) as exc:
        print(f"importio-deploy: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
