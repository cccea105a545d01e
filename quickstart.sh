#!/bin/sh
# Quick start on a fresh Debian 12: install dependencies, build, demo.
set -eu
cd "$(dirname "$0")"
sh tools/deps.sh
sh tools/build.sh
sh tools/demo.sh
