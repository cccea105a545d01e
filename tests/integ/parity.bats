#!/usr/bin/env bats
# What rdiff-backup users script with: --api-version, info, and (checked
# against rdiff-backup 2.2.2 itself) the same output where it has one.

load ../lib/helpers

setup() {
	setup_scratch
}

teardown() {
	teardown_scratch
}

@test "--api-version is taken as rdiff-backup takes it: 200 and 201, else its message" {
	mkdir -p "$T/src"
	echo x >"$T/src/f"
	run cb --api-version 201 backup "$T/src" "$T/repo"
	[ "$status" -eq 0 ]
	run cb --api-version 200 list increments "$T/repo"
	[ "$status" -eq 0 ]
	for v in 199 202 x ""; do
		run cb --api-version "$v" info
		[ "$status" -eq 1 ]
		[[ "$output" == *"API version $v must be between 200 and 201"* ]]
		run rdiff-backup --api-version "$v" info
		[ "$status" -ne 0 ]
	done
	rdiff-backup --api-version 199 info 2>&1 | grep -q "API version 199 must be between 200 and 201"
}

@test "info: YAML in rdiff-backup's shape, with the roles and the kernel's features" {
	run cb --api-version 200 info
	echo "$output"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$T/info.yaml"
	cat >"$T/check.py" <<'EOF'
import sys, yaml
d = yaml.safe_load(open(sys.argv[2]))
build = sys.argv[1]
assert d["exec"]["api_version"] == {"actual": 200, "default": 201, "max": 201, "min": 200}, d["exec"]
assert d["exec"]["version"]
for r in ("reader", "writer", "restorer"):
    assert d["exec"]["roles"][r]["path"] == build + "/capback-" + r, d["exec"]["roles"][r]
    assert d["exec"]["roles"][r]["runnable"] is True
assert isinstance(d["features"]["landlock_abi"], int) or d["features"]["landlock_abi"] is None
assert d["system"]["fs_encoding"] == "utf-8"
EOF
	python3 "$T/check.py" "$CAPBACK_BUILD" "$T/info.yaml"
	# rdiff-backup's own has the same top-level shape
	rdiff-backup info | python3 -c 'import sys, yaml; d = yaml.safe_load(sys.stdin); assert "api_version" in d["exec"] and "system" in d'
}
