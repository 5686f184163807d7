#!/bin/sh
# Installs every build and test dependency of privmesh from Debian 12 packages.
# Run as root.  Idempotent: apt-get skips what is already there.
#
#   build:  compilers, meson, the libraries privmesh links
#   tests:  clang + compiler-rt (ASan/UBSan, libFuzzer), cmocka, pytest,
#           iproute2 (ip, ss), util-linux (setpriv), procps (pgrep),
#           wireguard-go + wireguard-tools (the reference WireGuard peer),
#           nftables (packet loss in tests), iputils-ping, iperf3 (benchmarks)
#   later:  libnftables (privd's firewall), nghttp2 + zstd (ts2021 control),
#           python3-h2/-nacl/-zstandard/-cryptography (test control server),
#           dig + kdig + dnsmasq + unbound + dnsperf (DNS tests and benchmark;
#           dnsmasq-base carries no service that would grab port 53)
#           coturn (turnutils_stunclient checks tests/testderp's STUN server;
#           its init script starts turnserver only with TURNSERVER_ENABLED=1
#           in /etc/default/coturn, which the package leaves commented out;
#           under systemd its unit would start, so it is masked first,
#           as is unbound's)
#           libsystemd-dev (sd-bus: privd's systemd-resolved per-link DNS),
#           dbus-daemon (a private system bus in tests) and, never
#           installed, an unpacked systemd-resolved for the tests
#           (test-resolved.sh)
set -eu
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (apt-get install)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# Test-only daemons must not start as host services on install (unbound
# would take 127.0.0.1:53 from a Pi-hole/AdGuard setup).  Mask a unit only
# when its package is not installed yet, so a host that already runs one
# keeps it.
for svc in coturn unbound; do
	if [ -d /run/systemd/system ] && ! dpkg -s "$svc" >/dev/null 2>&1 &&
	    [ ! -e "/etc/systemd/system/$svc.service" ]; then
		ln -s /dev/null "/etc/systemd/system/$svc.service"
	fi
done
apt-get install -y -q --no-install-recommends \
	build-essential meson ninja-build pkg-config \
	clang libclang-rt-14-dev \
	libsodium-dev libseccomp-dev libcap-ng-dev libuv1-dev \
	libprotobuf-c-dev protobuf-c-compiler \
	libjansson-dev libssl-dev libmnl-dev libnftables-dev \
	libnghttp2-dev libzstd-dev zlib1g-dev \
	libcmocka-dev \
	iproute2 nftables procps util-linux passwd iputils-ping \
	wireguard-go wireguard-tools iperf3 \
	python3 python3-pytest \
	python3-h2 python3-nacl python3-zstandard python3-cryptography \
	bind9-dnsutils knot-dnsutils dnsmasq-base unbound dnsperf \
	coturn \
	libsystemd-dev dbus-daemon
"$(dirname "$0")/test-resolved.sh"
