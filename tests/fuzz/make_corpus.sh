#!/usr/bin/env bash
# Regenerates the seed corpus of decode_fuzzer from qamp-tp's own output plus hand-written
# malformed inputs. Usage: tests/fuzz/make_corpus.sh BUILD_DIR
# Every seed is: one selector byte (the spellings the client announced, 0x2d50 bits), then the
# payload that decode_fuzzer feeds to every decoder.
set -euo pipefail
build=${1:?usage: make_corpus.sh BUILD_DIR}
tp="$build/examples/tp/qamp-tp"
out="$(dirname "$0")/corpus"
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
