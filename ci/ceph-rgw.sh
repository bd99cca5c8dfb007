#!/usr/bin/env bash
# A throwaway one-node Ceph cluster with a RADOS Gateway (S3) on 127.0.0.1,
# for running the test suite against a real RGW in CI.
#
#   ci/ceph-rgw.sh start   install Ceph if missing, start mon + osd + radosgw,
#                          create the S3 user, check signed S3 round trips over
#                          http and https, print the endpoint settings
#   ci/ceph-rgw.sh env     print export lines for the running gateway:
#                          eval "$(ci/ceph-rgw.sh env)"
#   ci/ceph-rgw.sh stop    end the daemons started here (by pid file), remove
#                          the state directory; succeeds if nothing runs
#   ci/ceph-rgw.sh run CMD...   run CMD as the daemons run (in CEPH_ROOT if
#                          set), e.g. run ceph -c "$CEPH_STATE_DIR/ceph.conf" -s
#
# Everything (config, monitor store, OSD, logs, pid files, TLS certificate)
# lives in one state directory, $CEPH_STATE_DIR (default /tmp/object-clerk-ceph);
# nothing is written to /etc/ceph or /var/lib/ceph. Every daemon listens on
# 127.0.0.1 only. Progress goes to stderr, the export lines to stdout, so
# eval "$(ci/ceph-rgw.sh start)" works too.
#
# The gateway has a second storage class, STANDARD_IA, beside STANDARD (both
# in the same pools), so that uploads and copies may name it.
#
# Other settings, from the environment (ci/ceph-rgw-chroot.sh sets them to
# run another Ceph release beside the host's):
#   CEPH_ROOT            a Debian root directory holding the Ceph to run, in a
#                        chroot (empty: the host's Ceph, installed if missing);
#                        see IN_ROOT below for what is mounted there, and how
#                        it goes away
#   CEPH_MON_PORT CEPH_MON_V1_PORT   the monitor (default 3300, 6789)
#   CEPH_RGW_PORT CEPH_RGW_HTTPS_PORT   S3 over http and https (7480, 7443)
#   CEPH_OSD_PORTS       MIN-MAX, the OSD's ports (Ceph's default 6800-7300)
#   CEPH_PYTHON          a python with boto3, for the probes (python3)
#   CEPH_MEMSTORE_BYTES  what the OSD may store, in RAM (default 4 GiB: the
#                        tests'; bench/resume.py at 1 GiB, 3 rounds: 16 GiB)
set -euo pipefail

STATE_DIR=${CEPH_STATE_DIR:-/tmp/object-clerk-ceph}
CONF=$STATE_DIR/ceph.conf
MARKER=$STATE_DIR/.object-clerk-ceph   # proves a directory is ours before rm -rf
ROOT=${CEPH_ROOT:-}
PYTHON=${CEPH_PYTHON:-python3}
MEMSTORE_BYTES=${CEPH_MEMSTORE_BYTES:-4294967296}

HOST=127.0.0.1
MON_PORT=${CEPH_MON_PORT:-3300}
MON_V1_PORT=${CEPH_MON_V1_PORT:-6789}
MON_ADDRS="[v2:$HOST:$MON_PORT,v1:$HOST:$MON_V1_PORT]"
PORT=${CEPH_RGW_PORT:-7480}
HTTPS_PORT=${CEPH_RGW_HTTPS_PORT:-7443}
OSD_PORTS=${CEPH_OSD_PORTS:-6800-7300}
# The extra storage class, and the pool RGW makes for bucket data (the class
# shares it: the tests only need the name to be accepted and kept).
STORAGE_CLASS=STANDARD_IA
DATA_POOL=default.rgw.buckets.data
# Fixed throwaway credentials: the cluster only ever listens on loopback.
ACCESS_KEY=object-clerk-test
SECRET_KEY=object-clerk-test-secret-0123456789
RGW_NAME=client.rgw
# Daemons in the order they are started; stop goes in reverse.
DAEMONS=(mon.a osd.0 "$RGW_NAME")

