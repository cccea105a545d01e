#!/usr/bin/env bats
# bash completion (contrib/bash-completion/capback, installed by the
# packages): actions, each action's options as its --help names them,
# and --at offers the sessions of the repository on the line.

load ../lib/helpers

setup() {
	[ -f /usr/share/bash-completion/bash_completion ] || skip "bash-completion not installed"
	setup_scratch
	mkdir -p "$T/bin"
	ln -s "$CAPBACK_BUILD/capback" "$T/bin/capback"
}

teardown() {
	teardown_scratch
}

# complete LINE: what completing LINE (the cursor at its end) offers
complete_line() {
	bash -c '
	    source /usr/share/bash-completion/bash_completion
	    source "$1"
	    PATH=$2:$PATH
	    COMP_LINE=$3
	    COMP_POINT=${#COMP_LINE}
	    read -ra COMP_WORDS <<<"$COMP_LINE"
	    [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
	    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	    _capback
	    printf "%s\n" "${COMPREPLY[@]}"' _ \
	    "$CAPBACK_SRC/contrib/bash-completion/capback" "$T/bin" "$1"
}

@test "actions, list's words, setup's roles" {
	[ "$(complete_line 'capback veri')" = verify ]
	[ "$(complete_line 'capback ver' | sort | tr '\n' ' ')" = "verify versions " ]
	[ "$(complete_line 'capback in')" = info ]
	[ "$(complete_line 'capback list ' | sort | tr '\n' ' ')" = "files increments " ]
	# an option's choices are those its action's --help gives (the list
	# written out here once offered setup a writer and no vault, doctor
	# a server, calculate compare's methods: new-user walk-through)
	[ "$(complete_line 'capback setup --role ' | sort | tr '\n' ' ')" = "reader restorer server vault " ]
	[ "$(complete_line 'capback doctor --role ' | sort | tr '\n' ' ')" = "reader restorer writer " ]
	[ "$(complete_line 'capback calculate --method ')" = average ]
	[ "$(complete_line 'capback compare --method ' | sort | tr '\n' ' ')" = "full hash meta " ]
	[ "$(complete_line 'capback backup --digests-at ' | sort | tr '\n' ' ')" = "server source " ]
	[ "$(complete_line 'capback -v ' | tr '\n' ' ')" = "0 1 2 3 4 5 6 7 8 9 " ]
	[ "$(complete_line 'capback --api-version ' | tr '\n' ' ')" = "200 201 " ]
	complete_line 'capback --pars' | grep -qx -- --parsable-output
	# the global options are capback --help's
	[ "$(complete_line 'capback --null')" = --null-separator ]
	[ "$(complete_line 'capback -v 4 --null')" = --null-separator ]
	[ "$(complete_line 'capback --wai')" = --wait ]
}

@test "an action's options are those its --help names" {
	out=$(complete_line 'capback backup --exclude-')
	grep -qx -- --exclude-if-present <<<"$out"
	grep -qx -- --exclude-fifos <<<"$out"
	grep -qx -- --exclude-other-filesystems <<<"$out"
	[ "$(complete_line 'capback list increments --s')" = --size ]
	[ "$(complete_line 'capback backup --print-s')" = --print-statistics ]
	# list files: its own options, not list increments' nor those its
	# help's prose names (walk-through)
	out=$(complete_line 'capback list files --')
	grep -qx -- --changed-since <<<"$out"
	! grep -qx -- --size <<<"$out" || false
	! grep -qx -- --parsable-output <<<"$out" || false
}

@test "--at offers the sessions of the repository on the line" {
	mkdir -p "$T/src"
	echo a >"$T/src/a"
	cb --current-time 1700000000 backup "$T/src" "$T/repo"
	echo b >>"$T/src/a"
	cb --current-time 1700086400 backup "$T/src" "$T/repo"
	out=$(complete_line "capback restore $T/repo --at ")
	echo "$out"
	grep -qx '2023-11-14T22:13:20Z' <<<"$out"
	grep -qx '2023-11-15T22:13:20Z' <<<"$out"
	grep -qx 'now' <<<"$out"
	# a path inside the repository names it too
	out=$(complete_line "capback list files $T/repo/a --at ")
	grep -qx '2023-11-15T22:13:20Z' <<<"$out"
	# and restore's TARGET is a file name again
	out=$(complete_line "capback restore $T/repo $T/sr")
	grep -qx "$T/src" <<<"$out"
}
