#!/bin/sh
# Usage: undocumented.sh MUTANTS_OUT_DIR DOC
# Fails (and lists them) if a mutant that cargo-mutants reports as missed is not in DOC's list
# of equivalent mutants, where each one is a line "- `FILE`: `MUTATION` — reason", MUTATION as
# cargo-mutants names it without its line:column (so the list survives edits elsewhere).
set -eu
out=$1
doc=$2
missed=$out/missed.txt
[ -f "$missed" ] || { echo "mutants: no $missed (did the run start?)"; exit 1; }
undocumented=$(sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: \(.*\)$/- `\1`: `\2`/p' "$missed" | sort -u | while IFS= read -r line; do
    grep -qF -- "$line" "$doc" || printf '%s\n' "$line"
done)
n=$(wc -l < "$missed")
if [ -n "$undocumented" ]; then
    echo "mutants: $n missed; these are neither caught by a test nor listed as equivalent in $doc:"
    printf '%s\n' "$undocumented"
    echo "Add a test that catches each one, or a line to the list saying why it changes nothing observable."
    exit 1
fi
echo "mutants: $n missed, every one listed as equivalent in $doc"
