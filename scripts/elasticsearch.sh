#!/usr/bin/env bash
# Run a local Elasticsearch for ContentHub's tests: one node (the default) or an N-node cluster on
# 127.0.0.1, on data that survives a stop, a crash and a restart.
#
# Why this way: there is no Docker here, but Maven Central serves Elasticsearch's
# own runnable test distribution (org.elasticsearch.distribution.integ-test-zip),
# so Maven fetches it (cached in ~/.m2) and we run it on the machine's JDK.
# That distribution has no bundled JDK and only the server, transport-netty4,
# apm, x-pack-core and x-pack-security modules (no Painless, no analysis-common,
# no rest-root, so `GET /` answers 405). See scripts/ELASTICSEARCH_NOTES.md.
#
# Usage:
#   scripts/elasticsearch.sh start [--nodes N] [DIR]  # start (or restart on its data) and wait for health;
#                                                     # the last line is the store URL with every node's host
#   scripts/elasticsearch.sh stop [--wipe] [DIR]      # SIGTERM every node (SIGKILL fallback); data and ports
#                                                     # are kept unless --wipe
#   scripts/elasticsearch.sh restart-node DIR NAME    # stop (if running) and start one node on its data and ports
#   scripts/elasticsearch.sh kill-node DIR NAME       # SIGKILL one node (fault tests)
#   scripts/elasticsearch.sh url [DIR]                # print the store URL if a node is running, else exit 1
#   scripts/elasticsearch.sh nodes [DIR]              # the node names, one a line
#
# DIR defaults to .es/ in the repository root (git-ignored). `start DIR` is one node
# (`discovery.type: single-node`, URL http://127.0.0.1:PORT). `start --nodes 3 DIR` is three
# master-eligible nodes es-1..es-3 (seed hosts, initial master nodes on the first start only;
# URL elasticsearch://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3). A DIR remembers its nodes, their
# ports (DIR/node-NAME/http_port, transport_port) and data, so `start DIR` after a stop or a crash
# brings the same cluster back with every index; `stop --wipe DIR` forgets all of it.
#
# Environment knobs:
#   ES_VERSION        default 8.19.21 (newest 8.x on Maven Central that runs on Java 17)
#   ES_JAVA_HOME      JDK to run on (default: Java 17 if present, else JAVA_HOME, else `java` on PATH)
#   ES_HEAP           heap size per node for -Xms/-Xmx, default 512m for one node, 256m per node of a cluster
#   ES_START_TIMEOUT  seconds to wait for health, default 180 (one node) or 300 (a cluster)
#   ES_RUN_AS         user to run as when invoked as root (Elasticsearch refuses root), default nobody
#   ES_JAVA_OPTS      extra JVM flags for the node, passed through; e.g. -XX:TieredStopAtLevel=1
#                     starts faster on a busy 2-core machine (do not use it for benchmarks)
set -euo pipefail

readonly ES_GROUP="org.elasticsearch.distribution.integ-test-zip"
readonly ES_ARTIFACT="elasticsearch"
ES_VERSION="${ES_VERSION:-8.19.21}"
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

# K distinct free TCP ports on 127.0.0.1, one a line (all held open while picking; a tiny race remains).
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

es_home() { echo "$1/elasticsearch-$ES_VERSION"; }
node_dir() { echo "$1/node-$2"; }
node_names() { [[ -s "$1/nodes" ]] && cat "$1/nodes"; }
node_count() { node_names "$1" | wc -l; }
http_port() { cat "$(node_dir "$1" "$2")/http_port"; }
transport_port() { cat "$(node_dir "$1" "$2")/transport_port"; }

