#!/bin/bash
# make attacks: the robustness and ownership study (issue #10) on the demo's customer models.
# Called by mk/attacks.mk with DATA, SEEDS (the attack seeds of the headline rows), RUN, REPORT,
# BUILD and OPTS (extra options for every dsn attack). Needs make demo's seed 0 (alice and bob).
#
# What it runs, on alice's model of the demo's seed 0 (the first customer), in the two forms the demo
# exports: as shipped (customer_alice: the weights sealed to her serial, all a thief without the
# serial holds) and open (customer_alice_open: the same student in the clear, as a customer who
# leaks the unsealed weights would; the learned lock alone, the paper's setting):
#   certificates  1,000 issued by the demo's owner key: alice's and bob's, and 998 more customers
#                 (fixed issue times: the same files on every run); 100 of them trace the attacked models
#   verify        alice's model with alice's certificate (expect verified), with bob's (expect not),
#                 the teacher with alice's (expect not), alice's model with its stamp layer removed
#                 from the cfg (expect verified)
#   trace         alice's and bob's models among the 1,000 certificates (timed)
#   attacks       as shipped: finetune (n = 100, 500, 1000, 10%, 40%; seeds SEEDS), transfer (n =
#                 100, 500, 1000; seeds SEEDS), reverse, keysearch (each serial unseals), blackbox; open: finetune and transfer (all sizes, one seed), prune,
#                 overwrite (the demo's student recipe), keysearch, reverse, blackbox, distill. reverse and
#                 blackbox run beside their controls (3 fresh networks, and for the sealed model 3
#                 copies re-sealed under random serials; blackbox, which is cheap, 16 of each)
# then dsn attack summary writes REPORT/attacks.md and REPORT/attacks.json; the curves go to REPORT/.
# The training runs are cached in RUN/cache_FORM.json (scratch baselines are shared by finetune and
# transfer, and finetune's reinit-fc is transfer's conv-trained). A second make attacks resumes: an
# attack whose model (cfg and weights, by SHA-256), dsn binary and command line are unchanged
# (RUN/KIND_FORM.cmd) is not run again; ATTACK_FRESH=1 (FRESH here) starts over, cache included.
set -euo pipefail
bin=${BUILD:-build}
data=${DATA:-mnist}
read -r -a seeds <<< "${SEEDS:-0 1 2 3 4}"
run=${RUN:-build/attacks/$data}
report=${REPORT:-report}
read -r -a opts <<< "${OPTS:-}"
demo=build/demo/$data
s0=$demo/seed0
t0=$(date +%s)
die() { echo "attacks: $*" >&2; exit 1; }
step() { printf '\n[attacks %s, %ds] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - t0 ))" "$*"; }

cfg=$s0/customer_alice/${data}_customer.cfg
weights=$s0/customer_alice/${data}_customer.weights
ocfg=$s0/customer_alice_open/${data}_customer.cfg
oweights=$s0/customer_alice_open/${data}_customer.weights
for f in "$cfg" "$weights" "$ocfg" "$oweights" "$s0/alice.sn" "$s0/bob.sn" "$demo/owner.pem" "$demo/owner.pub.pem" "$s0/$data.data" \
         "$s0/${data}_student.cfg" "$s0/${data}_teacher.cfg" "$s0/backup/${data}_teacher.weights"; do
    [ -f "$f" ] || die "$f is missing: run make demo DATA=$data first"
done
pub=$demo/owner.pub.pem
dataf=$s0/$data.data
mkdir -p "$run" "$report"
seed=${seeds[0]}
repeats=${#seeds[@]}

step "certificates: 1,000 issued customers (alice, bob and 998 more)"
# the other customers' stamps are alice's: the geometry of the student cfg her certificate was issued
# for (bits, corner, cell, margin, columns, frame, wrap); a new alice (a new demo run) means a new set
if [ ! -f "$run/certs/.complete" ] || ! cmp -s "$s0/alice.sn" "$run/certs/alice.sn"; then
    rm -rf "$run/certs" "$run/certs100"
    mkdir -p "$run/certs" "$run/certs100"
    cp "$s0/alice.sn" "$s0/bob.sn" "$run/certs/"
    # two at a time: each dsn start-up costs more than the signature
    seq -w 3 1000 | xargs -P 2 -I{} "$bin/dsn" issue --key "$demo/owner.pem" --owner "DSN demo" --customer "customer{}" \
        --model "$data-seed0" --cfg "$s0/${data}_student.cfg" --time "2026-01-01T00:00:00Z" \
        -o "$run/certs/customer{}.sn" > /dev/null
    touch "$run/certs/.complete"
fi
if [ ! -f "$run/certs100/alice.sn" ]; then
    mkdir -p "$run/certs100"
    cp "$run/certs/alice.sn" "$run/certs/bob.sn" "$run/certs100/"
    for i in $(seq 3 100); do cp "$run/certs/customer$(printf %04d "$i").sn" "$run/certs100/"; done
fi

# verify NAME CFG WEIGHTS CERT EXPECTED_EXIT
verify() {
    local rc=0
    "$bin/dsn" verify --cfg "$2" --weights "$3" --cert "$4" --pub "$pub" --data "$dataf" --json "$run/verify_$1.json" \
        > "$run/verify_$1.txt" || rc=$?
    tail -1 "$run/verify_$1.txt"
    [ "$rc" = "$5" ] || echo "attacks: UNEXPECTED: verify $1 exited $rc, expected $5 (see $run/verify_$1.txt)"
    results+=("$run/verify_$1.json")
}
results=()
step "verify: alice's model with alice's, bob's certificate; the teacher; the cfg without its stamp layer"
verify alice "$cfg" "$weights" "$s0/alice.sn" 0
verify alice_bobcert "$cfg" "$weights" "$s0/bob.sn" 1
verify teacher_alicecert "$s0/${data}_teacher.cfg" "$s0/backup/${data}_teacher.weights" "$s0/alice.sn" 1
# the whole [serial_stamp] section goes, whatever options it has
awk '/^\[/ { skip = ($0 == "[serial_stamp]") } !skip' "$cfg" > "$run/alice_nostamp.cfg"
verify alice_nostamp "$run/alice_nostamp.cfg" "$weights" "$s0/alice.sn" 0

step "trace: alice's and bob's models among 1,000 certificates"
for c in alice bob; do
    rc=0
    "$bin/dsn" trace --cfg "$s0/customer_$c/${data}_customer.cfg" --weights "$s0/customer_$c/${data}_customer.weights" \
        --certs "$run/certs" --pub "$pub" --data "$dataf" --json "$run/trace_$c.json" > "$run/trace_$c.txt" || rc=$?
    grep -e VERDICT -e "  time" "$run/trace_$c.txt" || true
    [ "$rc" = 0 ] || echo "attacks: UNEXPECTED: trace of $c's model exited $rc (see $run/trace_$c.txt)"
    results+=("$run/trace_$c.json")
done

common=(--data "$dataf" --cert "$s0/alice.sn" --pub "$pub" --seed "$seed" --png-dir "$report" -q)
# attack FORM KIND [options]: FORM sealed (as shipped) or open (unsealed)
attack() {
    local form=$1 kind=$2
    shift 2
    step "attack $kind, $form"
    local model=(--cfg "$cfg" --weights "$weights" --name "alice (sealed, as shipped)")
    [ "$form" = open ] && model=(--cfg "$ocfg" --weights "$oweights" --name "alice (open)")
    local args=("$kind" "${model[@]}" "${common[@]}" --cache "$run/cache_$form.json" "$@" "${opts[@]}"
                --json "$run/${kind}_$form.json" --md "$run/${kind}_$form.md")
    local json=$run/${kind}_$form.json cmd=$run/${kind}_$form.cmd
    # the command, the model's bytes (make demo rewrites the same export with a new time) and the
    # dsn that runs it (a rebuilt attack reruns; its training runs still come from the cache)
    local key
    key="$(sha256sum "${model[1]}" "${model[3]}" "$bin/dsn" | cut -c1-64 | tr '\n' ' ')${args[*]}"
    results+=("$json")
    if [ -f "$json" ] && [ -f "$cmd" ] && [ "$(cat "$cmd")" = "$key" ]; then
        echo "  done before (same model, dsn and command): $json"
        return
    fi
    rm -f "$cmd"
    "$bin/dsn" attack "${args[@]}"
    printf '%s' "$key" > "$cmd"
}
[ "${FRESH:-0}" = 1 ] && rm -f "$run"/cache_*.json "$run"/*.cmd
attack sealed finetune --sizes 100,500,1000,10%,40% --repeats "$repeats" --certs "$run/certs100"
attack sealed transfer --sizes 100,500,1000 --repeats "$repeats"
attack sealed reverse --png-images 100
attack sealed keysearch
attack sealed blackbox --controls 16
attack open finetune --repeats 1 --certs "$run/certs100"
# the second task: Fashion-MNIST when imported (make demo DATA=fashion, or dsn import fashion), its first
# 10,000 training and 2,000 test images (the import keeps the data set's own, shuffled order)
task=()
if [ "$data" = mnist ] && [ -f data/fashion/train.list ]; then
    head -n 10000 data/fashion/train.list > "$run/fashion_train10k.list"
    head -n 2000 data/fashion/test.list > "$run/fashion_test2k.list"
    sed -e "s|^train=.*|train=$run/fashion_train10k.list|" -e "s|^valid=.*|valid=$run/fashion_test2k.list|" \
        cfg/fashion.data > "$run/fashion.data"
    task=(--task-data "$run/fashion.data")
fi
attack open transfer --repeats 1 --certs "$run/certs100" "${task[@]}"
attack open prune --certs "$run/certs100"
attack open overwrite --student-cfg "$s0/${data}_student.cfg" --certs "$run/certs100"
attack open keysearch
attack open reverse
attack open blackbox --controls 16
attack open distill

step "summary: $report/attacks.md, $report/attacks.json"
"$bin/dsn" attack summary --json "$report/attacks.json" --md "$report/attacks.md" "${results[@]}"
echo "attacks: done in $(( $(date +%s) - t0 ))s; report in $report/attacks.md"
