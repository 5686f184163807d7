#!/bin/bash
# privmesh's main job, on a fresh Debian 12 machine, as root: installs
# dependencies, creates the role users, builds, and starts a local demo
# tailnet on embedded defaults — the test control server (tests/testcontrol)
# and three privmesh nodes, each in its own network namespace — then shows
# `privmesh status`, MagicDNS, and pings across the tailnet
# (tests/demo_tailnet.py).  --keep leaves it running until Ctrl-C.
# Everything lives in namespaces the demo creates and removes.
set -eu
cd "$(dirname "$0")"
if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh: must run as root" >&2
	exit 1
fi
packaging/install-deps.sh >/tmp/privmesh-deps.log 2>&1 || {
	tail -20 /tmp/privmesh-deps.log; exit 1; }
packaging/create-users.sh >/dev/null
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
PRIVMESH_BUILD="$PWD/build" exec /usr/bin/python3 tests/demo_tailnet.py "$@"