# Time limits (seconds) of the wait loops.
MON_TIMEOUT=60
OSD_TIMEOUT=90
USER_TIMEOUT=120
S3_TIMEOUT=120
STOP_TIMEOUT=30
# radosgw 20.2 takes 20-30 s to end on SIGTERM (its bucket-logging and
# notification threads finish their polling periods first). Its state is
# about to be removed with the cluster's, so there is nothing to wait for.
RGW_STOP_TIMEOUT=5

log() { printf '%s: %s\n' "${CEPH_LOG_NAME:-ceph-rgw}" "$*" >&2; }

# Print the last lines of the given logs (those that exist) to stderr.
log_tail() {
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        printf '\n----- last 40 lines of %s -----\n' "$f" >&2
        tail -n 40 "$f" >&2
    done
}

# fail MESSAGE [LOG...]: report, show the logs, exit non-zero.
fail() {
    local msg=$1
    shift
    log "ERROR: $msg"
    log_tail "$@"
    exit 1
}

# wait_for SECONDS DESCRIPTION "LOG..." COMMAND...: run COMMAND every half
# second until it succeeds; after SECONDS give up, print the last attempt's
# output and the logs, exit 1. COMMAND must itself be bounded (timeout /
# --connect-timeout).
wait_for() {
    local limit=$1 what=$2 logs=$3
    shift 3
    local deadline=$((SECONDS + limit)) out=$STATE_DIR/log/last-attempt.out
    log "waiting for $what (up to ${limit}s)"
    until "$@" >"$out" 2>&1; do
        if ((SECONDS >= deadline)); then
            # shellcheck disable=SC2086  # logs is a space separated list of paths
            fail "$what: not ready after ${limit}s" "$out" $logs
        fi
        sleep 0.5
    done
}

# Ceph's programs (and openssl) run through "${IN_ROOT[@]}": directly, or in
# the root. There each command gets a mount namespace of its own with /proc,
# /dev and the state directory (at its host path, so that the config, pid
# files and certificate have one path for the daemons, this script and the
# tests) mounted into the root. Nothing is mounted in the host's namespace,
# and the mounts go when the last process using them (a daemon) ends: a
# stop, or a CI run that is killed, leaves none behind. The environment is
# reset so that the host's PATH, virtualenv or python settings do not leak
# into the other release's userland.
# shellcheck disable=SC2016  # expanded by the inner bash
ENTER_ROOT='root=$1 state=$2
shift 2
mount -t proc proc "$root/proc" && mount --bind /dev "$root/dev" || exit
if [[ -d $state && -d $root$state ]]; then mount --bind "$state" "$root$state" || exit; fi
exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"'
IN_ROOT=()
[[ -z $ROOT ]] || IN_ROOT=(unshare --mount --propagation private --
    bash -c "$ENTER_ROOT" enter-root "$ROOT" "$STATE_DIR")

# Every ceph command gets our config, never /etc/ceph/ceph.conf.
ceph_cli() { timeout 30 "${IN_ROOT[@]}" ceph -c "$CONF" --connect-timeout 10 "$@"; }
rgw_admin() { timeout "$USER_TIMEOUT" "${IN_ROOT[@]}" radosgw-admin -c "$CONF" "$@"; }

