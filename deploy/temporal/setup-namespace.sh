#!/bin/sh
# One-shot job (service temporal-setup, image temporalio/admin-tools): registers the namespace the
# workers use and the custom search attributes the pipelines write. Safe to re-run.
# Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, NAMESPACE_RETENTION (e.g. 720h),
# SEARCH_ATTRIBUTES: space-separated Name=Type pairs, e.g. "PipelineStatus=Keyword".
set -eu

: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}" "${NAMESPACE_RETENTION:?}" "${SEARCH_ATTRIBUTES:?}"
max_attempts=30

# Retries a command: the frontend answers health checks a little before every service is ready,
# and a new namespace takes a few seconds to reach every node's cache.
retry() {
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge "$max_attempts" ]; then
      echo "giving up after $max_attempts attempts: $*" >&2
      return 1
    fi
    attempt=$((attempt + 1))
    sleep 2
  done
}

serving() {
  # -w: NOT_SERVING must not match
  temporal operator cluster health --address "$TEMPORAL_ADDRESS" 2>/dev/null | grep -qw SERVING
}

retry serving

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $TEMPORAL_NAMESPACE exists"
else
  echo "creating namespace $TEMPORAL_NAMESPACE (retention $NAMESPACE_RETENTION)"
  retry temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" --retention "$NAMESPACE_RETENTION"
fi

has_attribute() {
  temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" 2>/dev/null | grep -qw "$1"
}

for pair in $SEARCH_ATTRIBUTES; do
  name=${pair%%=*}
  type=${pair#*=}
  if has_attribute "$name"; then
    echo "search attribute $name exists"
  else
    echo "creating search attribute $name ($type)"
    retry temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type "$type"
  fi
done
echo "namespace $TEMPORAL_NAMESPACE is ready"
