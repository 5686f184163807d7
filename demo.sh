#!/bin/bash
# privmesh's main job, on a fresh Debian 12 machine, as root:
#   installs dependencies, creates the role users, builds, starts the suite
#   (privd + sandboxed netd, ctrld, dnsd) in a throwaway network namespace,
#   and prints `privmesh status`.  --keep leaves it running until Ctrl-C.
set -eu
cd "$(dirname "$0")"
keep=0
[ "${1:-}" = "--keep" ] && keep=1
if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh: must run as root" >&2
	exit 1
fi
packaging/install-deps.sh >/tmp/privmesh-deps.log 2>&1 || {
	tail -20 /tmp/privmesh-deps.log; exit 1; }
packaging/create-users.sh >/dev/null
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

ns="pm-demo-$$"
dir=$(mktemp -d /tmp/privmesh-demo.XXXXXX)
chmod 755 "$dir"
sock="$dir/run/privmesh.sock"
cleanup() {
	[ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip netns exec "$ns" build/privd/privd --state-dir "$dir/state" \
	--socket "$sock" --tun privmesh0 2>"$dir/privd.log" &
pid=$!
for _ in $(seq 50); do
	build/cli/privmesh --socket "$sock" status >/dev/null 2>&1 && break
	sleep 0.2
done
echo "--- privd log ---"
cat "$dir/privd.log"
echo "--- privmesh --socket $sock status ---"
build/cli/privmesh --socket "$sock" status
if [ $keep -eq 1 ]; then
	echo "(running in netns $ns; Ctrl-C stops it)"
	wait "$pid"
fi
