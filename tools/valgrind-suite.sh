#!/bin/sh
# Run the integration tests with every role process under valgrind
# memcheck (errors or definite leaks fail the role, hence the test).
# Two bats files at a time (the tests use private scratch directories,
# users and mounts); heavy loops are scaled down (CAPBACK_TEST_*).
# Prints the TAP of every file; exits non-zero if any failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
wrap=$(mktemp -d /tmp/capback-vg.XXXXXX)
chmod 0755 "$wrap"
trap 'rm -rf "$wrap"' EXIT
# (--vgdb=no: no /tmp/vgdb-pipe-* file, whose name does not tell the
# test-created accounts apart: one left by another uid failed a role)
for role in capback-reader capback-writer capback-restorer; do
	cat >"$wrap/$role" <<EOS
#!/bin/sh
exec valgrind -q --vgdb=no --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite "$top/build-nosb/$role" "\$@"
EOS
	chmod 0755 "$wrap/$role"
done
# valgrind cannot run under the roles' seccomp filter: the build without
# the sandbox, which runs as root only when told so
export CAPBACK_LIBEXEC="$wrap" CAPBACK_TEST_BIG=2097152 CAPBACK_TEST_KILLS=4
export CAPBACK_BUILD="$top/build-nosb" CAPBACK_ALLOW_UNSANDBOXED_ROOT=1

# run_files OUT FILE...: each file's TAP into OUT; a file that fails
# without a "not ok" line (it died) gets one.
run_files() {
	out=$1
	shift
	: >"$out"
	for f in "$@"; do
		bats --tap "$f" >"$out.one" 2>&1 ||
			grep -q '^not ok' "$out.one" ||
			echo "not ok - $(basename "$f") ended abnormally" >>"$out.one"
		cat "$out.one" >>"$out"
	done
	rm -f "$out.one"
}

# CI runs the files that drive every role and the regress paths (the whole
# suite under valgrind takes longer than CI's budget); "--all" runs every
# file, as done by hand before a release.
if [ "${1:-}" = --all ]; then
	set -- "$top"/tests/integ/*.bats
else
	set --
	for f in fidelity failures sessions restore_paths longnames remote; do
		set -- "$@" "$top/tests/integ/$f.bats"
	done
fi
a="" b="" alone=""
i=0
for f in "$@"; do
	case $f in
	*/remote.bats | */peers.bats) alone="$alone $f"; continue ;; # see tests/meson.build
	esac
	if [ $((i % 2)) -eq 0 ]; then a="$a $f"; else b="$b $f"; fi
	i=$((i + 1))
done
# shellcheck disable=SC2086
run_files "$wrap/a.tap" $a &
pid=$!
# shellcheck disable=SC2086
run_files "$wrap/b.tap" $b
wait "$pid"
# shellcheck disable=SC2086
run_files "$wrap/c.tap" $alone
cat "$wrap/a.tap" "$wrap/b.tap" "$wrap/c.tap"
! grep -q '^not ok' "$wrap/a.tap" "$wrap/b.tap" "$wrap/c.tap"
