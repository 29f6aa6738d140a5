#!/bin/sh
# Write the seed corpora of the fuzz targets from the golden files (OVS's own encodings):
#   corpus/decode_message/  every message of tests/golden/messages.golden, a sample of the
#                           FLOW_MODs of flows.golden and the experimenter/vendor errors of
#                           errors.golden, one binary message per file
#   corpus/parse_flow/      a sample of the flows of tests/golden/flows.txt, one per file
# `corpus/` is git-ignored so that fuzzing runs do not dirty the tree; the seeds are committed
# with `git add -f fuzz/corpus`. Usage: openflow/fuzz/seed-corpus.sh   (needs xxd)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gold=$here/../tests/golden
msg=$here/corpus/decode_message
flow=$here/corpus/parse_flow
mkdir -p "$msg" "$flow"

# messages.golden: "message: NAME" then "hex: HEX".
awk '/^message: /{name=$2} /^hex: /{print name, $2}' "$gold/messages.golden" |
while read -r name hex; do
    printf '%s' "$hex" | xxd -r -p >"$msg/msg-$name"
done

# Every 20th FLOW_MOD of flows.golden: the corpus spans its matches and actions.
awk '/^hex: /{n++; if (n % 20 == 1) print n, $2}' "$gold/flows.golden" |
while read -r n hex; do
    printf '%s' "$hex" | xxd -r -p >"$msg/flow_mod-$n"
done

# The OFPET_EXPERIMENTER (0xffff) and NXET_VENDOR (0xb0c2) forms of errors.golden.
grep -E '^0401[0-9a-f]{12}(ffff|b0c2)' "$gold/errors.golden" | awk 'NR % 16 == 1 {print NR, $1}' |
while read -r n hex; do
    printf '%s' "$hex" | xxd -r -p >"$msg/error-$n"
done

# Every 8th flow of flows.txt, as text.
grep -vE '^[[:space:]]*(#|$)' "$gold/flows.txt" | awk 'NR % 8 == 1 {print NR "\t" $0}' |
while IFS="$(printf '\t')" read -r n line; do
    printf '%s' "$line" >"$flow/flow-$n"
done
