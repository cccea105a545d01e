#!/bin/sh
# The whole test suite, as CI runs it:
#   1. unit (cmocka) and integration (bats) tests on the normal build;
#   2. the same on an ASan+UBSan build (sandbox off, as sanitizers need;
#      kill loops shortened);
#   3. unit tests under valgrind memcheck, and the integration files that
#      drive every role with each role process under valgrind, from a
#      build without the sandbox (valgrind cannot run under the roles'
#      seccomp filter) (tools/valgrind-suite.sh --all runs every file);
#   4. the libFuzzer harnesses (tests/fuzz), 5 s each from their seeds.
# Builds without the sandbox refuse to run as root; the tests allow it
# with CAPBACK_ALLOW_UNSANDBOXED_ROOT=1.
# Ends with one line "N passed, N failed, N skipped" over all of them.
set -u
cd "$(dirname "$0")/.."
rc=0
# quiet CMD...: run CMD, showing its output only when it fails.
quiet() {
	out=$("$@" 2>&1) && return 0
	printf '%s\n' "$out"
	echo "test.sh: failed: $*" >&2
	return 1
}
quiet sh tools/build.sh || exit 1
meson test -C build --print-errorlogs || rc=1

if [ ! -f build-asan/build.ninja ]; then
	quiet meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dsandbox=none -Dc_args=-fno-sanitize-recover=all \
	    -Dc_link_args=-fno-sanitize-recover=all || exit 1
fi
quiet ninja -C build-asan || exit 1
if [ ! -f build-nosb/build.ninja ]; then
	quiet meson setup build-nosb -Dsandbox=none -Dtests=disabled || exit 1
fi
quiet ninja -C build-nosb || exit 1
export CAPBACK_ALLOW_UNSANDBOXED_ROOT=1
# The sanitizer pass runs every test; the kill loops are shorter there
# (the normal pass has them in full) to keep CI within its time.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
CAPBACK_TEST_KILLS=4 CAPBACK_TEST_BIG=2097152 CAPBACK_FAULT_POINTS=20 \
    meson test -C build-asan --print-errorlogs || rc=1

meson test -C build --suite unit --logbase valgrind-unit --print-errorlogs \
    --wrapper 'valgrind -q --vgdb=no --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite' ||
    rc=1
sh tools/valgrind-suite.sh >build/meson-logs/valgrind-integ.tap 2>&1 || rc=1
grep -E '^not ok' -A8 build/meson-logs/valgrind-integ.tap || true

# libFuzzer: each harness for 5 s from its seed corpus (clang, ASan+UBSan).
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang quiet meson setup build-fuzz -Dfuzz=true -Dsandbox=none \
	    -Dtests=disabled -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dc_args=-fsanitize=fuzzer-no-link || exit 1
fi
# only the harnesses (and the libraries they link) are built there
quiet ninja -C build-fuzz tests/fuzz/fuzz_msg tests/fuzz/fuzz_frame \
    tests/fuzz/fuzz_mdfile tests/fuzz/fuzz_time tests/fuzz/fuzz_delta \
    tests/fuzz/fuzz_index || exit 1
meson test -C build-fuzz --suite fuzz --no-rebuild --print-errorlogs || rc=1

python3 tools/count-tests.py build/meson-logs/testlog.json \
    build-asan/meson-logs/testlog.json build/meson-logs/valgrind-unit-valgrind.json \
    build/meson-logs/valgrind-integ.tap build-fuzz/meson-logs/testlog.json || rc=1
exit $rc
