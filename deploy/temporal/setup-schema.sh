#!/bin/sh
# One-shot job (service temporal-schema, image temporalio/admin-tools): creates Temporal's two
# PostgreSQL databases and brings their schemas to the version the pinned image ships. Safe to
# re-run: existing databases are kept and update-schema only applies missing versions, so the
# same job upgrades the schema after the image tags are raised.
# Environment: SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD (read by temporal-sql-tool itself, so the
# password never appears in a process listing), TEMPORAL_DB, TEMPORAL_VISIBILITY_DB.
set -eu

: "${SQL_HOST:?}" "${SQL_PORT:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}"
: "${TEMPORAL_DB:=temporal}" "${TEMPORAL_VISIBILITY_DB:=temporal_visibility}"
schema_root=/etc/temporal/schema/postgresql/v12

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$SQL_HOST" -p "$SQL_PORT" -u "$SQL_USER" "$@"
}

prepare() {
  database=$1
  schema_dir=$2
  # setup-schema fails only when the database is missing (or unreachable: then create fails loudly too)
  if ! sql_tool --db "$database" setup-schema -v 0.0 >/dev/null 2>&1; then
    echo "creating database $database"
    sql_tool --db "$database" create
    sql_tool --db "$database" setup-schema -v 0.0
  fi
  echo "updating schema of $database"
  sql_tool --db "$database" update-schema -d "$schema_root/$schema_dir/versioned"
}

prepare "$TEMPORAL_DB" temporal
prepare "$TEMPORAL_VISIBILITY_DB" visibility
echo "temporal schemas are up to date"
