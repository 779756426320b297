#!/usr/bin/env bash
# Run a throw-away, single-node Elasticsearch on 127.0.0.1 for ContentHub's tests.
#
# Why this way: there is no Docker here, but Maven Central serves Elasticsearch's
# own runnable test distribution (org.elasticsearch.distribution.integ-test-zip),
# so Maven fetches it (cached in ~/.m2) and we run it on the machine's JDK.
# That distribution has no bundled JDK and only the server, transport-netty4,
# apm, x-pack-core and x-pack-security modules (no Painless, no analysis-common,
# no rest-root, so `GET /` answers 405). See scripts/ELASTICSEARCH_NOTES.md.
#
# Usage:
#   scripts/elasticsearch.sh start [DIR]   # fetch+unpack if needed, start, wait for yellow, print URL (last line)
#   scripts/elasticsearch.sh stop  [DIR]   # SIGTERM, wait, SIGKILL fallback; removes the data path
#   scripts/elasticsearch.sh url   [DIR]   # print the URL if the node is running, else exit 1
#
# DIR defaults to .es/ in the repository root (git-ignored).
# Environment knobs:
#   ES_VERSION        default 8.19.21 (newest 8.x on Maven Central that runs on Java 17)
#   ES_JAVA_HOME      JDK to run on (default: Java 17 if present, else JAVA_HOME, else `java` on PATH)
#   ES_HEAP           heap size for -Xms/-Xmx, default 512m
#   ES_START_TIMEOUT  seconds to wait for yellow health, default 180
#   ES_RUN_AS         user to run as when invoked as root (Elasticsearch refuses root), default nobody
#   ES_JAVA_OPTS      extra JVM flags for the node, passed through; e.g. -XX:TieredStopAtLevel=1
#                     starts faster on a busy 2-core machine (do not use it for benchmarks)
set -euo pipefail

readonly ES_GROUP="org.elasticsearch.distribution.integ-test-zip"
readonly ES_ARTIFACT="elasticsearch"
ES_VERSION="${ES_VERSION:-8.19.21}"
ES_HEAP="${ES_HEAP:-512m}"
ES_START_TIMEOUT="${ES_START_TIMEOUT:-180}"
ES_RUN_AS="${ES_RUN_AS:-nobody}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { echo "elasticsearch.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Resolve DIR to an absolute path (it may not exist yet).
resolve_dir() {
    local dir="${1:-$REPO_ROOT/.es}"
    mkdir -p "$dir"
    (cd "$dir" && pwd)
}

pick_java_home() {
    if [[ -n "${ES_JAVA_HOME:-}" ]]; then
        echo "$ES_JAVA_HOME"
    elif [[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]]; then
        echo /usr/lib/jvm/java-17-openjdk-amd64
    elif [[ -n "${JAVA_HOME:-}" ]]; then
        echo "$JAVA_HOME"
    elif command -v java >/dev/null 2>&1; then
        dirname "$(dirname "$(readlink -f "$(command -v java)")")"
    else
        die "no JDK found; set ES_JAVA_HOME to a Java 17+ JDK"
    fi
}

check_java() {
    local jh="$1" major
    [[ -x "$jh/bin/java" ]] || die "ES_JAVA_HOME=$jh has no bin/java"
    major="$("$jh/bin/java" -XshowSettings:properties -version 2>&1 \
        | sed -n 's/^ *java\.specification\.version = //p')"
    [[ "${major%%.*}" =~ ^[0-9]+$ ]] || die "cannot tell the Java version of $jh"
    (( ${major%%.*} >= 17 )) || die "Elasticsearch 8.x needs Java 17+, $jh is Java $major"
}

# A free TCP port on 127.0.0.1 (the kernel picks one; a tiny race remains).
free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

es_home() { echo "$1/elasticsearch-$ES_VERSION"; }

