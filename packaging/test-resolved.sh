#!/bin/sh
# Provides a real systemd-resolved for the integration tests only
# (tests/integration/test_dns_resolved.py), without installing it.
#
# Installing the systemd-resolved package would replace the host's
# /etc/resolv.conf with a symlink to its stub and expects systemd as PID 1.
# Instead, the candidate version of systemd-resolved and of the
# libsystemd-shared it was built against are unpacked (dpkg-deb -x, no
# maintainer scripts) into a test-owned directory; the tests run the binary
# from there (LD_LIBRARY_PATH to the unpacked library) inside their own
# network and mount namespaces, on a dbus-daemon of their own.
#
# The only change to the host besides that directory: the system user
# "systemd-resolve" that resolved drops to and that its D-Bus policy names,
# made from the package's own sysusers.d line (as its postinst would).
#
#   PRIVMESH_RESOLVED_DIR   where to unpack (/var/lib/privmesh-test/resolved)
set -eu
if [ "$(id -u)" -ne 0 ]; then
	echo "test-resolved.sh: must run as root" >&2
	exit 1
fi
dest=${PRIVMESH_RESOLVED_DIR:-/var/lib/privmesh-test/resolved}
ver=$(apt-cache policy systemd-resolved | awk '/Candidate:/ { print $2 }')
if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
	echo "test-resolved.sh: no systemd-resolved package to download" >&2
	exit 1
fi
if [ "$(cat "$dest/.version" 2>/dev/null)" != "$ver" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# apt-get download runs as _apt when it can write there.
	if id _apt >/dev/null 2>&1; then
		chown _apt "$tmp"
	fi
	(cd "$tmp" && apt-get download -q "systemd-resolved=$ver" \
	    "libsystemd-shared=$ver")
	rm -rf "$dest.new"
	mkdir -p "$dest.new"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$dest.new"
	done
	echo "$ver" > "$dest.new/.version"
	rm -rf "$dest"
	mv "$dest.new" "$dest"
fi
if ! getent passwd systemd-resolve >/dev/null; then
	if command -v systemd-sysusers >/dev/null; then
		systemd-sysusers "$dest/usr/lib/sysusers.d/systemd-resolve.conf"
	else
		useradd --system --user-group --no-create-home --home-dir / \
		    --shell /usr/sbin/nologin --comment "systemd Resolver" \
		    systemd-resolve
	fi
fi
echo "systemd-resolved $ver for tests in $dest"
