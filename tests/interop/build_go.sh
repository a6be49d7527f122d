#!/usr/bin/env bash
# build_go.sh SRC_DIR OUTPUT WORK_DIR: build one Go program of tests/interop offline in GOPATH
# mode against Debian's Go sources (/usr/share/gocode: golang-github-lucas-clemente-quic-go-dev).
# The program's folder must sit inside a GOPATH src tree, so it is copied to
# WORK_DIR/gopath/src/qamp-interop/<name> first. Nothing is downloaded (GOPROXY=off).
set -euo pipefail
SRC=$(cd "$1" && pwd)
OUT=$(realpath -m "$2")
WORK=$(realpath -m "$3")
NAME=$(basename "$SRC")
command -v go >/dev/null || { echo "build_go.sh: go not found (package golang-go, scripts/install-deps.sh)" >&2; exit 1; }
QG=/usr/share/gocode/src/github.com/quic-go/quic-go
[ -f "$QG/http3/server.go" ] || { echo "build_go.sh: quic-go sources missing at $QG (package golang-github-lucas-clemente-quic-go-dev)" >&2; exit 1; }
PKG=$WORK/gopath/src/qamp-interop/$NAME
rm -rf "$PKG"
mkdir -p "$PKG" "$WORK/gocache"
cp "$SRC"/*.go "$PKG/"
cd "$PKG"
env -u GOFLAGS GO111MODULE=off GOPATH="$WORK/gopath:/usr/share/gocode" GOPROXY=off GOTOOLCHAIN=local \
  GOCACHE="$WORK/gocache" HOME="$WORK" CGO_ENABLED=0 go build -o "$OUT" .
