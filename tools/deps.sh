#!/bin/sh
# Install the Debian 12 packages capback builds, tests and demos with.
set -eu
PKGS="build-essential meson ninja-build pkg-config librsync-dev libcap-dev
libseccomp-dev libacl1-dev libattr1-dev zlib1g-dev libssl-dev libinih-dev
libcmocka-dev bats rdiff-backup python3-pylibacl python3-pyxattr rdiff attr acl libcap2-bin python3 util-linux
passwd valgrind openssh-client openssh-server libpam-cap time procps debootstrap
clang libclang-rt-14-dev strace exim4-daemon-light
debhelper dpkg-dev lintian fakeroot prometheus prometheus-node-exporter curl
bash-completion fuse3 libfuse3-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
	# promtool and the node exporter are for the metrics tests only:
	# services this install started are not left running
	case "$missing " in *" prometheus "* | *" prometheus-node-exporter "*)
		if [ -d /run/systemd/system ]; then
			systemctl disable --now prometheus.service \
			    prometheus-node-exporter.service >/dev/null 2>&1 || true
		fi ;;
	esac
fi