check_settings() {
    [[ $STATE_DIR == /* ]] || fail "CEPH_STATE_DIR must be an absolute path: $STATE_DIR"
    # The rgw_frontends value is split on whitespace, so the certificate path
    # must not contain any.
    [[ $STATE_DIR != *[[:space:]]* ]] || fail "CEPH_STATE_DIR must not contain whitespace: $STATE_DIR"
    [[ $STATE_DIR != / ]] || fail "CEPH_STATE_DIR must not be /"
    [[ $OSD_PORTS =~ ^[0-9]+-[0-9]+$ ]] || fail "CEPH_OSD_PORTS must be MIN-MAX: $OSD_PORTS"
    [[ -z $ROOT ]] && return 0
    [[ $ROOT == /?* ]] || fail "CEPH_ROOT must be an absolute path: $ROOT"
    [[ $STATE_DIR != "$ROOT" && $STATE_DIR != "$ROOT"/* ]] ||
        fail "CEPH_STATE_DIR must lie outside CEPH_ROOT (it is mounted into it)"
}

# ----------------------------------------------------------------- install

install_packages() {
    local missing=() cmd
    if [[ -n $ROOT ]]; then
        for cmd in ceph ceph-mon ceph-osd monmaptool radosgw radosgw-admin openssl; do
            [[ -x $ROOT/usr/bin/$cmd ]] || missing+=("$cmd")
        done
        ((${#missing[@]} == 0)) ||
            fail "no ${missing[*]} in $ROOT: ci/ceph-rgw-chroot.sh builds that root"
        return 0
    fi
    for cmd in ceph ceph-mon ceph-osd monmaptool radosgw radosgw-admin; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    command -v openssl >/dev/null || missing+=(openssl)
    ((${#missing[@]})) || return 0
    log "missing ${missing[*]}: installing Debian's Ceph packages"
    ((EUID == 0)) || fail "installing packages needs root"
    local pkgs=(ceph-mon ceph-osd radosgw ceph-common)
    command -v openssl >/dev/null || pkgs+=(openssl)
    local start=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
    log "installed ${pkgs[*]} in $((SECONDS - start))s"
}

# ------------------------------------------------------------- daemon pids

# pid_of NAME: print the pid from NAME's pid file if that process is alive and
# is one of ours (its command line names our config), else print nothing.
pid_of() {
    local pidfile=$STATE_DIR/run/$1.pid pid
    [[ -r $pidfile ]] || return 0
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    [[ -r /proc/$pid/cmdline ]] || return 0
    # Guards against a recycled pid: only touch a process started with our conf.
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF" || return 0
    echo "$pid"
}

# stop_daemon NAME: SIGTERM, wait (bounded), then SIGKILL if it is still alive.
stop_daemon() {
    local name=$1 pid deadline start=$SECONDS grace=$STOP_TIMEOUT
    [[ $name != "$RGW_NAME" ]] || grace=$RGW_STOP_TIMEOUT
    pid=$(pid_of "$name")
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "$name (pid $pid) still running ${grace}s after SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 10))
            while kill -0 "$pid" 2>/dev/null; do
                ((SECONDS < deadline)) || fail "$name (pid $pid) survived SIGKILL"
                sleep 0.2
            done
            return 0
        fi
        sleep 0.2
    done
    log "stopped $name (pid $pid) in $((SECONDS - start))s"
}

stop_daemons() {
    local i
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
        stop_daemon "${DAEMONS[i]}"
    done
}

# The state directory's empty mount point in the root, and its parents up to
# (not including) the root's top directories, such as its /tmp.
remove_mount_point() {
    [[ -n $ROOT ]] || return 0
    local dir=$ROOT$STATE_DIR
    while [[ $dir == "$ROOT"/*/* ]] && rmdir -- "$dir" 2>/dev/null; do
        dir=${dir%/*}
    done
}

cmd_stop() {
    check_settings
    if [[ ! -e $STATE_DIR ]]; then
        log "nothing to stop: $STATE_DIR does not exist"
        return 0
    fi
    [[ -e $MARKER ]] || fail "$STATE_DIR was not made by this script (no $MARKER): not touching it"
    local start=$SECONDS
    stop_daemons
    rm -rf -- "$STATE_DIR"
    remove_mount_point
    log "stopped and removed $STATE_DIR in $((SECONDS - start))s"
}

# ------------------------------------------------------------------- start

write_config() {
    local fsid=$1
    # \$name and \$cluster are Ceph's own metavariables, expanded per daemon.
    cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon_host = $MON_ADDRS
mon_initial_members = a
public_addr = $HOST
cluster_addr = $HOST
ms_bind_ipv6 = false
# Its own port range, so that gateways of two releases can run side by side.
ms_bind_port_min = ${OSD_PORTS%-*}
ms_bind_port_max = ${OSD_PORTS#*-}

# A throwaway loopback cluster: no cephx keys to create or distribute.
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# With auth off, clients must not insist on msgr2 "secure" mode towards the
# monitor, or radosgw hangs for 300 s ("get_initial_auth_request returned -13").
ms_mon_client_mode = crc
client_mount_timeout = 60

# All state in our directory, none in /etc/ceph, /var/lib/ceph, /var/log/ceph,
# /var/run/ceph.
run_dir = $STATE_DIR/run
pid_file = $STATE_DIR/run/\$name.pid
admin_socket = $STATE_DIR/run/\$name.asok
log_file = $STATE_DIR/log/\$name.log
mon_cluster_log_file = $STATE_DIR/log/cluster.log
keyring = $STATE_DIR/keyring
crash_dir = $STATE_DIR/crash
mon_data = $STATE_DIR/\$name
osd_data = $STATE_DIR/\$name
rgw_data = $STATE_DIR/\$name

# One OSD: pools of size 1, few placement groups, no autoscaler (there is no
# manager daemon), replicas chosen among OSDs rather than hosts.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
# RGW makes several pools; all their PGs land on the single OSD.
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
# Commit monitor changes every 0.1 s instead of 1 s: start-up ~3 s, not ~18 s.
paxos_propose_interval = 0.1

[osd]
# Objects live in RAM (about twice the bytes stored): no disk, fast, gone at
# stop. device_bytes caps what the tests may store.
osd_objectstore = memstore
memstore_device_bytes = $MEMSTORE_BYTES
osd_memory_target = 1073741824

[client]
rgw_frontends = beast endpoint=$HOST:$PORT ssl_endpoint=$HOST:$HTTPS_PORT ssl_certificate=$STATE_DIR/rgw.crt ssl_private_key=$STATE_DIR/rgw.key
# Reclaim the space of deleted objects after 60 s rather than 2 hours.
rgw_gc_obj_min_wait = 60
EOF
}

make_certificate() {
    # Self-signed, valid for 127.0.0.1 and localhost; clients trust it through
    # CA_BUNDLE=rgw.crt. keyCertSign + CA:TRUE let it serve as its own CA.
    "${IN_ROOT[@]}" openssl req -x509 -newkey rsa:2048 -nodes -days 30 \
        -keyout "$STATE_DIR/rgw.key" -out "$STATE_DIR/rgw.crt" \
        -subj "/CN=$HOST" \
        -addext "subjectAltName=IP:$HOST,DNS:localhost" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
        -addext "extendedKeyUsage=serverAuth" \
        >/dev/null 2>&1 || fail "openssl could not make the certificate"
    chmod 600 "$STATE_DIR/rgw.key"
}

# Fail early and clearly if another process holds one of our ports.
check_ports_free() {
    local port
    for port in "$MON_PORT" "$MON_V1_PORT" "$PORT" "$HTTPS_PORT"; do
        if timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$port" 2>/dev/null; then
            fail "$HOST:$port is already in use (another Ceph or S3 server?)"
        fi
    done
}

osd_is_up() { ceph_cli osd dump | grep -q '^osd\.0 up'; }

# s3_round_trip http|https: signed S3 requests (boto3, SigV4): make a bucket,
# put an object, read it back, delete both. Each attempt is bounded by the
# botocore timeouts.
s3_round_trip() {
    local scheme=$1 port=$PORT
    [[ $scheme == https ]] && port=$HTTPS_PORT
    S3_ENDPOINT="$scheme://$HOST:$port" S3_VERIFY="$STATE_DIR/rgw.crt" \
        ACCESS_KEY=$ACCESS_KEY SECRET_KEY=$SECRET_KEY \
        timeout 60 "$PYTHON" - <<'EOF'
import os, uuid
import boto3
from botocore.config import Config

endpoint = os.environ["S3_ENDPOINT"]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id=os.environ["ACCESS_KEY"],
    aws_secret_access_key=os.environ["SECRET_KEY"],
    region_name="us-east-1",
    verify=os.environ["S3_VERIFY"] if endpoint.startswith("https") else None,
    config=Config(
        s3={"addressing_style": "path"},
        # boto3 >= 1.36 by default sends PUT bodies over https as aws-chunked
        # with a trailing CRC32 checksum, which RGW 16 (pacific) rejects with
        # 411 Length Required. The probe checks the gateway, not that.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=5,
        read_timeout=20,
        retries={"max_attempts": 1},
    ),
)
bucket = "ceph-rgw-sh-probe-" + uuid.uuid4().hex[:12]
body = b"round trip " + bucket.encode()
s3.create_bucket(Bucket=bucket)
try:
    s3.put_object(Bucket=bucket, Key="probe", Body=body)
    got = s3.get_object(Bucket=bucket, Key="probe")["Body"].read()
    assert got == body, (got, body)
    s3.delete_object(Bucket=bucket, Key="probe")
    # The extra storage class: accepted, and kept as written.
    s3.put_object(Bucket=bucket, Key="ia", Body=body, StorageClass="STANDARD_IA")
    stored = s3.head_object(Bucket=bucket, Key="ia").get("StorageClass")
    s3.delete_object(Bucket=bucket, Key="ia")
    assert stored == "STANDARD_IA", f"HEAD after a STANDARD_IA PUT shows {stored!r}"
finally:
    s3.delete_bucket(Bucket=bucket)
EOF
}

# The storage class goes into the default zonegroup's and zone's placement
# before radosgw starts. A single-zone gateway without a realm has no period
# to commit: radosgw reads the zonegroup and zone as they are at its start.
add_storage_class() {
    local logs=$STATE_DIR/log
    log "adding the storage class $STORAGE_CLASS"
    rgw_admin zonegroup placement add --rgw-zonegroup default \
        --placement-id default-placement --storage-class "$STORAGE_CLASS" \
        >"$logs/storage-class.out" 2>&1 ||
        fail "radosgw-admin zonegroup placement add failed" "$logs/storage-class.out"
    rgw_admin zone placement add --rgw-zone default \
        --placement-id default-placement --storage-class "$STORAGE_CLASS" \
        --data-pool "$DATA_POOL" >>"$logs/storage-class.out" 2>&1 ||
        fail "radosgw-admin zone placement add failed" "$logs/storage-class.out"
}

print_env() {
    printf 'export HOST=%q PORT=%q ACCESS_KEY=%q SECRET_KEY=%q\n' \
        "$HOST" "$PORT" "$ACCESS_KEY" "$SECRET_KEY"
    printf 'export HTTPS_PORT=%q CA_BUNDLE=%q\n' "$HTTPS_PORT" "$STATE_DIR/rgw.crt"
}

# On a failed start: end whatever we started, keep the directory (its logs)
# for inspection; the next start or stop removes it.
on_start_exit() {
    local rc=$?
    ((rc == 0)) && return 0
    log "start failed; stopping the daemons started so far (logs kept in $STATE_DIR/log)"
    stop_daemons || true
    exit "$rc"
}

cmd_start() {
    check_settings
    install_packages
    "$PYTHON" -c 'import boto3' 2>/dev/null ||
        fail "$PYTHON with boto3 is needed for the readiness check (set CEPH_PYTHON)"

    if [[ -e $STATE_DIR ]]; then
        [[ -e $MARKER ]] || fail "$STATE_DIR exists and was not made by this script: remove it or set CEPH_STATE_DIR"
        log "$STATE_DIR exists from an earlier run: stopping that first"
        cmd_stop
    fi
    check_ports_free

    local start=$SECONDS logs=$STATE_DIR/log
    mkdir -p "$STATE_DIR"/{run,log,crash}
    touch "$MARKER"
    trap on_start_exit EXIT
    # The mount point of the state directory in the root.
    [[ -z $ROOT ]] || mkdir -p "$ROOT$STATE_DIR"

    local fsid
    fsid=$(cat /proc/sys/kernel/random/uuid)
    write_config "$fsid"
    make_certificate

    # Monitor: a one-entry monmap, then an empty store. The daemon forks into
    # the background itself and writes run/mon.a.pid.
    log "creating and starting the monitor"
    "${IN_ROOT[@]}" monmaptool --create --fsid "$fsid" --addv a "$MON_ADDRS" \
        "$STATE_DIR/monmap" >/dev/null 2>&1 ||
        fail "monmaptool failed"
    "${IN_ROOT[@]}" ceph-mon -c "$CONF" -i a --mkfs --monmap "$STATE_DIR/monmap" \
        >"$logs/mkfs-mon.out" 2>&1 ||
        fail "ceph-mon --mkfs failed" "$logs/mkfs-mon.out" "$logs/mon.a.log"
    "${IN_ROOT[@]}" ceph-mon -c "$CONF" -i a >"$logs/start-mon.out" 2>&1 ||
        fail "ceph-mon did not start" "$logs/start-mon.out" "$logs/mon.a.log"
    wait_for "$MON_TIMEOUT" "the monitor" "$logs/mon.a.log" ceph_cli health

    # OSD: register it with the monitor, make its (in-memory) store, start it.
    log "creating and starting the OSD"
    local osd_uuid osd_id
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    mkdir -p "$STATE_DIR/osd.0" # memstore --mkfs aborts if osd_data is missing
    osd_id=$(ceph_cli osd new "$osd_uuid" 2>"$logs/osd-new.out") ||
        fail "ceph osd new failed" "$logs/osd-new.out" "$logs/mon.a.log"
    [[ $osd_id == 0 ]] || fail "expected OSD id 0, got '$osd_id'"
    "${IN_ROOT[@]}" ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" \
        >"$logs/mkfs-osd.out" 2>&1 ||
        fail "ceph-osd --mkfs failed" "$logs/mkfs-osd.out" "$logs/osd.0.log"
    "${IN_ROOT[@]}" ceph-osd -c "$CONF" -i 0 >"$logs/start-osd.out" 2>&1 ||
        fail "ceph-osd did not start" "$logs/start-osd.out" "$logs/osd.0.log"
    wait_for "$OSD_TIMEOUT" "the OSD" "$logs/osd.0.log $logs/mon.a.log" osd_is_up

    # The S3 user; this also creates RGW's pools, so it waits for the OSD to
    # serve them.
    log "creating the S3 user $ACCESS_KEY"
    rgw_admin user create --uid object-clerk \
        --display-name "object-clerk CI" --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" \
        >"$logs/user-create.out" 2>&1 ||
        fail "radosgw-admin user create failed or took over ${USER_TIMEOUT}s" \
            "$logs/user-create.out" "$logs/client.admin.log" "$logs/osd.0.log"

    add_storage_class

    log "starting radosgw"
    "${IN_ROOT[@]}" radosgw -c "$CONF" -n "$RGW_NAME" >"$logs/start-rgw.out" 2>&1 ||
        fail "radosgw did not start" "$logs/start-rgw.out" "$logs/$RGW_NAME.log"
    wait_for "$S3_TIMEOUT" "an S3 round trip over http" "$logs/$RGW_NAME.log" s3_round_trip http
    wait_for "$S3_TIMEOUT" "an S3 round trip over https" "$logs/$RGW_NAME.log" s3_round_trip https

    trap - EXIT
    log "ready in $((SECONDS - start))s: http://$HOST:$PORT and https://$HOST:$HTTPS_PORT (state in $STATE_DIR)"
    print_env
}

cmd_env() {
    check_settings
    [[ -n $(pid_of "$RGW_NAME") ]] ||
        fail "no gateway running from $STATE_DIR: run '$0 start' first"
    print_env
}

cmd_run() {
    check_settings
    (($#)) || fail "run needs a command"
    "${IN_ROOT[@]}" "$@"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
run) shift && cmd_run "$@" ;;
*)
    echo "usage: $0 start|stop|env|run CMD...   (state in \$CEPH_STATE_DIR, default /tmp/object-clerk-ceph)" >&2
    exit 2
    ;;
esac
