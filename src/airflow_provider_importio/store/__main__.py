"""``python -m airflow_provider_importio.store {migrate,current,heads,sql} URL``: manage the
store's schema by hand (a DBA may prefer ``sql`` and apply the script themselves)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_importio.store", description=__doc__)
    parser.add_argument("command", choices=["migrate", "current", "heads", "sql"])
    parser.add_argument("url", nargs="?", help="SQLAlchemy URL of the store (not needed for 'heads')")
    args = parser.parse_args(argv)

    from airflow_provider_importio.store import migrate as m

    if args.command == "heads":
        print(m.head_revision())
        return 0
    if not args.url:
        parser.error(f"{args.command} needs the store's URL")
    if args.command == "sql":
        sys.stdout.write(m.upgrade_sql(args.url))
        return 0
    from airflow_provider_importio.store.store import Store

    with Store.from_url(args.url) as store:
        if args.command == "migrate":
            print(f"{store.url}: at revision {store.migrate()} (head {m.head_revision()})")
        else:
            print(store.schema_revision() or "none (not migrated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
