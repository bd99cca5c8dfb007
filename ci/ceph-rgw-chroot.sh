#!/usr/bin/env bash
# Another Ceph release beside the host's: Debian forky's Ceph (20.2, Tentacle)
# in a chroot, run by ci/ceph-rgw.sh as the same one-node cluster with a
# RADOS Gateway, on ports of its own, so that it and the host's Ceph 16.2
# gateway can run at once.
#
#   ci/ceph-rgw-chroot.sh start   make the root if it is missing or stale,
#                                 then start the gateway from it and print
#                                 its export lines (as ci/ceph-rgw.sh start)
#   ci/ceph-rgw-chroot.sh env | stop | run CMD...   as in ci/ceph-rgw.sh
#   ci/ceph-rgw-chroot.sh build   make the root again now
#   ci/ceph-rgw-chroot.sh purge   stop, and remove the root as well
#
# The root (about 1.1 GB) is made from nothing by Debian 12's debootstrap
# and apt inside it, from Debian's own packages, and kept as a cache under
# /var/cache between runs: a start reuses it until it is a week old. stop
# keeps it; the gateway's state lives in its own directory, as for 16.2.
#
# Settings (environment): CEPH_CHROOT_SUITE (forky), CEPH_CHROOT_MIRROR,
# CEPH_CHROOT_CACHE (/var/cache/object-clerk-ceph), CEPH_CHROOT_MAX_AGE_DAYS
# (7), and ci/ceph-rgw.sh's own, whose defaults here differ from the host's:
# CEPH_STATE_DIR=/tmp/object-clerk-ceph20, monitor 3301/6790, S3 8480 (http)
# and 8443 (https), OSD ports 8500-8599.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SUITE=${CEPH_CHROOT_SUITE:-forky}
MIRROR=${CEPH_CHROOT_MIRROR:-http://deb.debian.org/debian}
CACHE_DIR=${CEPH_CHROOT_CACHE:-/var/cache/object-clerk-ceph}
MAX_AGE_DAYS=${CEPH_CHROOT_MAX_AGE_DAYS:-7}
PACKAGES=(ceph-mon ceph-osd radosgw ceph-common openssl)

export CEPH_ROOT=${CEPH_ROOT:-$CACHE_DIR/$SUITE-root}
export CEPH_STATE_DIR=${CEPH_STATE_DIR:-/tmp/object-clerk-ceph20}
export CEPH_MON_PORT=${CEPH_MON_PORT:-3301} CEPH_MON_V1_PORT=${CEPH_MON_V1_PORT:-6790}
export CEPH_RGW_PORT=${CEPH_RGW_PORT:-8480} CEPH_RGW_HTTPS_PORT=${CEPH_RGW_HTTPS_PORT:-8443}
export CEPH_OSD_PORTS=${CEPH_OSD_PORTS:-8500-8599}
export CEPH_LOG_NAME=ceph-rgw-$SUITE

ROOT=$CEPH_ROOT
# Written last into a finished root: what it was made of. A root without it
# (an interrupted build) or made of something else is made again.
ROOT_MARKER=$ROOT/.object-clerk-root
ROOT_RECIPE="suite=$SUITE packages=${PACKAGES[*]}"

log() { printf '%s: %s\n' "$CEPH_LOG_NAME" "$*" >&2; }

fail() {
    log "ERROR: $1"
    [[ -z ${2:-} || ! -s $2 ]] || tail -n 40 "$2" >&2
    exit 1
}

ceph_rgw() { bash "$HERE/ceph-rgw.sh" "$@"; }

# in_root DIR CMD...: CMD in the root DIR, as ci/ceph-rgw.sh runs its daemons
# (a mount namespace of its own with /proc and /dev: nothing left mounted).
in_root() {
    local dir=$1
    shift
    CEPH_ROOT=$dir ceph_rgw run "$@"
}

# A root is in use while a process runs chrooted into it.
root_in_use() {
    local dir=$1 p
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/root" 2>/dev/null) == "$dir" ]] && return 0
    done
    return 1
}

remove_root() {
    local dir=$1
    [[ -e $dir ]] || return 0
    [[ $dir == "$CACHE_DIR"/* ]] || fail "not removing $dir: it is not under $CACHE_DIR"
    ! root_in_use "$dir" || fail "$dir is in use (a gateway runs from it): stop it first"
    rm -rf --one-file-system -- "$dir"
}

root_is_fresh() {
    [[ -f $ROOT_MARKER && $(<"$ROOT_MARKER") == "$ROOT_RECIPE" ]] || return 1
    [[ -z $(find "$ROOT_MARKER" -mtime "+$MAX_AGE_DAYS") ]]
}

need_debootstrap() {
    command -v debootstrap >/dev/null && return 0
    ((EUID == 0)) || fail "installing debootstrap needs root"
    log "installing Debian 12's debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends debootstrap >&2
}

# debootstrap knows the suites of its own release; every later Debian suite
# is made the way sid is.
debootstrap_script() {
    local scripts=/usr/share/debootstrap/scripts
    if [[ -e $scripts/$SUITE ]]; then echo "$scripts/$SUITE"; else echo "$scripts/sid"; fi
}

build_root() {
    ((EUID == 0)) || fail "making a root needs root (debootstrap, chroot, mount)"
    need_debootstrap
    local new=$ROOT.new start=$SECONDS step log_file=$CACHE_DIR/build.log
    mkdir -p "$CACHE_DIR"
    remove_root "$new" # left by an interrupted build
    : >"$log_file"

    log "debootstrap $SUITE into $new (log: $log_file)"
    debootstrap --variant=minbase "$SUITE" "$new" "$MIRROR" "$(debootstrap_script)" \
        >>"$log_file" 2>&1 || fail "debootstrap failed" "$log_file"
    step=$SECONDS
    log "debootstrap done in $((step - start))s; installing ${PACKAGES[*]}"

    # No maintainer script may start a daemon in the root.
    printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
    chmod 755 "$new/usr/sbin/policy-rc.d"
    # A testing suite's Release file can be past its Valid-Until on a
    # mirror snapshot; its signature is still checked.
    in_root "$new" apt-get -o Acquire::Check-Valid-Until=false update -qq \
        >>"$log_file" 2>&1 || fail "apt-get update in the root failed" "$log_file"
    in_root "$new" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${PACKAGES[@]}" >>"$log_file" 2>&1 ||
        fail "apt-get install in the root failed" "$log_file"
    in_root "$new" apt-get clean

    printf '%s' "$ROOT_RECIPE" >"$new/.object-clerk-root"
    remove_root "$ROOT"
    mv -- "$new" "$ROOT"
    log "root ready in $((SECONDS - start))s (packages $((SECONDS - step))s): $(ceph_version)"
}

ceph_version() { in_root "$ROOT" ceph --version 2>/dev/null || echo "no ceph in $ROOT"; }

ensure_root() {
    if root_is_fresh; then
        log "reusing $ROOT: $(ceph_version)"
    elif [[ -f $ROOT_MARKER ]] && root_in_use "$ROOT"; then
        # Another gateway runs from it: renewing it would pull it away.
        log "reusing $ROOT, stale but in use: $(ceph_version)"
    else
        build_root
    fi
}

cmd_start() {
    local start=$SECONDS
    ensure_root
    log "root ready after $((SECONDS - start))s; starting the gateway"
    ceph_rgw start
    log "install and start took $((SECONDS - start))s"
}

cmd_purge() {
    ceph_rgw stop
    remove_root "$ROOT.new"
    remove_root "$ROOT"
    log "removed $ROOT"
}

case ${1:-} in
start) cmd_start ;;
build) build_root ;;
purge) cmd_purge ;;
stop | env) ceph_rgw "$1" ;;
run) ceph_rgw "$@" ;;
*)
    echo "usage: $0 start|stop|env|build|purge|run CMD...   (state in \$CEPH_STATE_DIR, default $CEPH_STATE_DIR)" >&2
    exit 2
    ;;
esac
