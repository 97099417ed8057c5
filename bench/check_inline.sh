#!/bin/sh
# The header's inline slot helpers compile to exactly their raw baselines (issue 9: "the path the
# README shows within 1.10x of a raw atomic"): in the bench_hot binary, slot_add's instructions
# must equal raw_add's (one `lock add` a loop) and slot_set's raw_store's (one `mov`), addresses
# aside. A helper that became a call, a fence or a CAS loop fails this.
#
#   sh bench/check_inline.sh build/bench/bench_hot
set -eu
bin=${1:?usage: check_inline.sh BENCH_HOT_BINARY}
OBJDUMP=${OBJDUMP:-objdump}

# The instructions of function $1, without addresses, jump targets or alignment padding.
body() {
  "$OBJDUMP" -d --no-show-raw-insn "$bin" |
    awk -v f="<$1>:" '$2 == f { on = 1; next } on && /^$/ { exit } on { $1 = ""; print }' |
    sed -e 's/[0-9a-f]* <[^>]*>//g' -e 's/[[:space:]]*$//' |
    grep -v -E '^[[:space:]]*(nop|cs nop|data16|xchg +%ax,%ax)'
}

same() {
  a=$(body "$1"); b=$(body "$2")
  if [ -z "$a" ] || [ "$a" != "$b" ]; then
    echo "check_inline: $2 does not compile to the instructions of $1:"
    echo "== $1"; echo "$a"; echo "== $2"; echo "$b"
    exit 1
  fi
  printf '%s\n' "$a" | grep -q "$3" || { echo "check_inline: $1 has no '$3' instruction:"; echo "$a"; exit 1; }
  echo "check_inline: $2 compiles to the same $(printf '%s\n' "$a" | wc -l) instructions as $1 (with '$3')"
}

same raw_add slot_add 'lock add'
same raw_store slot_set 'mov'
