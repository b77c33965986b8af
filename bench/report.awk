# bench/report.awk: the tables of make bench from bench/run.sh's runs.tsv (one line per run:
# round build mode batch threads value mflop_img others steal; build is fast, stock, torch; value
# is img/s, or GFLOP/s for sgemm). Appends the markdown to md, writes the JSON records to json.
# Plain POSIX awk (mawk).
#   awk -F'\t' -v md=FILE -v json=FILE -v quiet=0.15 -v rounds=N -v ttrain=12.877 -v tinfer=4.443 \
#       -v sbatch=100 -f bench/report.awk runs.tsv

function sort_median(src, n,    i, j, x) {       # sorts src[1..n] in place, returns the median
    for (i = 2; i <= n; i++) {
        x = src[i]
        for (j = i - 1; j >= 1 && src[j] > x; j--) src[j + 1] = src[j]
        src[j + 1] = x
    }
    return n % 2 ? src[(n + 1) / 2] : (src[n / 2] + src[n / 2 + 1]) / 2
}
function stats(k,    i, a, n) {                  # median, min, max of configuration k
    n = cnt[k]
    for (i = 1; i <= n; i++) a[i] = list[k, i]
    MED = sort_median(a, n); MIN = a[1]; MAX = a[n]
}
function ratio(num, den,    r, a, n) {           # median over rounds of num/den (-1: no round has both)
    n = 0
    for (r = 1; r <= rounds; r++)
        if (((num, r) in val) && ((den, r) in val) && val[den, r] > 0) a[++n] = val[num, r] / val[den, r]
    return n ? sort_median(a, n) : -1
}
function key(b, m, bs, t) { return b SUBSEP m SUBSEP bs SUBSEP t }
function fmt(x, d) { return x < 0 ? "-" : sprintf("%." d "f", x) }
function jnum(x, d) { return x < 0 ? "null" : sprintf("%." d "f", x) }
function met(x, target) { return x < 0 ? "not measured" : (x >= target ? "met" : "NOT met") }

