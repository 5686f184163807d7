#!/bin/sh
# Creates the users and groups listed in packaging/sysusers.d/privmesh.conf.
# Uses systemd-sysusers when present, else useradd/groupadd.  Idempotent.
set -eu
conf="$(cd "$(dirname "$0")" && pwd)/sysusers.d/privmesh.conf"
if command -v systemd-sysusers >/dev/null 2>&1; then
	exec systemd-sysusers "$conf"
fi
grep -v '^[[:space:]]*#' "$conf" | while read -r type name _rest; do
	case "$type" in
	u)
		getent passwd "$name" >/dev/null 2>&1 && continue
		useradd --system --user-group --no-create-home \
			--home-dir /nonexistent --shell /usr/sbin/nologin "$name"
		;;
	g)
		getent group "$name" >/dev/null 2>&1 && continue
		groupadd --system "$name"
		;;
	esac
done
