#!/bin/sh
# System packages the tests use: Debian's chromium (browser tests) and PostgreSQL 15.
# Installs them when missing and running as root; otherwise says what to install.
set -e
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing="$missing postgresql-15"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ]; then
  echo "installing system packages:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
  echo "missing system packages:$missing. Install them with: sudo apt-get install$missing" >&2
  exit 1
fi
