#!/bin/sh
# Run the integration tests with every role process under valgrind
# memcheck (errors or definite leaks fail the role, hence the test).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
wrap=$(mktemp -d /tmp/capback-vg.XXXXXX)
chmod 0755 "$wrap"
trap 'rm -rf "$wrap"' EXIT
for role in capback-reader capback-writer capback-restorer; do
	cat >"$wrap/$role" <<EOS
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite "$top/build/$role" "\$@"
EOS
	chmod 0755 "$wrap/$role"
done
export CAPBACK_LIBEXEC="$wrap"
for f in "$top"/tests/integ/*.bats; do
	bats --tap "$f"
done
