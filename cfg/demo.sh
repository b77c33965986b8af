#!/bin/bash
# The main job (`make demo`): MNIST (or Fashion-MNIST) end to end with the cfgs of this folder.
# Called by the Makefile with DATA, SEEDS, CUSTOMERS, DEMO_DIR, REPORT, BUILD (and optionally
# TEACHER_BATCHES / STUDENT_BATCHES to shorten training, EVAL_OPTS for dsn eval, VARIANTS for
# extra students of the first customer on the first seed: VARIANTS="bits9 bits9_grl" trains
# cfg/<data>_student_bits9.cfg and cfg/<data>_student_bits9_grl.cfg, each reported as its own
# data set row "<data>-<variant>").
# CANDIDATES (default 2): training runs per customer, each with its own seed; `dsn select` keeps
# the one whose lock holds best on a quarter of the training images (never the test images the
# report uses) and with other random serials than the report's (README: Results).
# A run resumes: a teacher or student whose weights exist and whose cfg (and serial) are
# unchanged since it was trained is reused, not retrained; an evaluation of unchanged weights
# with the same options is kept.
set -euo pipefail
bin=${BUILD:-build}
data=${DATA:-mnist}
read -r -a seeds <<< "${SEEDS:-0}"
read -r -a customers <<< "${CUSTOMERS:-alice bob}"
read -r -a variants <<< "${VARIANTS:-}"
run=${DEMO_DIR:-build/demo/$data}
report=${REPORT:-report}
t0=$(date +%s)
# where the time goes: one line per step (seconds, what), written to $report/time.md at the end
times=$(mktemp)
trap 'rm -f "$times"' EXIT
timed() {   # timed WHAT CMD...: runs CMD, records its wall time under WHAT
    local what=$1 s0 rc=0
    shift
    s0=$(date +%s.%N)
    "$@" || rc=$?
    awk -v a="$(date +%s.%N)" -v b="$s0" -v w="$what" 'BEGIN { printf "%.1f\t%s\n", a - b, w }' >> "$times"
    return $rc
}
candidates=${CANDIDATES:-2}
# the valid serial's limit below the teacher when choosing (the issue's targets: 0.5 on MNIST, 1.0 on
# Fashion-MNIST; the lock's limits are the same for both)
drop=0.5; [ "$data" != fashion ] || drop=1.0
[[ "$candidates" =~ ^[1-9][0-9]?$ ]] || { echo "demo: CANDIDATES=$candidates: give 1 to 99 training runs per customer" >&2; exit 1; }
steps=$(( 2 + ${#seeds[@]} * (2 + candidates + 3 * ${#customers[@]}) + 3 * ${#variants[@]} + 1 ))
# students side by side when there are cores for them: PARALLEL=1 (default with 2 or more
# customers), each with nproc / customers threads; the same seed gives the same weights for the
# same PARALLEL setting and core count (thread counts change the order of float sums)
parallel=${PARALLEL:-$([ ${#customers[@]} -ge 2 ] && echo 1 || echo 0)}
student_threads=$(( $(nproc) / ${#customers[@]} ))
[ "$student_threads" -ge 1 ] || student_threads=1
step=0
say() {
    step=$((step + 1))
    local now=$(( $(date +%s) - t0 )) eta="?"
    [ $step -gt 1 ] && eta=$(( now * (steps - step + 1) / (step - 1) ))
    printf '\n[demo %d/%d] %s   (elapsed %ds, eta %ss)\n' "$step" "$steps" "$*" "$now" "$eta"
}
die() { echo "demo: $*" >&2; exit 1; }
# cert_fits CERT CFG: CERT exists and is for CFG's stamp geometry (a run resumes with its serials;
# a cfg whose stamp changed gets new ones). The geometry is the one `dsn issue --cfg` writes for
# CFG (its lines from bits: up to the key's hash, in a throwaway certificate), so the stamp
# options and their defaults are read by dsn alone.
cert_fits() {
    [ -f "$1" ] || return 1
    local probe rc=1
    probe=$(mktemp -d)
    geometry() { sed -n '/^bits: /,/^pubkey-sha256: /{/^pubkey-sha256: /!p}' "$1"; }
    "$bin/dsn" issue --key "$run/owner.pem" --owner probe --customer probe --model probe --cfg "$2" \
        -o "$probe/probe.sn" > /dev/null && [ "$(geometry "$1")" = "$(geometry "$probe/probe.sn")" ] && rc=0
    rm -rf "$probe"
    return $rc
}
for f in cfg/$data.data cfg/${data}_teacher.cfg cfg/${data}_student.cfg \
         $(for v in "${variants[@]}"; do echo "cfg/${data}_student_$v.cfg"; done); do
    [ -f "$f" ] || die "$f is missing: DATA=$data has no cfgs"
done
mkdir -p "$run" "$report"

# trained(WEIGHTS, STAMP_TEXT): true when WEIGHTS exist and were trained from exactly STAMP_TEXT
# (the cfg copy plus the serial), recorded in WEIGHTS.trained-from
trained() { [ -f "$1" ] && [ -f "$1.trained-from" ] && [ "$(cat "$1.trained-from")" = "$2" ]; }

say "import $data"
timed "import $data" "$bin/dsn" import "$data"
# MNIST: the shifted test set (rotations, shifts, thinner and thicker strokes, other writers),
# never trained on: fidelity under distribution shift (dsn eval --fidelity, per customer)
shift=
if [ "$data" = mnist ] && [ -f cfg/mnist-shift.data ]; then
    timed "import mnist-shift" "$bin/dsn" import mnist-shift
    shift=cfg/mnist-shift.data
fi
# the machine's sgemm ceiling (OpenBLAS, 2 threads, 1 s), printed beside the times so they compare
# across machines
sgemm=$(OPENBLAS_NUM_THREADS=2 "$bin/bench" sgemm 1024 1 2>/dev/null | sed -n 's/^RESULT .*gflops=\([0-9.]*\).*/\1/p')
echo "sgemm ceiling: ${sgemm:-?} GFLOP/s (2 threads)"

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
    # student_copy SRC DST: a student cfg pointed at this seed's teacher (shorter if asked)
    student_copy() {
        sed ${STUDENT_BATCHES:+-e "s/^max_batches=.*/max_batches=$STUDENT_BATCHES/"} \
            -e "s|^teacher_cfg=.*|teacher_cfg=$dir/${data}_teacher.cfg|" \
            -e "s|^teacher_weights=.*|teacher_weights=$dir/backup/${data}_teacher.weights|" "$1" > "$2"
    }
    student_copy "cfg/${data}_student.cfg" "$dir/${data}_student.cfg"

    say "seed $seed: train the teacher (log: $dir/teacher.log)"
    tw=$dir/backup/${data}_teacher.weights
    from="$(cat "$dir/${data}_teacher.cfg") seed $seed"
    if trained "$tw" "$from"; then
        teacher_s=$(cat "$tw.seconds")
        echo "teacher: reusing $tw (same cfg and seed; trained in ${teacher_s}s)"
    else
        s0=$(date +%s)
        timed "seed $seed: train the teacher" \
        "$bin/darknet" classifier train "$dir/$data.data" "$dir/${data}_teacher.cfg" -seed "$seed" > "$dir/teacher.log" 2>&1 ||
            { tail -5 "$dir/teacher.log"; die "teacher training failed (seed $seed)"; }
        teacher_s=$(( $(date +%s) - s0 ))
        echo "$teacher_s" > "$tw.seconds"
        printf '%s' "$from" > "$tw.trained-from"
        echo "teacher trained in ${teacher_s}s"
    fi

    say "seed $seed: issue serials for ${customers[*]}"
    for c in "${customers[@]}"; do
        cert_fits "$dir/$c.sn" "cfg/${data}_student.cfg" || "$bin/dsn" issue --key "$run/owner.pem" --owner "DSN demo" \
            --customer "$c" --model "$data-seed$seed" --cfg "cfg/${data}_student.cfg" --force -o "$dir/$c.sn"
    done

    # train_student NAME CFG CERT SEED [OUT]: trains (or reuses) the student into OUT (default
    # $dir/backup/student_NAME.weights; its wall time in .seconds); may run in the background.
    # Each student writes its checkpoints in its own folder (its own .data file's backup=): two
    # students of one cfg side by side would otherwise write, and move, the same file.
    train_student() {
        local name=$1 cfg=$2 cert=$3 sseed=$4
        local sw=${5:-$dir/backup/student_$name.weights} base bdir=$dir/backup/train_$name
        base=$(basename "$cfg" .cfg)
        local serial from train_s
        serial=$("$bin/dsn" serial --cert "$cert")
        from="$(cat "$cfg") seed $sseed serial $serial"
        if trained "$sw" "$from"; then
            train_s=$(cat "$sw.seconds")
            echo "$name: reusing $sw (same cfg, seed and serial; trained in ${train_s}s)"
        else
            local s0
            s0=$(date +%s)
            rm -rf "$bdir"
            mkdir -p "$bdir"
            sed "s|^backup=.*|backup=$bdir/|" "$dir/$data.data" > "$bdir/$data.data"
            timed "seed $seed: train $name's student" \
            "$bin/darknet" classifier train "$bdir/$data.data" "$cfg" -seed "$sseed" -serial "$serial" \
                > "$dir/student_$name.log" 2>&1 ||
                { tail -5 "$dir/student_$name.log"; die "student training failed ($name, seed $seed)"; }
            mv "$bdir/$base.weights" "$sw"
            train_s=$(( $(date +%s) - s0 ))
            echo "$train_s" > "$sw.seconds"
            printf '%s' "$from" > "$sw.trained-from"
            echo "$name: trained in ${train_s}s"
        fi
    }

    # finish_student NAME CFG CERT DATASET: its run manifest $dir/run_NAME.json and the customer's
    # model in $dir/customer_NAME (sealed to the certificate's serial)
    finish_student() {
        local name=$1 cfg=$2 cert=$3 dataset=$4
        local sw=$dir/backup/student_$name.weights train_s
        train_s=$(cat "$sw.seconds")
        printf '{"dsn_run": 1, "eval": "%s", "dataset": "%s", "seed": %d, "customer": "%s", "train_wall_seconds": %d, "train_log": "%s", "teacher_wall_seconds": %d, "teacher_log": "%s"}\n' \
            "$dir/eval_$name.json" "$dataset" "$seed" "$name" "$train_s" "$dir/student_$name.log" "$teacher_s" "$dir/teacher.log" > "$dir/run_$name.json"

        say "seed $seed: export $name's customer model"
        timed "seed $seed: export $name's model" \
        "$bin/dsn" export "$cfg" "$sw" -o "$dir/customer_$name" --name "${data}_customer" --cert "$cert" --force
        # the same model in the clear: the learned lock alone (make attacks' "open" rows; never shipped)
        "$bin/dsn" export "$cfg" "$sw" -o "$dir/customer_${name}_open" --name "${data}_customer" --no-seal --force > /dev/null
    }

    # evaluate NAME CERT DATASET OTHERS: dsn eval of $dir/customer_NAME into $dir/eval_NAME.json,
    # kept when the weights and the options are unchanged
    evaluate() {
        local name=$1 cert=$2 dataset=$3 others=$4 from
        from="$(cat "$dir/backup/student_$name.weights.trained-from") eval $EVAL_OPTS others $others"
        if trained "$dir/eval_$name.json" "$from"; then
            echo "$name: keeping $dir/eval_$name.json (same weights and options)"
            return
        fi
        # shellcheck disable=SC2086
        timed "seed $seed: evaluate $name's model" \
        "$bin/dsn" eval --cfg "$dir/customer_$name/${data}_customer.cfg" \
            --weights "$dir/customer_$name/${data}_customer.weights" \
            --cert "$cert" --pub "$run/owner.pub.pem" --data "$dir/$data.data" \
            --teacher-cfg "$dir/${data}_teacher.cfg" --teacher-weights "$dir/backup/${data}_teacher.weights" \
            ${others:+--others "$others"} --seed "$seed" --dataset "$dataset" $EVAL_OPTS \
            --json "$dir/eval_$name.json" --md "$dir/eval_$name.md"
        printf '%s' "$from" > "$dir/eval_$name.json.trained-from"
        [ -n "$shift" ] || return 0
        timed "seed $seed: fidelity of $name's model under shift" \
        "$bin/dsn" eval --cfg "$dir/customer_$name/${data}_customer.cfg" \
            --weights "$dir/customer_$name/${data}_customer.weights" \
            --cert "$cert" --pub "$run/owner.pub.pem" --data "$shift" \
            --teacher-cfg "$dir/${data}_teacher.cfg" --teacher-weights "$dir/backup/${data}_teacher.weights" \
            --seed "$seed" --dataset "$dataset-shift" --fidelity -q --json "$dir/shift_$name.json" --md "$dir/shift_$name.md"
    }

    # choose_student NAME CERT: of NAME's training runs (backup/student_NAME_runJ.weights), the
    # one whose lock holds best (dsn select on a quarter of the training images, with serials
    # seeded apart from the report's), copied to backup/student_NAME.weights; kept when the runs
    # are unchanged. Its table in $dir/select_NAME.json.
    choose_student() {
        local name=$1 cert=$2 sw=$dir/backup/student_$1.weights j from="" runs=() chosen
        for ((j = 0; j < candidates; j++)); do
            runs+=("$dir/select/${name}_run$j/${data}_customer.weights")
            from+="run $j: $(cat "$dir/backup/student_${name}_run$j.weights.trained-from")"$'\n'
        done
        from+="select seed $((seed + 1000)) of $candidates, valid at most $drop below the teacher"
        if [ -f "$sw" ] && [ -f "$sw.chosen-from" ] && [ "$(cat "$sw.chosen-from")" = "$from" ]; then
            echo "$name: keeping $sw ($(sed -n 's/.*"chosen": \([0-9]*\).*/run \1/p' "$dir/select_$name.json" | head -n 1))"
            return
        fi
        for ((j = 0; j < candidates; j++)); do
            "$bin/dsn" export "$dir/${data}_student.cfg" "$dir/backup/student_${name}_run$j.weights" \
                -o "$dir/select/${name}_run$j" --name "${data}_customer" --no-seal --force > /dev/null
        done
        chosen=$(timed "seed $seed: choose $name's model of $candidates runs" \
            "$bin/dsn" select --cfg "$dir/select/${name}_run0/${data}_customer.cfg" --cert "$cert" \
            --pub "$run/owner.pub.pem" --data "$dir/$data.data" --list "$dir/select.list" --seed "$((seed + 1000))" \
            --teacher-cfg "$dir/${data}_teacher.cfg" --teacher-weights "$dir/backup/${data}_teacher.weights" \
            --max-drop "$drop" --json "$dir/select_$name.json" -q "${runs[@]}") || die "choosing $name's model failed (seed $seed)"
        j=${chosen%/*}; j=${j##*_run}
        echo "$name: run $j chosen of runs 0-$((candidates - 1)) ($dir/select_$name.json)"
        cp "$dir/backup/student_${name}_run$j.weights" "$sw.tmp" && mv "$sw.tmp" "$sw"
        cp "$dir/backup/student_${name}_run$j.weights.seconds" "$sw.seconds"
        printf 'run %s of %s chosen: %s' "$j" "$candidates" "$(cat "$dir/backup/student_${name}_run$j.weights.trained-from")" > "$sw.trained-from"
        printf '%s' "$from" > "$sw.chosen-from"
    }

    # the students side by side, one core each (PARALLEL=0: one after the other on every core);
    # CANDIDATES runs per customer, each with its own seed (run 0: the seed and the training folder
    # name of a single run, so it is that run's model byte for byte)
    for ((j = 0; j < candidates; j++)); do
        k=0
        pids=()
        say "seed $seed: train run $j (of runs 0-$((candidates - 1))) of the students of ${customers[*]} (logs: $dir/student_*.log)"
        for c in "${customers[@]}"; do
            k=$((k + 1))
            name=$c; [ "$j" = 0 ] || name=${c}_run$j
            args=("$name" "$dir/${data}_student.cfg" "$dir/$c.sn" "$((seed * 100 + k + 1000 * j))" "$dir/backup/student_${c}_run$j.weights")
            if [ "$parallel" = 1 ]; then
                OMP_NUM_THREADS=$student_threads train_student "${args[@]}" &
                pids+=($!)
            else
                train_student "${args[@]}"
            fi
        done
        for p in "${pids[@]}"; do wait "$p" || die "a student's training failed (seed $seed): see $dir/student_*.log"; done
    done
    # the images the choice is made on: every fourth training image (never the report's test images)
    awk 'NR % 4 == 1' "$(sed -n 's/^train=//p' "$dir/$data.data")" > "$dir/select.list"
    for c in "${customers[@]}"; do
        say "seed $seed: choose $c's model of $candidates runs"
        choose_student "$c" "$dir/$c.sn"
        finish_student "$c" "$dir/${data}_student.cfg" "$dir/$c.sn" "$data"
    done

    for c in "${customers[@]}"; do
        say "seed $seed: evaluate $c's model"
        others=$(for o in "${customers[@]}"; do if [ "$o" != "$c" ]; then printf '%s,' "$dir/$o.sn"; fi; done | sed 's/,$//')
        evaluate "$c" "$dir/$c.sn" "$data" "$others"
        manifest+=("$dir/run_$c.json")
    done

    # variants: the first customer's student with another cfg (e.g. the paper's 3x3 serial),
    # each under its own serial of the cfg's length
    c=${customers[0]}
    [ "$seed" = "${seeds[0]}" ] || continue
    for v in "${variants[@]}"; do
        vcfg=$dir/${data}_student_$v.cfg
        student_copy "cfg/${data}_student_$v.cfg" "$vcfg"
        cert_fits "$dir/${c}_$v.sn" "$vcfg" || "$bin/dsn" issue --key "$run/owner.pem" --owner "DSN demo" \
            --customer "$c" --model "$data-$v-seed$seed" --cfg "$vcfg" --force -o "$dir/${c}_$v.sn"
        say "seed $seed: train ${c}_$v's student (log: $dir/student_${c}_$v.log)"
        train_student "${c}_$v" "$vcfg" "$dir/${c}_$v.sn" "$((seed * 100 + 51))"
        finish_student "${c}_$v" "$vcfg" "$dir/${c}_$v.sn" "$data-$v"
        say "seed $seed: evaluate ${c}_$v's model"
        evaluate "${c}_$v" "$dir/${c}_$v.sn" "$data-$v" ""
        manifest+=("$dir/run_${c}_$v.json")
    done
done

say "report"
timed "report" "$bin/dsn" report --out "$report" --max-drop "$drop" "${manifest[@]}"
# fidelity under distribution shift (MNIST): each customer's per-subset table, after the report
if [ -n "$shift" ]; then
    {
        printf '\n## Fidelity under distribution shift (%s, never trained on)\n\n' "$shift"
        for seed in "${seeds[@]}"; do
            for c in "${customers[@]}"; do
                f=$run/seed$seed/shift_$c.md
                [ -f "$f" ] || continue
                printf '### seed %s, %s\n\n' "$seed" "$c"
                sed -n '/^| subset/,/^$/p' "$f"
            done
        done
    } >> "$report/report.md"
fi
total=$(( $(date +%s) - t0 ))
{
    printf '# Where the time goes (make demo, DATA=%s, SEEDS=%s)\n\n' "$data" "${seeds[*]}"
    printf 'Total %d s on this machine (sgemm ceiling %s GFLOP/s on 2 threads, measured at the start; %d cores).\n' \
        "$total" "${sgemm:-?}" "$(nproc)"
    printf 'Steps reused from an earlier run (same cfg, seed and serial) take no time here.\n\n'
    printf '| step | seconds |\n|---|---:|\n'
    awk -F '\t' '{ printf "| %s | %.1f |\n", $2, $1 }' "$times"
} > "$report/time.md"
echo "demo: done in ${total}s (sgemm ceiling ${sgemm:-?} GFLOP/s); report in $report/ (time per step: $report/time.md)"
