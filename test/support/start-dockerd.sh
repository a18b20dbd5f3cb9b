#!/bin/sh
# start-dockerd.sh: make sure a Docker engine answers, for CI and Docker
# tests on a machine without systemd. Installs Debian's docker.io (and
# iptables, which its bridge networking needs) if dockerd is missing, starts
# dockerd in the background if its socket does not answer, and waits until
# it does. Prints "started dockerd pid N" when it started one, so the caller
# knows to stop it (kill the pid in the pidfile) when done.
# Usage: start-dockerd.sh [extra dockerd flags...]
# Env: DOCKERD_SOCK (default /var/run/docker.sock), DOCKERD_PIDFILE (default
#      /var/run/docker.pid), DOCKERD_LOG (default /var/log/dockerd.log),
#      DOCKERD_WAIT seconds (default 60).
# /run is not a tmpfs on these machines: a pidfile left by a killed dockerd
# survives, and dockerd refuses to start ("pid file found") while any process
# holds that pid, so a pidfile whose pid is not a live dockerd is removed.
set -eu
SOCK=${DOCKERD_SOCK:-/var/run/docker.sock}
PIDFILE=${DOCKERD_PIDFILE:-/var/run/docker.pid}
LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
WAIT=${DOCKERD_WAIT:-60}
ping_sock() { curl -fsS --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }

if ping_sock; then echo "dockerd already answers on $SOCK"; exit 0; fi
if ! command -v dockerd >/dev/null 2>&1 || ! command -v iptables >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The postinst cannot start the service here (no systemd); that is expected.
  apt-get install -y -qq docker.io iptables >/dev/null
fi
# cgroup v1 hosts without systemd may lack the hierarchy mounts.
[ -e /sys/fs/cgroup/cpu ] || [ -e /sys/fs/cgroup/cgroup.controllers ] || cgroupfs-mount || true
if [ -f "$PIDFILE" ]; then
  old=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -n "$old" ] && [ "$(cat "/proc/$old/comm" 2>/dev/null)" = dockerd ] &&
     ! grep -q '^State:.*Z' "/proc/$old/status" 2>/dev/null; then
    echo "dockerd pid $old is running but $SOCK does not answer"; exit 1
  fi
  rm -f "$PIDFILE"
fi
nohup dockerd -H "unix://$SOCK" --pidfile "$PIDFILE" "$@" >>"$LOG" 2>&1 &
pid=$!
start=$(date +%s)
# After an unclean kill with containers left running, start-up takes about
# 10 s more (dockerd stops the orphaned containers before it serves the API).
while ! ping_sock; do
  if ! kill -0 "$pid" 2>/dev/null; then echo "dockerd exited; log tail:"; tail -n 30 "$LOG"; exit 1; fi
  if [ $(($(date +%s) - start)) -ge "$WAIT" ]; then echo "dockerd not ready after ${WAIT}s; log tail:"; tail -n 30 "$LOG"; exit 1; fi
  sleep 0.1
done
echo "started dockerd pid $pid on $SOCK after ~$(($(date +%s) - start))s"
