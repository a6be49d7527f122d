#!/usr/bin/env bash
# Regenerates the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from qamp-tp's
# own output plus hand-written inputs. Usage: tests/fuzz/make_corpus.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: make_corpus.sh BUILD_DIR}
tp="$build/examples/tp/qamp-tp"
corpus="$(dirname "$0")/corpus"

# decode: one selector byte (the spellings the client announced, 0x2d50 bits), then the payload
# that decode_fuzzer feeds to every decoder.
out="$corpus/decode"
mkdir -p "$out"

seed() {  # NAME SELECTOR_HEX PAYLOAD_HEX
  python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes.fromhex(sys.argv[2] + sys.argv[3]))' \
    "$out/$1" "$2" "$3"
}
bit() { case $1 in ext) echo 01 ;; dam-values) echo 02 ;; pr3898) echo 04 ;; rfc9000) echo 00 ;; esac; }

sample=(--handshake none --spa-v4 198.18.1.10:4433 --spa-v6 '[2001:db8:1::10]:4433'
        --spa-v4-level same-ip --spa-v6-level any)
for s in pr3898 dam-values ext rfc9000; do
  seed "server-$s-qamp" "$(bit $s)" "$("$tp" encode --spelling $s "${sample[@]}" 2>/dev/null)"
  seed "server-$s-full" 07 "$("$tp" encode --spelling $s "${sample[@]}" --full 2>/dev/null)"
done
seed server-ext-v6only 01 "$("$tp" encode --spelling ext --handshake same-ip --spa-v6 '[2001:db8::2]:443' --spa-level none)"
# A 1-byte CID makes a 43-byte 0x0d, which parses in both forms: only the echo tells them apart.
seed server-pr3898-v4only 04 "$("$tp" encode --spelling pr3898 --handshake any --spa-v4 198.18.0.2:443 --spa-level none --cid 01 2>/dev/null)"
seed server-dam-values-nopa 02 "$("$tp" encode --spelling dam-values --handshake same-ip --spa-level same-ip)"
seed server-empty 07 ""

# Bare 0x0d values (decode_preferred_address's success paths): RFC 9000 and PR #3898 form.
pa_v4=c612010a1151                          # 198.18.1.10:4433
pa_v6=20010db80001000000000000000000101151  # [2001:db8:1::10]:4433
cid=080123456789abcdef; token=00112233445566778899aabbccddeeff
seed pa-rfc9000 00 "${pa_v4}${pa_v6}${cid}${token}"
seed pa-pr3898 00 "${pa_v4}${pa_v6}02${cid}${token}"
seed pa-43-bytes 00 "${pa_v4}${pa_v6}0201aa${token}"   # parses in both forms

# Client blobs.
seed client-all 00 6d500107
seed client-unknown-bits 00 6d5004800000ff

# Malformed: each must fail cleanly.
seed bad-truncated-id 07 6d
seed bad-length-past-end 07 0c05aa
seed bad-duplicate 07 0c000c00
seed bad-dam-values-empty-0c 02 0c006d500102
seed bad-ext-level3 01 0c006d510103
seed bad-ext-reserved-bits 01 6d510140
seed bad-echo-two-bits 07 6d500103
seed bad-echo-not-announced 01 6d500104
seed bad-pr3898-dm3 04 "0d32${pa_v4}${pa_v6}03${cid}${token}6d500104"
seed bad-pa-zero-cid 00 "0d29${pa_v4}${pa_v6}00${token}"
echo "wrote $(ls "$out" | wc -l) seeds to $out"

