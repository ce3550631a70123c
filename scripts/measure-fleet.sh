#!/bin/bash
# Run from the repository root after `cargo build --release`; EVAL is the evaluation sets folder.
# Labels/s of `glossa teacher encode` locally and through 1, 2, 3 local `glossa serve` instances.
set -u
BIN=${BIN:-target/release/glossa}
M=${M:-sentence-transformers/all-MiniLM-L6-v2}
W=$(mktemp -d); trap "rm -rf $W" EXIT
cat ${EVAL:-../shared/eval}/tatoeba/*-eng.eng | awk "!seen[\$0]++" | head -5000 > $W/texts.txt
wc -l $W/texts.txt
echo "load before: $(cat /proc/loadavg)"
GLOSSA_LOG=info $BIN teacher encode --model $M --input $W/texts.txt --cache $W/local 2>&1 | grep -o "[0-9]* texts in .*"
for k in ${KS:-1 2 3}; do
  pids=(); flags=()
  for i in $(seq 1 $k); do
    $BIN serve --model $M --addr 127.0.0.1:0 > $W/serve$i.out 2>/dev/null & pids+=($!)
  done
  for i in $(seq 1 $k); do
    until grep -q listening $W/serve$i.out; do sleep 0.2; done
    flags+=(--teacher-endpoint "$(head -1 $W/serve$i.out | sed 's/listening on //')")
  done
  echo "$k instances, load $(cat /proc/loadavg)"
  GLOSSA_LOG=info $BIN teacher encode --model $M --input $W/texts.txt --cache $W/remote$k "${flags[@]}" 2>&1 | grep -o "[0-9]* texts in .*"
  for p in "${pids[@]}"; do kill $p; done; wait 2>/dev/null
done
