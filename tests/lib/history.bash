# The setup and helpers history.bats and crash.bats share: the fixture
# tree with a large file, sessions at 1700000000 + 100*N and the changes
# between them.  Load after helpers.

setup() {
	need_root
	command -v rdiff-backup >/dev/null || skip "rdiff-backup not installed"
	setup_scratch
	sh "$LIB/fixture.sh" "$T/src"
	python3 -c "import random,sys; r=random.Random(3); sys.stdout.buffer.write(r.randbytes(int(sys.argv[1])))" "${CAPBACK_TEST_BIG:-8388608}" >"$T/src/big"
	touch -d '2022-03-04 05:06:07' "$T/src/big" "$T/src"
}

teardown() {
	teardown_scratch
}

# session N: back up at 1700000000 + 100*N and keep a copy of the source.
session() {
	run cb --current-time $((1700000000 + 100 * $1)) backup "$T/src" "$T/repo"
	echo "$output"
	[ "$status" -eq 0 ]
	cp -a "$T/src" "$T/state$1"
}

change_tree() {
	s="$T/src"
	case $1 in
	1)
		echo more >>"$s/plain"
		printf 'XYZ' | dd of="$s/big" bs=1 seek=1500000 conv=notrunc status=none
		rm "$s/empty"
		rm -rf "$s/dir/sub"
		mkdir -p "$s/new/deep" && echo n >"$s/new/deep/n"
		chmod 0640 "$s/setgid"
		ln -sfn dir "$s/symlink"
		;;
	2)
		rm "$s/text3m" && mkdir "$s/text3m" && echo inside >"$s/text3m/f"
		rm -rf "$s/trap/a" && echo f >"$s/trap/a"
		ln "$s/plain" "$s/plain-link"
		setfattr -n user.text -v changed "$s/xattrs"
		chown nobody "$s/unknown_owner"
		rm "$s/chardev" && mkfifo "$s/chardev"
		;;
	3)
		rm -rf "$s/new"
		echo back >"$s/empty"
		rm "$s/plain-link"
		printf 'ABC' | dd of="$s/big" bs=1 seek=100 conv=notrunc status=none
		;;
	esac
	# Same size, same second as the last backup would look unchanged
	# (as in rdiff-backup): give modified files their own times.
	touch -d "2023-0$1-02" "$s/big" "$s/xattrs"
	touch -d "2023-0$1-01" "$s"
}