pid_alive() {
    local pidfile="$1/run/es.pid" pid
    [[ -s "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid: it must be an Elasticsearch JVM.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'org.elasticsearch.server'
}

node_url() { echo "http://127.0.0.1:$(cat "$1/port")"; }

# 0 when cluster health is yellow or green.
healthy() {
    local body
    body="$(curl -s --max-time 3 "$1/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null)" || return 1
    [[ "$body" == *'"status":"yellow"'* || "$body" == *'"status":"green"'* ]]
}

fetch_and_unpack() {
    local dir="$1" home zip
    home="$(es_home "$dir")"
    [[ -x "$home/bin/elasticsearch" ]] && return 0
    command -v mvn >/dev/null 2>&1 || die "mvn not found (needed to fetch $ES_GROUP:$ES_ARTIFACT:$ES_VERSION)"
    command -v unzip >/dev/null 2>&1 || die "unzip not found"
    log "fetching $ES_GROUP:$ES_ARTIFACT:$ES_VERSION:zip with Maven"
    mkdir -p "$dir/dl"
    if ! mvn -q -B dependency:copy \
        -Dartifact="$ES_GROUP:$ES_ARTIFACT:$ES_VERSION:zip" \
        -DoutputDirectory="$dir/dl" >"$dir/dl/mvn.log" 2>&1; then
        tail -n 30 "$dir/dl/mvn.log" >&2
        die "Maven could not fetch $ES_GROUP:$ES_ARTIFACT:$ES_VERSION:zip"
    fi
    zip="$dir/dl/$ES_ARTIFACT-$ES_VERSION.zip"
    [[ -s "$zip" ]] || die "Maven reported success but $zip is missing"
    rm -rf "$home"
    unzip -q "$zip" -d "$dir"
    rm -rf "$dir/dl"
}

write_config() {
    local dir="$1" http_port="$2" transport_port="$3" home
    home="$(es_home "$dir")"
    cat >"$home/config/elasticsearch.yml" <<EOF
# Written by scripts/elasticsearch.sh: local throw-away test node, not for production.
cluster.name: contenthub-test
node.name: contenthub-test-node
network.host: 127.0.0.1
http.port: $http_port
transport.port: $transport_port
discovery.type: single-node
path.data: $dir/data
path.logs: $dir/logs
xpack.security.enabled: false
# A nearly full disk must not flip test indices to read-only.
cluster.routing.allocation.disk.threshold_enabled: false
# Tests may delete indices by wildcard.
action.destructive_requires_name: false
EOF
    mkdir -p "$home/config/jvm.options.d"
    cat >"$home/config/jvm.options.d/contenthub.options" <<EOF
-Xms$ES_HEAP
-Xmx$ES_HEAP
EOF
}

cmd_start() {
    local dir home java_home http_port transport_port url pid t0 elapsed
    dir="$(resolve_dir "${1:-}")"
    if pid_alive "$dir"; then
        [[ -s "$dir/port" ]] || die "a node from $dir is running (pid $(cat "$dir/run/es.pid")) but $dir/port is missing; run: $0 stop $dir"
        url="$(node_url "$dir")"
        if healthy "$url"; then
            log "already running from $dir (pid $(cat "$dir/run/es.pid"))"
            echo "$url"
            return 0
        fi
        die "a node from $dir is running (pid $(cat "$dir/run/es.pid")) but $url is not healthy; run: $0 stop $dir"
    fi
    rm -f "$dir/run/es.pid" "$dir/port"

    java_home="$(pick_java_home)"
    check_java "$java_home"
    fetch_and_unpack "$dir"
    home="$(es_home "$dir")"

    http_port="$(free_port)"
    transport_port="$(free_port)"
    while [[ "$transport_port" == "$http_port" ]]; do transport_port="$(free_port)"; done
    # Fresh data and logs each run, so a failure's log tail is about this run.
    rm -rf "$dir/data" "$dir/tmp" "$dir/logs" "$dir/run"
    mkdir -p "$dir/data" "$dir/logs" "$dir/tmp" "$dir/run"
    write_config "$dir" "$http_port" "$transport_port"

    # Elasticsearch refuses to run as root; when we are root, hand the node's
    # writable paths to an unprivileged user and drop privileges for the JVM.
    local -a run=()
    if [[ "$(id -u)" == 0 ]]; then
        id "$ES_RUN_AS" >/dev/null 2>&1 || die "user $ES_RUN_AS does not exist (set ES_RUN_AS)"
        chown -R "$ES_RUN_AS" "$dir/data" "$dir/logs" "$dir/tmp" "$dir/run" "$home/config" "$home/logs" "$home/plugins"
        run=(setpriv --reuid="$ES_RUN_AS" --regid="$(id -g "$ES_RUN_AS")" --clear-groups)
        # Every parent of DIR must be traversable by that user.
        "${run[@]}" test -x "$home/bin" || die "$ES_RUN_AS cannot reach $home (check directory permissions)"
    fi

    log "starting Elasticsearch $ES_VERSION on 127.0.0.1:$http_port (JDK $java_home, heap $ES_HEAP)"
    t0="$(date +%s.%N)"
    # With -d the launcher blocks until the node says it has started, which can take
    # a minute on a busy machine; run it in the background so our deadline covers it.
    "${run[@]}" env ES_JAVA_HOME="$java_home" ES_TMPDIR="$dir/tmp" HOME="$dir/tmp" \
        "$home/bin/elasticsearch" -d -p "$dir/run/es.pid" </dev/null >"$dir/logs/console.log" 2>&1 &
    local launcher=$! launcher_rc=""
    echo "$http_port" >"$dir/port"
    url="http://127.0.0.1:$http_port"

    local deadline=$(( $(date +%s) + ES_START_TIMEOUT ))
    until healthy "$url"; do
        if [[ -z "$launcher_rc" ]] && ! kill -0 "$launcher" 2>/dev/null; then
            if wait "$launcher"; then launcher_rc=0; else launcher_rc=$?; fi
        fi
        if [[ -n "$launcher_rc" ]] && { [[ "$launcher_rc" != 0 ]] || ! pid_alive "$dir"; }; then
            tail -n 40 "$dir/logs/console.log" >&2
            cmd_stop "$dir" 2>/dev/null
            die "Elasticsearch failed to start (launcher exit $launcher_rc; logs: $dir/logs)"
        fi
        if (( $(date +%s) >= deadline )); then
            tail -n 40 "$dir/logs/contenthub-test.log" >&2 2>/dev/null || tail -n 40 "$dir/logs/console.log" >&2
            # Do not leave a half-started JVM behind (CI would inherit it).
            kill -TERM "$launcher" 2>/dev/null || true
            local i
            for i in $(seq 1 40); do [[ -s "$dir/run/es.pid" ]] && break; sleep 0.25; done
            cmd_stop "$dir"
            die "no yellow cluster health at $url after ${ES_START_TIMEOUT}s (node stopped; logs kept in $dir/logs)"
        fi
        sleep 0.5
    done
    [[ -n "$launcher_rc" ]] || wait "$launcher" || true
    elapsed="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
    log "yellow after ${elapsed}s (pid $(cat "$dir/run/es.pid"), data $dir/data)"
    echo "$url"
}

cmd_stop() {
    local dir pid i
    dir="$(resolve_dir "${1:-}")"
    if pid_alive "$dir"; then
        pid="$(cat "$dir/run/es.pid")"
        log "stopping pid $pid"
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid ignored SIGTERM for 30s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for i in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        fi
    else
        log "no running node from $dir"
    fi
    rm -rf "$dir/data" "$dir/tmp" "$dir/run"
    rm -f "$dir/port"
}

cmd_url() {
    local dir
    dir="$(resolve_dir "${1:-}")"
    if pid_alive "$dir" && [[ -s "$dir/port" ]]; then
        node_url "$dir"
    else
        log "no running node from $dir"
        return 1
    fi
}

main() {
    local sub="${1:-}"
    shift || true
    case "$sub" in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        url) cmd_url "$@" ;;
        *) echo "usage: $0 {start|stop|url} [DIR]" >&2; exit 2 ;;
    esac
}

main "$@"