NR == 1 { next }
{
    k = key($2, $3, $4, $5)
    if (!(k in cnt)) { order[++nk] = k; cnt[k] = 0; omax[k] = 0 }
    list[k, ++cnt[k]] = $6
    val[k, $1] = $6
    mflop[k] = $7
    if ($8 > omax[k]) omax[k] = $8
    if ($8 > quiet) noisy++
    if ($8 > worst) worst = $8
    nruns++
}
END {
    for (i = 1; i <= nk; i++) {                 # the ceilings first: every row divides by them
        split(order[i], f, SUBSEP)
        if (f[2] == "sgemm") { stats(order[i]); ceil[f[4]] = MED; sgemm_n = f[3] }
    }

    print "## sgemm ceiling (cblas_sgemm " sgemm_n "^3, OpenBLAS)\n" >> md
    print "| threads | GFLOP/s median (min-max) | runs |" >> md
    print "|---|---|---|" >> md
    for (i = 1; i <= nk; i++) {
        split(order[i], f, SUBSEP)
        if (f[2] != "sgemm") continue
        stats(order[i])
        printf "| %s | %.1f (%.1f-%.1f) | %d |\n", f[4], MED, MIN, MAX, cnt[order[i]] >> md
    }

    print "\n## Darknet (img/s: median over rounds; GFLOP/s from the median)\n" >> md
    print "| build | mode | batch | threads | img/s median (min-max) | MFLOP/img | GFLOP/s | % sgemm ceiling | fast/stock | fast/torch | others, max cores | runs |" >> md
    print "|---|---|---|---|---|---|---|---|---|---|---|---|" >> md
    printf "[\n" > json
    nj = 0
    for (i = 1; i <= nk; i++) {
        k = order[i]
        split(k, f, SUBSEP)
        b = f[1]; m = f[2]; bs = f[3]; t = f[4]
        if (m == "sgemm") continue
        stats(k)
        mf = m == "teacher_train" ? ttrain : m == "infer" ? tinfer : m == "student_train" && mflop[k] > 0 ? mflop[k] : -1
        gf = mf > 0 ? MED * mf / 1000 : -1
        pc = gf > 0 && ceil[t] > 0 ? 100 * gf / ceil[t] : -1
        fs = b == "fast" ? ratio(k, key("stock", m, bs, t)) : -1
        ft = b == "fast" ? ratio(k, key("torch", m, bs, t)) : -1
        printf "| %s | %s | %s | %s | %.0f (%.0f-%.0f) | %s | %s | %s | %s | %s | %.2f | %d |\n", b, m, bs, t, MED, MIN, MAX,
               fmt(mf, 3), fmt(gf, 1), fmt(pc, 1), fs < 0 ? "-" : sprintf("%.2fx", fs), ft < 0 ? "-" : sprintf("%.2fx", ft),
               omax[k], cnt[k] >> md
        printf "%s  {\"net\": \"mnist\", \"mode\": \"%s\", \"batch\": %s, \"threads\": %s, \"build\": \"%s\", " \
               "\"img_s\": %.2f, \"min\": %.2f, \"max\": %.2f, \"rounds\": %d, \"mflop_img\": %s, \"gflops\": %s, " \
               "\"pct_ceiling\": %s, \"sgemm_gflops\": %s, \"fast_over_stock\": %s, \"fast_over_torch\": %s, " \
               "\"others_max_cores\": %.3f}", \
               nj++ ? ",\n" : "", m, bs, t, b, MED, MIN, MAX, cnt[k], jnum(mf, 3), jnum(gf, 2), jnum(pc, 2),
               jnum((t in ceil) ? ceil[t] : -1, 2), jnum(fs, 3), jnum(ft, 3), omax[k] > json
    }
    printf "\n]\n" > json

    print "\nstock Darknet has no OpenMP: its 2-thread runs use one core. Training is the cfg's optimizer" >> md
    print "(Adam with darknet_patch/0004, and in PyTorch; stock Darknet's CPU update is SGD-momentum). The" >> md
    print "student's MFLOP/img includes its teacher's forward on the valid rows. torch: bench/bench_torch.py," >> md
    print "the same cfgs built as torch modules (make bench PEERS=1). unseal rows: serials tried per second on a" >> md
    print "sealed file (the batch column is scrypt's cost, 0 for the second seal's one SHA-256)." >> md
    if (noisy) printf "\n**%d of %d runs had other processes using more than %s cores (worst %.2f): those numbers are contaminated.**\n", \
                      noisy, nruns, quiet, worst >> md

    print "\n## Targets (issues #5 and #16; ratios are medians of per-round ratios)\n" >> md
    k = key("fast", "teacher_train", 500, 2)
    r = ratio(k, key("torch", "teacher_train", 500, 2))
    printf "- teacher_train batch 500, 2 threads, Darknet/PyTorch: %s (target >= 3: %s)\n", r < 0 ? "-" : sprintf("%.2fx", r),
           met(r, 3) >> md
    pc = -1
    if ((k in cnt) && (2 in ceil) && ceil[2] > 0) { stats(k); pc = 100 * MED * ttrain / 1000 / ceil[2] }
    printf "- teacher_train batch 500, 2 threads, share of the sgemm ceiling: %s (target >= 60%%: %s)\n", \
           pc < 0 ? "-" : sprintf("%.1f%%", pc), met(pc, 60) >> md
    r = ratio(k, key("stock", "teacher_train", 500, 2))
    printf "- teacher_train batch 500, 2 threads, fast/stock: %s (target >= 7: %s)\n", r < 0 ? "-" : sprintf("%.2fx", r),
           met(r, 7) >> md
    r = ratio(key("fast", "student_train", sbatch, 2), key("fast", "teacher_train", sbatch, 2))
    printf "- student/teacher img/s at the student cfg's batch (%d), 2 threads: %s (target >= 0.9: %s)\n", sbatch, fmt(r, 2),
           met(r, 0.9) >> md
    r = ratio(key("fast", "student_train", sbatch, 2), key("torch", "student_train", sbatch, 2))
    printf "- student_train batch %d, 2 threads, Darknet/PyTorch: %s\n", sbatch, r < 0 ? "-" : sprintf("%.2fx", r) >> md
    best = -1; line = ""
    for (t = 1; t <= 2; t++) {
        k = key("fast", "infer", 1, t)
        if (!(k in cnt)) continue
        stats(k)
        line = line sprintf("%s%.0f img/s at %d thread%s", line == "" ? "" : ", ", MED, t, t > 1 ? "s" : "")
        if (MED > best) best = MED
    }
    printf "- infer batch 1: %s (target >= 8000: %s)\n", line == "" ? "not measured" : line, met(best, 8000) >> md
    k = key("fast", "stamp", 500, 1)
    if (k in cnt) { stats(k); printf "- stamp ([serial_stamp] forward alone, batch 500): %.0f ns per image\n", 1e9 / MED >> md }
    k2 = key("fast", "unseal", 0, 1); k3 = key("fast", "unseal", 14, 1)
    if ((k2 in cnt) && (k3 in cnt)) {
        stats(k2); v2 = MED; stats(k3); v3 = MED
        printf "- a thief's try of one serial on a sealed file, 1 thread: %.2f us (sealed=2, one SHA-256), %.1f ms (sealed=3, " \
               "scrypt at cost 14): %.0fx the work\n", 1e6 / v2, 1e3 / v3, v2 / v3 >> md
    }
}