# tls_glue: byte 0 = receiver (bit 0: 0 server, 1 client) | announced spellings << 1, then the
# blob. The standard parameters carry the harness's fixed connection IDs (tls_glue_fuzzer.cc),
# so the handshakes complete and the glue's whole receive path runs.
out="$corpus/tls_glue"
mkdir -p "$out"
cid() { python3 -c 'import sys; print(sys.argv[1] * 18)' "$1"; }
# max_data 1 MiB, max_streams_bidi 10, active_connection_id_limit 8, max_stream_data_bidi_local 256 KiB
common=0404801000000801 common="${common}0a0e0108050480040000"
client_std="${common}0f12$(cid c0)"
server_std="${common}0012$(cid d0)0f12$(cid 50)"
seed tls-server-rfc9000-client 00 "$client_std"
seed tls-server-all-spellings 0e "${client_std}6d500107"
seed tls-server-ext-only 02 "${client_std}6d500101"
seed tls-server-unknown-bits 0e "${client_std}6d5004800000ff"
seed tls-server-bad-0x2d50-long 0e "${client_std}6d50020107"
seed tls-server-bad-truncated 0e "${client_std}6d"
seed tls-server-empty 0e ""
for s in pr3898 dam-values ext rfc9000; do
  sel=$(printf %02x $(( ($(bit $s) << 1) | 1 )))
  seed "tls-client-$s" "$sel" "${server_std}$("$tp" encode --spelling $s --handshake none --spa-v4 127.0.0.2:443 \
    --spa-v6 '[2001:db8::2]:443' --spa-v4-level same-ip --spa-v6-level any 2>/dev/null)"
done
seed tls-client-all-announced 0f "${server_std}$("$tp" encode --spelling ext --handshake same-ip --spa-level same-ip)"
seed tls-client-plain 0f "$server_std"
seed tls-client-bad-echo-not-announced 03 "${server_std}6d500104"
seed tls-client-bad-ext-level3 0f "${server_std}0c006d5001016d510103"
seed tls-client-bad-duplicate 0f "${server_std}0c000c00"
seed tls-client-empty 0f ""
echo "wrote $(ls "$out" | wc -l) seeds to $out"

# http_range: 8 bytes of representation size (little-endian), then a header value.
out="$corpus/http_range"
mkdir -p "$out"
hseed() {  # NAME SIZE VALUE
  python3 -c 'import sys; open(sys.argv[1], "wb").write(int(sys.argv[2]).to_bytes(8, "little") + sys.argv[3].encode())' \
    "$out/$1" "$2" "$3"
}
hseed range-first-last 1000 "bytes=0-499"
hseed range-open 1000 "bytes=500-"
hseed range-suffix 1000 "bytes=-100"
hseed range-suffix-zero 1000 "bytes=-0"
hseed range-past-end 1000 "bytes=1000-"
hseed range-clamped 1000 " bytes = 10 - 99999 "
hseed range-multi 1000 "bytes=0-1,5-9"
hseed range-other-unit 1000 "items=0-1"
hseed range-empty-body 0 "bytes=0-"
hseed range-huge 18446744073709551615 "bytes=18446744073709551614-18446744073709551615"
hseed range-overflow 1000 "bytes=99999999999999999999-"
hseed content-range 0 "bytes 0-499/1000"
hseed content-range-bad 0 "bytes 500-499/1000"
hseed decimal 0 " 1234 "
hseed decimal-max 0 "18446744073709551615"
echo "wrote $(ls "$out" | wc -l) seeds to $out"

# request: method, path, Range, If-Range separated by newlines (request_fuzzer.cc).
out="$corpus/request"
mkdir -p "$out"
rseed() { printf '%s\n%s\n%s\n%s' "$2" "$3" "${4:-}" "${5:-}" >"$out/$1"; }  # NAME METHOD PATH [RANGE [IF-RANGE]]
rseed get-file GET /a.bin
rseed get-file-range GET /a.bin bytes=0-99
rseed get-file-416 GET /a.bin bytes=5000-
rseed get-file-if-range GET /a.bin bytes=-10 '"stale"'
rseed get-empty GET /empty bytes=0-
rseed get-index GET /dir/
rseed get-bytes GET /bytes/4096 bytes=100-199
rseed get-bytes-if-range GET /bytes/4096 bytes=100-199 '"qamp-bytes-4096"'
rseed get-bytes-not-resumable GET '/bytes/100?resumable=0' bytes=0-9
rseed get-bytes-bad GET /bytes/12x
rseed head-file HEAD /a.bin
rseed post POST /a.bin
rseed dotdot GET /../etc/passwd
rseed dotdot-end GET /dir/..
rseed no-slash GET a.bin
rseed query GET '/a.bin?x=/../'
rseed missing GET /nope
echo "wrote $(ls "$out" | wc -l) seeds to $out"
