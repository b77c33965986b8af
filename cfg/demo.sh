#!/bin/bash
# The main job (`make demo`): MNIST (or Fashion-MNIST) end to end with the cfgs of this folder.
# Called by the Makefile with DATA, SEEDS, CUSTOMERS, DEMO_DIR, REPORT, BUILD (and optionally
# TEACHER_BATCHES / STUDENT_BATCHES to shorten training, EVAL_OPTS for dsn eval).
set -euo pipefail
bin=${BUILD:-build}
data=${DATA:-mnist}
read -r -a seeds <<< "${SEEDS:-0}"
read -r -a customers <<< "${CUSTOMERS:-alice bob}"
run=${DEMO_DIR:-build/demo/$data}
report=${REPORT:-report}
t0=$(date +%s)
steps=$(( 2 + ${#seeds[@]} * (2 + 3 * ${#customers[@]}) + 1 ))
step=0
say() {
    step=$((step + 1))
    local now=$(( $(date +%s) - t0 )) eta="?"
    [ $step -gt 1 ] && eta=$(( now * (steps - step + 1) / (step - 1) ))
    printf '\n[demo %d/%d] %s   (elapsed %ds, eta %ss)\n' "$step" "$steps" "$*" "$now" "$eta"
}
die() { echo "demo: $*" >&2; exit 1; }
for f in cfg/$data.data cfg/${data}_teacher.cfg cfg/${data}_student.cfg; do
    [ -f "$f" ] || die "$f is missing: DATA=$data has no cfgs"
done
mkdir -p "$run" "$report"

say "import $data"
"$bin/dsn" import "$data"

say "owner key"
[ -f "$run/owner.pem" ] || "$bin/dsn" keygen -o "$run/owner.pem"

manifest=()
for seed in "${seeds[@]}"; do
    dir=$run/seed$seed
    mkdir -p "$dir/backup"
    # this run's copies of the cfgs: its own backup folder, its own teacher, optional shorter schedules
    sed "s|^backup=.*|backup=$dir/backup/|" "cfg/$data.data" > "$dir/$data.data"
    sed ${TEACHER_BATCHES:+-e "s/^max_batches=.*/max_batches=$TEACHER_BATCHES/"} -e '' \
        "cfg/${data}_teacher.cfg" > "$dir/${data}_teacher.cfg"
    sed ${STUDENT_BATCHES:+-e "s/^max_batches=.*/max_batches=$STUDENT_BATCHES/"} \
        -e "s|^teacher_cfg=.*|teacher_cfg=$dir/${data}_teacher.cfg|" \
        -e "s|^teacher_weights=.*|teacher_weights=$dir/backup/${data}_teacher.weights|" \
        "cfg/${data}_student.cfg" > "$dir/${data}_student.cfg"

    say "seed $seed: train the teacher (log: $dir/teacher.log)"
    s0=$(date +%s)
    "$bin/darknet" classifier train "$dir/$data.data" "$dir/${data}_teacher.cfg" -seed "$seed" > "$dir/teacher.log" 2>&1 ||
        { tail -5 "$dir/teacher.log"; die "teacher training failed (seed $seed)"; }
    teacher_s=$(( $(date +%s) - s0 ))
    echo "teacher trained in ${teacher_s}s"

    say "seed $seed: issue serials for ${customers[*]}"
    for c in "${customers[@]}"; do
        [ -f "$dir/$c.sn" ] || "$bin/dsn" issue --key "$run/owner.pem" --owner "DSN demo" --customer "$c" \
            --model "$data-seed$seed" -o "$dir/$c.sn"
    done

    k=0
    for c in "${customers[@]}"; do
        k=$((k + 1))
        say "seed $seed: train $c's student (log: $dir/student_$c.log)"
        s0=$(date +%s)
        "$bin/darknet" classifier train "$dir/$data.data" "$dir/${data}_student.cfg" -seed "$((seed * 100 + k))" \
            -serial "$("$bin/dsn" serial --cert "$dir/$c.sn")" > "$dir/student_$c.log" 2>&1 ||
            { tail -5 "$dir/student_$c.log"; die "student training failed ($c, seed $seed)"; }
        mv "$dir/backup/${data}_student.weights" "$dir/backup/student_$c.weights"
        train_s=$(( $(date +%s) - s0 ))
        echo "$c: trained in ${train_s}s"
        printf '{"dsn_run": 1, "eval": "%s", "dataset": "%s", "seed": %d, "customer": "%s", "train_wall_seconds": %d, "train_log": "%s", "teacher_wall_seconds": %d, "teacher_log": "%s"}\n' \
            "$dir/eval_$c.json" "$data" "$seed" "$c" "$train_s" "$dir/student_$c.log" "$teacher_s" "$dir/teacher.log" > "$dir/run_$c.json"

        say "seed $seed: export $c's customer model"
        "$bin/dsn" export "$dir/${data}_student.cfg" "$dir/backup/student_$c.weights" -o "$dir/customer_$c" --name "${data}_customer" --force
    done

    for c in "${customers[@]}"; do
        say "seed $seed: evaluate $c's model"
        others=$(for o in "${customers[@]}"; do if [ "$o" != "$c" ]; then printf '%s,' "$dir/$o.sn"; fi; done | sed 's/,$//')
        # shellcheck disable=SC2086
        "$bin/dsn" eval --cfg "$dir/customer_$c/${data}_customer.cfg" --weights "$dir/customer_$c/${data}_customer.weights" \
            --cert "$dir/$c.sn" --pub "$run/owner.pub.pem" --data "$dir/$data.data" \
            --teacher-cfg "$dir/${data}_teacher.cfg" --teacher-weights "$dir/backup/${data}_teacher.weights" \
            ${others:+--others "$others"} --seed "$seed" --dataset "$data" $EVAL_OPTS \
            --json "$dir/eval_$c.json" --md "$dir/eval_$c.md"
        manifest+=("$dir/run_$c.json")
    done
done

say "report"
"$bin/dsn" report --out "$report" "${manifest[@]}"
echo "demo: done in $(( $(date +%s) - t0 ))s; report in $report/"
