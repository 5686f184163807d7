#!/bin/bash
# The whole privmesh test suite, as root on Debian 12:
#
#   1. install build and test dependencies (packaging/install-deps.sh)
#   2. create the role users (packaging/create-users.sh)
#   3. build/          gcc, hardened, test hooks      -> unit + integration,
#                                                        the demo tailnet
#   4. build-san/      clang, ASan+UBSan, libFuzzer   -> unit + integration,
#                                                        each fuzzer for a
#                                                        bounded time
#
# Ends with one line "N passed, N failed".  Exit status 0 only if nothing
# failed.  Environment: PM_FUZZ_SECONDS (default 20 per target),
# PM_SKIP_DEPS=1 to skip step 1.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
passed=0
failed=0
failures=()

note() { printf '\n=== %s ===\n' "$*"; }
count() { # name status
	if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

if [ "$(id -u)" -ne 0 ]; then
	echo "tests/run.sh: must run as root (namespaces, TUN, setuid)" >&2
	exit 1
fi

if [ "${PM_SKIP_DEPS:-0}" != 1 ]; then
	note "dependencies"
	packaging/install-deps.sh >/tmp/privmesh-deps.log 2>&1 || {
		tail -20 /tmp/privmesh-deps.log; echo "0 passed, 1 failed"; exit 1; }
fi
packaging/create-users.sh >/dev/null

build() { # dir, meson args...
	local dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
	fi
	ninja -C "$dir" >"$dir.build.log" 2>&1 || { tail -40 "$dir.build.log"; return 1; }
}

# meson test: one result per cmocka executable.
unit() { # dir label
	local out ok fail
	out=$(meson test -C "$1" --print-errorlogs 2>&1)
	echo "$out" | grep -E '^ *[0-9]+/[0-9]+ ' || true
	ok=$(echo "$out" | sed -n 's/^Ok: *\([0-9]*\).*/\1/p')
	fail=$(echo "$out" | sed -n 's/^Fail: *\([0-9]*\).*/\1/p')
	passed=$((passed + ${ok:-0}))
	failed=$((failed + ${fail:-0}))
	[ "${fail:-0}" -eq 0 ] || { echo "$out" | tail -60; failures+=("$2 unit"); }
	[ -n "$ok" ] || { failed=$((failed + 1)); failures+=("$2 unit: no result"); echo "$out" | tail -30; }
}

integration() { # dir label
	local out p f e
	out=$(PRIVMESH_BUILD="$top/$1" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
		tests/integration 2>&1)
	echo "$out" | tail -40
	p=$(echo "$out" | tail -1 | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
	f=$(echo "$out" | tail -1 | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
	e=$(echo "$out" | tail -1 | grep -oE '[0-9]+ error' | grep -oE '[0-9]+')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0}))
	[ $((${f:-0} + ${e:-0})) -eq 0 ] || failures+=("$2 integration")
	[ -n "$p$f$e" ] || { failed=$((failed + 1)); failures+=("$2 integration: no result"); }
}

note "build (gcc, hardened, test hooks)"
build build -Dtest_hooks=true -Dbuildtype=debugoptimized
count "build" $?
if [ -f build/privd/privd ]; then
	note "unit tests"
	unit build gcc
	note "integration tests"
	integration build gcc
	note "demo tailnet (what ./demo.sh shows)"
	PRIVMESH_BUILD="$top/build" /usr/bin/python3 tests/demo_tailnet.py
	count "demo" $?
fi

note "build-san (clang, ASan+UBSan, fuzzers)"
CC=clang build build-san -Dtest_hooks=true -Dfuzzing=true \
	-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
count "build-san" $?
if [ -f build-san/privd/privd ]; then
	# Sandboxed children cannot ptrace, so LeakSanitizer runs only in the
	# unit tests; any sanitizer report aborts the process (and fails tests).
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
	note "unit tests under ASan/UBSan"
	ASAN_OPTIONS=detect_leaks=1 unit build-san san
	note "integration tests under ASan/UBSan"
	integration build-san san
	if grep -l -E 'ERROR: AddressSanitizer|runtime error:' /tmp/pm-test-*/privd.log 2>/dev/null; then
		count "sanitizer reports in daemon logs" 1
	fi
	note "fuzzers"
	tests/run-fuzzers.sh build-san "${PM_FUZZ_SECONDS:-20}"
	fz=$?
	n=$(ls tests/fuzz/corpus | wc -l)
	if [ $fz -eq 0 ]; then passed=$((passed + n)); else failed=$((failed + fz)); failures+=("fuzzers"); fi
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi

note "summary"
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
