#!/bin/bash
# Runs every libFuzzer target in BUILD_DIR/tests/fuzz for SECONDS each,
# starting from tests/fuzz/corpus/<target> (copied: the seed corpus in the
# tree is not modified).  Exit status: number of targets that crashed.
set -u
dir=$1
secs=${2:-20}
cd "$(dirname "$0")/.."
bad=0
for seeds in tests/fuzz/corpus/*/; do
	t=$(basename "$seeds")
	bin="$dir/tests/fuzz/$t"
	work=$(mktemp -d)
	cp "$seeds"/* "$work"/ 2>/dev/null
	if "$bin" -max_total_time="$secs" -max_len=8192 -timeout=10 \
		-artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
		echo "fuzz $t: ok ($(grep -oE '#[0-9]+' "$work.log" | tail -1 | tr -d '#') runs)"
	else
		echo "fuzz $t: FAILED"; tail -30 "$work.log"; bad=$((bad + 1))
	fi
	rm -rf "$work" "$work.log"
done
exit $bad