node_pid() {
    local pidfile pid
    pidfile="$(node_dir "$1" "$2")/run/es.pid"
    [[ -s "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid: it must be an Elasticsearch JVM.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'org.elasticsearch.server' || return 1
    echo "$pid"
}

node_alive() { node_pid "$1" "$2" >/dev/null; }

# The store URL: http://127.0.0.1:PORT for one node, elasticsearch://h1:p1,h2:p2,… for a cluster.
store_url() {
    local dir="$1" name hosts=()
    while read -r name; do hosts+=("127.0.0.1:$(http_port "$dir" "$name")"); done < <(node_names "$dir")
    if (( ${#hosts[@]} == 1 )); then
        echo "http://${hosts[0]}"
    else
        local IFS=,
        echo "elasticsearch://${hosts[*]}"
    fi
}

# 0 when a node answering on one of DIR's ports reports every node joined and health yellow or green.
healthy() {
    local dir="$1" want name body
    want="$(node_count "$dir")"
    while read -r name; do
        node_alive "$dir" "$name" || continue
        body="$(curl -s --max-time 3 \
            "http://127.0.0.1:$(http_port "$dir" "$name")/_cluster/health?wait_for_status=yellow&wait_for_nodes=$want&timeout=1s" \
            2>/dev/null)" || continue
        [[ "$body" == *'"timed_out":false'* ]] || continue
        [[ "$body" == *'"status":"yellow"'* || "$body" == *'"status":"green"'* ]] && return 0
    done < <(node_names "$dir")
    return 1
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

# The node's own config directory (ES_PATH_CONF): a copy of the distribution's, so nodes of one
# installation differ in name, ports and paths. Rewritten on every start, so a restart picks up
# whether the cluster has bootstrapped.
write_config() {
    local dir="$1" name="$2" home nd conf seeds="" masters="" other n
    home="$(es_home "$dir")"
    nd="$(node_dir "$dir" "$name")"
    conf="$nd/config"
    if [[ ! -f "$conf/log4j2.properties" ]]; then
        mkdir -p "$conf"
        # Each node makes its own keystore.
        (cd "$home/config" && find . -mindepth 1 -maxdepth 1 ! -name elasticsearch.keystore -exec cp -r {} "$conf/" \;)
    fi
    n="$(node_count "$dir")"
    {
        echo "# Written by scripts/elasticsearch.sh: local test node $name, not for production."
        echo "cluster.name: contenthub-test"
        echo "node.name: $name"
        echo "network.host: 127.0.0.1"
        echo "http.port: $(http_port "$dir" "$name")"
        echo "transport.port: $(transport_port "$dir" "$name")"
        if (( n == 1 )); then
            echo "discovery.type: single-node"
        else
            while read -r other; do
                seeds+="${seeds:+, }\"127.0.0.1:$(transport_port "$dir" "$other")\""
                masters+="${masters:+, }\"$other\""
            done < <(node_names "$dir")
            echo "discovery.seed_hosts: [$seeds]"
            # Only for the very first election: once the cluster formed, the nodes remember it, and
            # keeping this setting risks bootstrapping a second cluster (Elasticsearch's advice).
            [[ -e "$dir/bootstrapped" ]] || echo "cluster.initial_master_nodes: [$masters]"
        fi
        echo "path.data: $nd/data"
        echo "path.logs: $nd/logs"
        echo "xpack.security.enabled: false"
        echo "# A nearly full disk must not flip test indices to read-only."
        echo "cluster.routing.allocation.disk.threshold_enabled: false"
        echo "# Tests may delete indices by wildcard."
        echo "action.destructive_requires_name: false"
    } >"$conf/elasticsearch.yml"
    mkdir -p "$conf/jvm.options.d"
    printf -- '-Xms%s\n-Xmx%s\n' "$ES_HEAP" "$ES_HEAP" >"$conf/jvm.options.d/contenthub.options"
}

run_prefix=()
prepare_user() {
    local dir="$1" home
    home="$(es_home "$dir")"
    run_prefix=()
    # Elasticsearch refuses to run as root; when we are root, hand the node's writable paths to an
    # unprivileged user and drop privileges for the JVM.
    if [[ "$(id -u)" == 0 ]]; then
        id "$ES_RUN_AS" >/dev/null 2>&1 || die "user $ES_RUN_AS does not exist (set ES_RUN_AS)"
        run_prefix=(setpriv --reuid="$ES_RUN_AS" --regid="$(id -g "$ES_RUN_AS")" --clear-groups)
        # Every parent of DIR must be traversable by that user.
        "${run_prefix[@]}" test -x "$home/bin" || die "$ES_RUN_AS cannot reach $home (check directory permissions)"
    fi
}

# Start one node in the background (`-d` blocks until the node says it started, which can take a
# minute on a busy machine, so our own deadline covers it); sets LAUNCHED to the launcher's pid
# (a variable, not output: `$(...)` would make the launcher a child of a subshell we cannot wait for).
LAUNCHED=""
launch_node() {
    local dir="$1" name="$2" java_home="$3" home nd
    home="$(es_home "$dir")"
    nd="$(node_dir "$dir" "$name")"
    mkdir -p "$nd/data" "$nd/logs" "$nd/tmp" "$nd/run"
    rm -f "$nd/run/es.pid"
    write_config "$dir" "$name"
    if [[ "$(id -u)" == 0 ]]; then
        chown -R "$ES_RUN_AS" "$nd" "$home/logs" "$home/plugins"
    fi
    log "starting $name on 127.0.0.1:$(http_port "$dir" "$name") (transport $(transport_port "$dir" "$name"), heap $ES_HEAP)"
    "${run_prefix[@]}" env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$nd/config" ES_TMPDIR="$nd/tmp" HOME="$nd/tmp" \
        "$home/bin/elasticsearch" -d -p "$nd/run/es.pid" </dev/null >>"$nd/logs/console.log" 2>&1 &
    LAUNCHED=$!
}

# Wait until `healthy`; a launcher that failed or a timeout stops what was started and exits 1.
wait_healthy() {
    local dir="$1" t0="$2" name launcher rc i
    shift 2
    local -a launchers=("$@")  # "name:pid" pairs
    # On failure only the nodes started here are stopped (a failed restart-node leaves the others running).
    local -a started=("${launchers[@]%%:*}")
    local deadline=$(( $(date +%s) + ES_START_TIMEOUT ))
    until healthy "$dir"; do
        for i in "${!launchers[@]}"; do
            name="${launchers[$i]%%:*}"
            launcher="${launchers[$i]#*:}"
            [[ -n "$launcher" ]] || continue
            kill -0 "$launcher" 2>/dev/null && continue
            if wait "$launcher"; then rc=0; else rc=$?; fi
            launchers[$i]="$name:"
            if [[ "$rc" != 0 ]] || ! node_alive "$dir" "$name"; then
                tail -n 40 "$(node_dir "$dir" "$name")/logs/console.log" >&2
                stop_nodes "$dir" "${started[@]}" 2>/dev/null
                die "node $name failed to start (launcher exit $rc; logs: $(node_dir "$dir" "$name")/logs)"
            fi
        done
        if (( $(date +%s) >= deadline )); then
            for i in "${!launchers[@]}"; do
                name="${launchers[$i]%%:*}"
                tail -n 20 "$(node_dir "$dir" "$name")/logs/contenthub-test.log" >&2 2>/dev/null || true
                launcher="${launchers[$i]#*:}"
                # Do not leave a half-started JVM behind (CI would inherit it).
                [[ -n "$launcher" ]] && kill -TERM "$launcher" 2>/dev/null || true
            done
            sleep 2
            stop_nodes "$dir" "${started[@]}"
            die "no healthy cluster of $(node_count "$dir") node(s) in $dir after ${ES_START_TIMEOUT}s (stopped what was started here; data and logs kept)"
        fi
        sleep 0.5
    done
    for i in "${!launchers[@]}"; do
        launcher="${launchers[$i]#*:}"
        [[ -n "$launcher" ]] && { wait "$launcher" || true; }
    done
    log "healthy after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s ($(node_count "$dir") node(s), data in $dir)"
}

set_defaults() {
    local n="$1"
    if (( n == 1 )); then
        ES_HEAP="${ES_HEAP:-512m}"
        ES_START_TIMEOUT="${ES_START_TIMEOUT:-180}"
    else
        ES_HEAP="${ES_HEAP:-256m}"
        ES_START_TIMEOUT="${ES_START_TIMEOUT:-300}"
    fi
}

cmd_start() {
    local nodes="" dir_arg="" dir n name i java_home t0
    while (( $# )); do
        case "$1" in
            --nodes) nodes="${2:-}"; shift 2 || die "--nodes needs a number" ;;
            --nodes=*) nodes="${1#--nodes=}"; shift ;;
            -*) die "unknown option $1" ;;
            *) dir_arg="$1"; shift ;;
        esac
    done
    [[ -z "$nodes" || "$nodes" =~ ^[1-9][0-9]?$ ]] || die "--nodes must be a number from 1 to 99, got '$nodes'"
    dir="$(resolve_dir "$dir_arg")"
    if [[ -s "$dir/nodes" ]]; then
        n="$(node_count "$dir")"
        [[ -z "$nodes" || "$nodes" == "$n" ]] \
            || die "$dir holds a cluster of $n node(s); to start $nodes instead, first run: $0 stop --wipe $dir"
    else
        n="${nodes:-1}"
        : >"$dir/nodes.tmp"
        for i in $(seq 1 "$n"); do echo "es-$i" >>"$dir/nodes.tmp"; done
        mv "$dir/nodes.tmp" "$dir/nodes"
    fi
    set_defaults "$n"

    # Ports are picked once and kept: a restarted node must come back where its peers and clients look.
    local -a ports=()
    mapfile -t ports < <(free_ports $(( 2 * n )))
    i=0
    while read -r name; do
        mkdir -p "$(node_dir "$dir" "$name")"
        [[ -s "$(node_dir "$dir" "$name")/http_port" ]] || echo "${ports[$i]}" >"$(node_dir "$dir" "$name")/http_port"
        [[ -s "$(node_dir "$dir" "$name")/transport_port" ]] || echo "${ports[$((i + 1))]}" >"$(node_dir "$dir" "$name")/transport_port"
        i=$(( i + 2 ))
    done < <(node_names "$dir")

    local all_alive=1
    while read -r name; do node_alive "$dir" "$name" || all_alive=0; done < <(node_names "$dir")
    if (( all_alive )) && healthy "$dir"; then
        log "already running from $dir"
        store_url "$dir"
        return 0
    fi

    java_home="$(pick_java_home)"
    check_java "$java_home"
    fetch_and_unpack "$dir"
    prepare_user "$dir"
    t0="$(date +%s.%N)"
    local -a launchers=()
    while read -r name; do
        node_alive "$dir" "$name" && continue
        launch_node "$dir" "$name" "$java_home"
        launchers+=("$name:$LAUNCHED")
    done < <(node_names "$dir")
    wait_healthy "$dir" "$t0" "${launchers[@]}"
    touch "$dir/bootstrapped"
    store_url "$dir"
}

# SIGTERM (then SIGKILL after 30 s) the given nodes, all at once.
stop_nodes() {
    local dir="$1" name pid i
    shift
    local -a pids=()
    for name in "$@"; do
        if pid="$(node_pid "$dir" "$name")"; then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for pid in "${pids[@]}"; do
        for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid ignored SIGTERM for 30s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for i in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        fi
    done
    for name in "$@"; do rm -f "$(node_dir "$dir" "$name")/run/es.pid"; done
}

cmd_stop() {
    local wipe=0 dir_arg="" dir name
    while (( $# )); do
        case "$1" in
            --wipe) wipe=1; shift ;;
            -*) die "unknown option $1" ;;
            *) dir_arg="$1"; shift ;;
        esac
    done
    dir="$(resolve_dir "$dir_arg")"
    local -a names=()
    mapfile -t names < <(node_names "$dir" || true)
    if (( ${#names[@]} )); then
        stop_nodes "$dir" "${names[@]}"
    else
        log "no nodes in $dir"
    fi
    if (( wipe )); then
        # Logs stay for post-mortems; data, ports and the membership go.
        for name in "${names[@]}"; do
            rm -rf "$(node_dir "$dir" "$name")/data" "$(node_dir "$dir" "$name")/tmp" "$(node_dir "$dir" "$name")/run" \
                "$(node_dir "$dir" "$name")/config" "$(node_dir "$dir" "$name")/http_port" \
                "$(node_dir "$dir" "$name")/transport_port"
        done
        rm -f "$dir/nodes" "$dir/bootstrapped"
        log "wiped the data of $dir"
    fi
}

node_arg() {
    local dir="$1" name="$2"
    [[ -n "$name" ]] || die "name a node: one of $(node_names "$dir" | tr '\n' ' ')"
    node_names "$dir" | grep -qx -- "$name" || die "$dir has no node '$name' (nodes: $(node_names "$dir" | tr '\n' ' '))"
}

cmd_restart_node() {
    local dir name java_home t0
    [[ $# -ge 2 ]] || die "usage: $0 restart-node DIR NAME"
    dir="$(resolve_dir "$1")"
    name="$2"
    node_arg "$dir" "$name"
    set_defaults "$(node_count "$dir")"
    stop_nodes "$dir" "$name"
    java_home="$(pick_java_home)"
    check_java "$java_home"
    prepare_user "$dir"
    t0="$(date +%s.%N)"
    launch_node "$dir" "$name" "$java_home"
    wait_healthy "$dir" "$t0" "$name:$LAUNCHED"
    store_url "$dir"
}

cmd_kill_node() {
    local dir name pid i
    [[ $# -ge 2 ]] || die "usage: $0 kill-node DIR NAME"
    dir="$(resolve_dir "$1")"
    name="$2"
    node_arg "$dir" "$name"
    pid="$(node_pid "$dir" "$name")" || die "node $name is not running"
    log "SIGKILL $name (pid $pid)"
    kill -KILL "$pid"
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    rm -f "$(node_dir "$dir" "$name")/run/es.pid"
}

cmd_url() {
    local dir name
    dir="$(resolve_dir "${1:-}")"
    while read -r name; do
        if node_alive "$dir" "$name"; then
            store_url "$dir"
            return 0
        fi
    done < <(node_names "$dir" || true)
    log "no running node from $dir"
    return 1
}

main() {
    local sub="${1:-}"
    shift || true
    case "$sub" in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        restart-node) cmd_restart_node "$@" ;;
        kill-node) cmd_kill_node "$@" ;;
        url) cmd_url "$@" ;;
        nodes) node_names "$(resolve_dir "${1:-}")" ;;
        *) echo "usage: $0 {start [--nodes N]|stop [--wipe]|restart-node DIR NAME|kill-node DIR NAME|url|nodes} [DIR]" >&2
           exit 2 ;;
    esac
}

main "$@"
