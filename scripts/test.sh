#!/usr/bin/env bash
# Quickstart 2: set up and run the whole test suite, including the headless-browser tests (Debian's
# chromium) and the Elasticsearch contract tests against a real local node started here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk"; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium, chromium-driver and a CJK font for the browser tests"
    # Acquire::Retries: a mirror's transient failure on a fresh machine must not fail the whole run
    apt-get -o Acquire::Retries=5 update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=5 install -y -qq chromium chromium-driver fonts-wqy-zenhei >/dev/null
  else
    echo "chromium/chromedriver missing and not root: browser tests will be skipped" >&2
  fi
fi

es_started=""
cluster_dir=""
cleanup() {
  if [ -n "$es_started" ]; then bash scripts/elasticsearch.sh stop --wipe || true; fi
  # The cluster fault test starts and wipes its cluster itself; this only catches a run cut short.
  if [ -n "$cluster_dir" ]; then bash scripts/elasticsearch.sh stop --wipe "$cluster_dir" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if [ -z "${CONTENTHUB_TEST_ES_URL:-}" ] && [ "${CONTENTHUB_SKIP_ES:-}" != "1" ] && [ -x scripts/elasticsearch.sh ]; then
  # a first start on a fresh, loaded machine (cold JVM, cold disk) can take minutes: the deadline only
  # guards against a hang, as tests/test_cluster_faults.py's does
  if url=$(ES_START_TIMEOUT="${ES_START_TIMEOUT:-600}" bash scripts/elasticsearch.sh start | tail -n 1); then
    export CONTENTHUB_TEST_ES_URL="$url"
    es_started=1
    echo "Elasticsearch test node at $url"
  else
    echo "could not start the local Elasticsearch node; its tests will be skipped" >&2
  fi
fi

# tests/test_cluster_faults.py (marks es, cluster): a 3-node cluster in .es-cluster-test/, started by the test
# only for its own run. CONTENTHUB_SKIP_CLUSTER=1 (or CONTENTHUB_SKIP_ES=1) leaves it out.
if [ -z "${CONTENTHUB_TEST_ES_CLUSTER:-}" ] && [ "${CONTENTHUB_SKIP_CLUSTER:-}" != "1" ] && [ "${CONTENTHUB_SKIP_ES:-}" != "1" ] \
   && [ -n "${CONTENTHUB_TEST_ES_URL:-}" ]; then
  cluster_dir="$PWD/.es-cluster-test"
  export CONTENTHUB_TEST_ES_CLUSTER="$cluster_dir"
fi

.venv/bin/python -m pytest "$@"
