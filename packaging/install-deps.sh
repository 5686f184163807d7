#!/bin/sh
# Installs every build and test dependency of privmesh from Debian 12 packages.
# Run as root.  Idempotent: apt-get skips what is already there.
set -eu
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (apt-get install)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	build-essential meson ninja-build pkg-config clang libclang-rt-14-dev \
	libsodium-dev libseccomp-dev libcap-ng-dev libuv1-dev \
	libprotobuf-c-dev protobuf-c-compiler \
	libcmocka-dev \
	iproute2 procps psmisc iputils-ping util-linux \
	python3 python3-pytest
