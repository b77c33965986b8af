/* Bad input, table-driven: every case runs `dsn` or `darknet` (with DSN cfgs) on one hostile or
 * careless input in a fixture directory, and asserts three things: the exit status (dsn: 2 for an
 * input error, 1 for "checked and negative"; darknet: 1), a message naming the file, line or
 * option, and that every file of the fixture is byte-identical afterwards, with nothing added
 * (a SHA-256 manifest of the whole directory before and after).
 *
 * Then interrupted writes: export --force, import --force, stamp --force, keygen, issue and
 * Darknet's weights saves (darknet partial, as a training checkpoint) are killed (SIGKILL, injected by strace at the entry of a chosen system call: the rename, a link, an
 * fsync, an unlink, a rmdir, at every occurrence) and the outputs must be the old set or the new
 * set, complete, never a mix. Needs strace (Makefile's DEB_BUILD installs it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "darknet.h"
#include "dsn_import.h"
#include "dsn_layers.h"
#include "serial_stamp_layer.h"
#include "dsn_report.h"
#include "dsn_test.h"

#define pathf dsn_test_pathf

static char fix[256];          /* the fixture directory */
static char dk_bin[PATH_MAX];  /* absolute paths of the programs */
static const char *dsn_bin;

#define SERIAL16 "0000-00"     /* a valid 16-bit serial (value 0) */

/* ---- the fixture ------------------------------------------------------------------------------ */

static const char teacher_cfg[] =
    "[net]\nbatch=1\nheight=8\nwidth=8\nchannels=1\n\n[connected]\noutput=4\nactivation=linear\n\n"
    "[softmax]\ngroups=1\n";
static const char big_teacher_cfg[] =
    "[net]\nbatch=1\nheight=8\nwidth=8\nchannels=1\n\n[connected]\noutput=16\nactivation=linear\n\n"
    "[connected]\noutput=4\nactivation=linear\n\n[softmax]\ngroups=1\n";

/* The student, with "%s" for its [serial_stamp] options, "%s" for [distill_kl]'s and "%s" for
 * [gradient_reversal]'s and [masked_softmax]'s (each "" for the good student). */
static const char student_fmt[] =
    "[net]\nbatch=4\nsubdivisions=1\nheight=8\nwidth=8\nchannels=1\nlearning_rate=0.01\n\n"
    "[serial_stamp]\nbits=16\ncell=1\ncorner=tl\nmargin=1\nvalid=0.5\nforged=0.25\nnear=0.25\nnear_max=2\nseed=7\n%s\n"
    "[convolutional]\nfilters=3\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[connected]\noutput=4\nactivation=linear\n\n"
    "[distill_kl]\nteacher_cfg=teacher.cfg\nteacher_weights=teacher.weights\ntemperature=2\n%s\n"
    "[route]\nlayers=1\n\n[gradient_reversal]\nlambda=1\n%s\n[connected]\noutput=4\nactivation=linear\n\n"
    "[masked_softmax]\nselect=neg\n%s\n";

static void write_student(const char *name, const char *stamp, const char *kl, const char *grl, const char *ms)
{
    char text[4096];
    snprintf(text, sizeof text, student_fmt, stamp, kl, grl, ms);
    free(dsn_test_write(fix, name, text));
}

/* A student whose [distill_kl] lines are replaced by `kl` (teacher paths included). */
static void write_student_kl(const char *name, const char *kl)
{
    char text[4096];
    snprintf(text, sizeof text, student_fmt, "", "", "", "");
    char *at = strstr(text, "teacher_cfg=teacher.cfg\nteacher_weights=teacher.weights\ntemperature=2\n");
    char rest[4096];
    snprintf(rest, sizeof rest, "%s", strstr(at, "\n[route]"));
    snprintf(at, sizeof text - (size_t)(at - text), "%s%s", kl, rest);
    free(dsn_test_write(fix, name, text));
}

static void save_random_weights(const char *cfg, const char *weights, unsigned seed)
{
    char path[512], out[512];
    pathf(path, sizeof path, "%s/%s", fix, cfg);
    pathf(out, sizeof out, "%s/%s", fix, weights);
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(fix), 0);   /* the student names its teacher relative to the fixture */
    srand(seed);
    setenv("DSN_SERIAL", SERIAL16, 1);
    network *net = parse_network_cfg(path);
    for(int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        for(int k = 0; l->type == CONNECTED && k < l->outputs; ++k) l->biases[k] = rand() / (float)RAND_MAX - .5f;
    }
    save_weights(net, out);
    free_network(net);
    unsetenv("DSN_SERIAL");
    assert_int_equal(chdir(cwd), 0);
}

/* dst = the first `keep` bytes of src, then `extra` bytes of 0x7f (NaN when at float positions:
 * keep = 20, the header, and extra = the rest gives an all-NaN network) */
static void derive_weights(const char *src, const char *dst, long keep, long extra, int nan_fill)
{
    char a[512], b[512];
    pathf(a, sizeof a, "%s/%s", fix, src);
    pathf(b, sizeof b, "%s/%s", fix, dst);
    FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
    assert_non_null(in);
    assert_non_null(out);
    int c;
    for(long i = 0; (c = getc(in)) != EOF; ++i) {
        if(keep >= 0 && i >= keep) {
            if(nan_fill) putc(0xff, out);
            continue;
        }
        putc(c, out);
    }
    for(long i = 0; i < extra; ++i) putc(0x7f, out);
    fclose(in);
    fclose(out);
}

/* Runs a shell command in the fixture with $DK and $DSN set; returns the exit status. */
static int run_in(const char *dir, char *out, size_t len, const char *cmd)
{
    /* Darknet's commands never free their network: no leak report from them under the sanitizers */
    return dsn_test_run(out, len, "cd '%s' && DK='env ASAN_OPTIONS=detect_leaks=0 %s' && DSN='%s' && %s", dir, dk_bin,
                        dsn_bin, cmd);
}

static void must(const char *cmd)
{
    char out[16384];
    int rc = run_in(fix, out, sizeof out, cmd);
    if(rc != 0) fail_msg("fixture: '%s' failed (%d):\n%s", cmd, rc, out);
}

/* Bad cfgs, written into the fixture (so they are part of what must stay unchanged). */
static const struct { const char *name, *text; } bad_cfgs[] = {
    {"c_before.cfg", "batch=1\n[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=4\n"},
    {"c_empty.cfg", ""},
    {"c_comments.cfg", "# only comments\n; and this\n\n"},
    {"c_nosize.cfg", "[net]\nbatch=1\n[connected]\noutput=4\n"},
    {"c_noeq.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput\n"},
    {"c_emptyval.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=\n"},
    {"c_nokey.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\n=4\n"},
    {"c_twice.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=4\noutput=5\n"},
    {"c_section.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[wibble]\nx=1\n"},
    {"c_header.cfg", "[net\nheight=8\n"},
    {"c_unused.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[convolutional]\nfilters=2\nszie=3\n"},
    {"c_notint.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[convolutional]\nfilters=abc\n"},
    {"c_lrnan.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\nlearning_rate=nan\n[connected]\noutput=4\n"},
    {"c_first.cfg", "[connected]\noutput=4\n[net]\nheight=8\nwidth=8\nchannels=1\n"},
    {"c_nolayers.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n"},
    {"c_batch0.cfg", "[net]\nbatch=0\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=4\n"},
    {"c_subdiv.cfg", "[net]\nbatch=2\nsubdivisions=4\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=4\n"},
    {"c_width.cfg", "[net]\nheight=8\nwidth=100000\nchannels=1\n[connected]\noutput=4\n"},
    {"c_huge.cfg", "[net]\nheight=65536\nwidth=65536\nchannels=3\n[connected]\noutput=4\n"},
    {"c_ksize.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[convolutional]\nfilters=2\nsize=11\n"},
    {"c_groups.cfg", "[net]\nheight=8\nwidth=8\nchannels=3\n[convolutional]\nfilters=4\nsize=3\ngroups=2\n"},
    {"c_act.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=4\nactivation=sigmoidal\n"},
    {"c_route.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=4\n[route]\nlayers=-5\n"},
    {"c_routenone.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=4\n[route]\n"},
    {"c_dropout.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=4\n[dropout]\nprobability=1\n"},
    {"c_softgroups.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=10\n[softmax]\ngroups=3\n"},
    {"c_stride.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[maxpool]\nsize=2\nstride=0\n"},
    {"c_output0.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=0\n"},
    {"c_policy.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\npolicy=sometimes\n[connected]\noutput=4\n"},
    {"c_steps.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\npolicy=steps\nsteps=10,20\nscales=.1\n[connected]\noutput=4\n"},
    {"c_cost.cfg", "[net]\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=4\n[cost]\ntype=hinge\n"},
    {"c_batchnorm.cfg", "[net]\ninputs=16\n[batchnorm]\n"},
    {"c_costonly.cfg", "[net]\ninputs=8\n[cost]\n"},
};

/* Student variants: file, [serial_stamp] extra lines, [distill_kl] extra, [gradient_reversal]
 * extra, [masked_softmax] extra (the extra lines replace nothing: a key repeated from the good
 * student is itself an error, so the variants set keys the good student leaves at their default) */
static const struct { const char *name, *stamp, *kl, *grl, *ms; } students[] = {
    {"s_nearone.cfg", "near_one=2\n", "", "", ""},
    {"s_mine.cfg", "mine=2\n", "", "", ""},
    {"s_nearmax.cfg", "", "", "", ""},   /* rewritten below: near_max=0 */
    {"s_gamma.cfg", "", "", "gamma=1e38\n", ""},
    {"s_gammanan.cfg", "", "", "gamma=nan\n", ""},
    {"s_hard.cfg", "", "hard=inf\n", "", ""},
    {"s_push.cfg", "", "push=-1\n", "", ""},
    {"s_push_nan.cfg", "", "push=nan\n", "", ""},
    {"s_norm.cfg", "", "normalize=2\n", "", ""},
    {"s_scale.cfg", "", "", "", "scale=nan\n"},
    {"s_msnorm.cfg", "", "", "", "normalize=-1\n"},
    {"s_stampopt.cfg", "colour=red\n", "", "", ""},
    {"s_sealed4.cfg", "sealed=4\n", "", "", ""},
    {"s_nononce.cfg", "sealed=3\n", "", "", ""},
    {"s_shortnonce.cfg", "sealed=3\nseal_nonce=00ff\n", "", "", ""},
    {"s_nonce2.cfg", "sealed=2\nseal_nonce=000102030405060708090a0b0c0d0e0f\n", "", "", ""},
    {"s_nocost.cfg", "sealed=3\nseal_nonce=000102030405060708090a0b0c0d0e0f\n", "", "", ""},
    {"s_cost99.cfg", "sealed=3\nseal_nonce=000102030405060708090a0b0c0d0e0f\nseal_cost=99\n", "", "", ""},
    {"s_klopt.cfg", "", "temprature=4\n", "", ""},
};

/* The good student with one line replaced (`from` -> `to`). */
static void write_student_edit(const char *name, const char *from, const char *to)
{
    char text[4096], edited[4096];
    snprintf(text, sizeof text, student_fmt, "", "", "", "");
    char *at = strstr(text, from);
    assert_non_null(at);
    snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    free(dsn_test_write(fix, name, edited));
}

static const struct { const char *name, *from, *to; } edits[] = {
    {"s_validnan.cfg", "valid=0.5", "valid=nan"},
    {"s_forgedinf.cfg", "forged=0.25", "forged=inf"},
    {"s_nearneg.cfg", "near=0.25", "near=-0.1"},
    {"s_sum.cfg", "forged=0.25", "forged=0.45"},
    {"s_bitsempty.cfg", "bits=16", "bits="},
    {"s_bits3.cfg", "bits=16", "bits=3"},
    {"s_bitsx.cfg", "bits=16", "bits=16x"},
    {"s_corner.cfg", "corner=tl", "corner=middle"},
    {"s_nearmax.cfg", "near_max=2", "near_max=0"},
    {"s_seed.cfg", "seed=7", "seed=seven"},
    {"s_cell.cfg", "cell=1", "cell=-1"},
    {"s_second.cfg", "[serial_stamp]", "[connected]\noutput=64\n\n[serial_stamp]"},
    {"s_lambda.cfg", "lambda=1", "lambda=nan"},
    {"s_temp.cfg", "temperature=2", "temperature=nan"},
    {"s_temp0.cfg", "temperature=2", "temperature=0"},
    {"s_templarge.cfg", "temperature=2", "temperature=1e38"},
    {"s_select.cfg", "select=neg", "select=most"},
};

static void build_fixture(void)
{
    dsn_test_tmpdir(fix, sizeof fix);
    free(dsn_test_write(fix, "teacher.cfg", teacher_cfg));
    save_random_weights("teacher.cfg", "teacher.weights", 1);
    free(dsn_test_write(fix, "big_teacher.cfg", big_teacher_cfg));
    save_random_weights("big_teacher.cfg", "big_teacher.weights", 2);
    write_student("student.cfg", "", "", "", "");
    save_random_weights("student.cfg", "student.weights", 3);
    for(size_t i = 0; i < sizeof bad_cfgs / sizeof bad_cfgs[0]; ++i)
        free(dsn_test_write(fix, bad_cfgs[i].name, bad_cfgs[i].text));
    for(size_t i = 0; i < sizeof students / sizeof students[0]; ++i)
        write_student(students[i].name, students[i].stamp, students[i].kl, students[i].grl, students[i].ms);
    for(size_t i = 0; i < sizeof edits / sizeof edits[0]; ++i)
        write_student_edit(edits[i].name, edits[i].from, edits[i].to);
    /* teachers that are not teachers */
    write_student_kl("s_tself.cfg", "teacher_cfg=s_tself.cfg\nteacher_weights=teacher.weights\n");
    write_student_kl("s_tstudent.cfg", "teacher_cfg=student.cfg\nteacher_weights=student.weights\n");
    write_student_kl("s_tdir.cfg", "teacher_cfg=sub\nteacher_weights=teacher.weights\n");
    write_student_kl("s_tmissing.cfg", "teacher_cfg=nowhere.cfg\nteacher_weights=teacher.weights\n");
    write_student_kl("s_ttrunc.cfg", "teacher_cfg=teacher.cfg\nteacher_weights=teacher.trunc.weights\n");
    write_student_kl("s_tempty.cfg", "teacher_cfg=teacher.cfg\nteacher_weights=empty.weights\n");
    write_student_kl("s_tbig.cfg", "teacher_cfg=teacher.cfg\nteacher_weights=big_teacher.weights\n");
    write_student_kl("s_tbadcfg.cfg", "teacher_cfg=c_before.cfg\nteacher_weights=teacher.weights\n");
    /* weights */
    derive_weights("teacher.weights", "teacher.trunc.weights", 60, 0, 0);
    derive_weights("teacher.weights", "empty.weights", 0, 0, 0);
    derive_weights("student.weights", "student.trunc.weights", 100, 0, 0);
    derive_weights("student.weights", "student.long.weights", -1, 16, 0);
    derive_weights("student.weights", "student.nan.weights", 20, 0, 1);
    derive_weights("student.weights", "student.short.weights", 10, 0, 0);
    char p[512];
    pathf(p, sizeof p, "%s/sub", fix);
    assert_int_equal(mkdir(p, 0755), 0);
    /* keys, a certificate for the student's stamp, the customer model, images */
    must("$DSN keygen -o owner.pem >/dev/null");
    must("$DSN issue --key owner.pem --owner Owner --customer alice --model tiny --bits 16 --cell 1 "
         "--corner tl --margin 1 --size 8x8 -o alice.sn >/dev/null");
    must("$DSN export --no-seal student.cfg student.weights -o customer --name tiny >/dev/null");
    free(dsn_test_make_dataset(fix, 4, 2, 8, 8, 5));
    must("printf '[net]\\nheight=8\\000\\n' > c_nul.cfg");
    must("cp img/0_alpha.png in.png && cp in.png stamped.png && mkdir imgs && cp img/0_bravo.png imgs/a.png "
         "&& cp img/1_bravo.png imgs/b.png && ls \"$PWD\"/imgs/*.png > imgs.list");
    /* every other image missing, 64 to a batch (drawn at random): Darknet's 32 loader threads
       decode images while others fail */
    must("sed 's/batch=1/batch=64/' teacher.cfg > t_batch.cfg && for i in 1 2 3 4; do cat train.list; done "
         "| awk '{ print; print ENVIRON[\"PWD\"] \"/nowhere/\" NR \".png\" }' > missing.list "
         "&& sed 's#^train=.*#train='\"$PWD\"'/missing.list#' set.data > missing.data");
    must("printf 'not an image\\n' > img/9_alpha.png && (cat train.list; echo \"$PWD/img/9_alpha.png\") > notimage.list");
    /* a certificate with a right-to-left override in the customer's name (signature irrelevant) */
    must("sed 's/^customer: alice$/customer: al\\xe2\\x80\\xaeice/' alice.sn > bidi.sn");
    must("sed 's/^customer: alice$/customer: alice\\xc2\\xa0/' alice.sn > nbsp.sn");
}

/* ---- the manifest: every path, its type, size and SHA-256 ------------------------------------- */

static void manifest_walk(const char *dir, const char *rel, char **buf, size_t *len, size_t *cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    char *names[1024];
    int n = 0;
    while((e = readdir(d))) {
        if(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        assert_true(n < 1024);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for(int i = 0; i < n; ++i) for(int j = i + 1; j < n; ++j) if(strcmp(names[i], names[j]) > 0) {
        char *t = names[i]; names[i] = names[j]; names[j] = t;
    }
    for(int i = 0; i < n; ++i) {
        char p[PATH_MAX], r[PATH_MAX], line[PATH_MAX + 128], hex[65] = "-", err[256];
        struct stat st;
        pathf(p, sizeof p, "%s/%s", dir, names[i]);
        pathf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        assert_int_equal(lstat(p, &st), 0);
        if(S_ISREG(st.st_mode)) assert_int_equal(dsn_file_sha256_hex(hex, p, err, sizeof err), 0);
        int m = snprintf(line, sizeof line, "%s %o %lld %s\n", r, (unsigned)st.st_mode, (long long)st.st_size, hex);
        while(*len + (size_t)m + 1 > *cap) {
            *cap *= 2;
            *buf = realloc(*buf, *cap);
        }
        memcpy(*buf + *len, line, (size_t)m + 1);
        *len += (size_t)m;
        if(S_ISDIR(st.st_mode)) manifest_walk(p, r, buf, len, cap);
        free(names[i]);
    }
}

static char *manifest(const char *dir)
{
    size_t len = 0, cap = 1 << 14;
    char *buf = malloc(cap);
    buf[0] = '\0';
    manifest_walk(dir, "", &buf, &len, &cap);
    return buf;
}

/* The first line where a and b differ, for the failure message. */
static void first_difference(char *out, size_t len, const char *a0, const char *b0)
{
    size_t i = 0;
    while(a0[i] && a0[i] == b0[i]) ++i;
    while(i > 0 && a0[i - 1] != '\n') --i;
    snprintf(out, len, "before: %.120s\nafter:  %.120s", a0 + i, b0 + i);
}

/* ---- the cases -------------------------------------------------------------------------------- */

typedef struct bad_case {
    const char *cmd;     /* run in the fixture: $DK is darknet, $DSN is dsn */
    int rc;              /* expected exit status */
    const char *says[2]; /* substrings the output must hold (NULL: none) */
} bad_case;

#define PREDICT "$DK classifier predict set.data "
#define S16 " -serial " SERIAL16

static const bad_case cases[] = {
    /* controls: good inputs pass (and write nothing), so the harness can tell */
    {PREDICT "customer/tiny.cfg customer/tiny.weights in.png" S16, 0, {"in.png: Predicted", NULL}},
    {"$DSN verify-cert alice.sn --pub owner.pub.pem", 0, {"valid", NULL}},
    /* Darknet's cfg reader */
    {PREDICT "c_before.cfg x in.png", 1, {"c_before.cfg:1:", "before the first [section]"}},
    {PREDICT "c_empty.cfg x in.png", 1, {"c_empty.cfg", "no [sections]"}},
    {PREDICT "c_comments.cfg x in.png", 1, {"c_comments.cfg", "no [sections]"}},
    {PREDICT "c_nosize.cfg x in.png", 1, {"c_nosize.cfg", "needs height, width and channels"}},
    {PREDICT "sub x in.png", 1, {"sub", "Is a directory"}},
    {PREDICT "nowhere.cfg x in.png", 1, {"nowhere.cfg", "No such file"}},
    {PREDICT "/dev/zero x in.png", 1, {"/dev/zero", "NUL byte"}},
    {PREDICT "c_nul.cfg x in.png", 1, {"c_nul.cfg", "contains a NUL byte at byte 15"}},
    {PREDICT "c_noeq.cfg x in.png", 1, {"c_noeq.cfg:6:", "'output' is not key=value"}},
    {PREDICT "c_emptyval.cfg x in.png", 1, {"c_emptyval.cfg:6:", "output= has an empty value"}},
    {PREDICT "c_nokey.cfg x in.png", 1, {"c_nokey.cfg:6:", "no key"}},
    {PREDICT "c_twice.cfg x in.png", 1, {"c_twice.cfg:7:", "output is set twice"}},
    {PREDICT "c_section.cfg x in.png", 1, {"c_section.cfg", "unknown section [wibble]"}},
    {PREDICT "c_header.cfg x in.png", 1, {"c_header.cfg:1:", "not a [section] header"}},
    {PREDICT "c_unused.cfg x in.png", 1, {"c_unused.cfg:7:", "szie=3 is not an option of [convolutional]"}},
    {PREDICT "c_notint.cfg x in.png", 1, {"c_notint.cfg:6:", "filters=abc: not a whole number"}},
    {PREDICT "c_lrnan.cfg x in.png", 1, {"c_lrnan.cfg:5:", "learning_rate=nan: not a finite number"}},
    {PREDICT "c_first.cfg x in.png", 1, {"c_first.cfg", "must be [net]"}},
    {PREDICT "c_nolayers.cfg x in.png", 1, {"c_nolayers.cfg", "no layers"}},
    {PREDICT "c_batch0.cfg x in.png", 1, {"c_batch0.cfg:2:", "batch=0"}},
    {PREDICT "c_subdiv.cfg x in.png", 1, {"c_subdiv.cfg:3:", "subdivisions=4"}},
    {PREDICT "c_width.cfg x in.png", 1, {"c_width.cfg:3:", "width=100000"}},
    {PREDICT "c_huge.cfg x in.png", 1, {"c_huge.cfg", "too large"}},
    {PREDICT "c_ksize.cfg x in.png", 1, {"c_ksize.cfg:7:", "size=11: larger than"}},
    {PREDICT "c_groups.cfg x in.png", 1, {"c_groups.cfg:8:", "groups=2: must divide"}},
    {PREDICT "c_act.cfg x in.png", 1, {"c_act.cfg:7:", "activation=sigmoidal"}},
    {PREDICT "c_route.cfg x in.png", 1, {"c_route.cfg:8:", "layers=-5: entry 1 names no earlier layer"}},
    {PREDICT "c_routenone.cfg x in.png", 1, {"c_routenone.cfg", "layers= is missing"}},
    {PREDICT "c_dropout.cfg x in.png", 1, {"c_dropout.cfg:8:", "probability=1"}},
    {PREDICT "c_softgroups.cfg x in.png", 1, {"c_softgroups.cfg:8:", "groups=3: must divide"}},
    {PREDICT "c_stride.cfg x in.png", 1, {"c_stride.cfg:7:", "stride=0"}},
    {PREDICT "c_output0.cfg x in.png", 1, {"c_output0.cfg:6:", "output=0"}},
    {PREDICT "c_policy.cfg x in.png", 1, {"c_policy.cfg:5:", "policy=sometimes"}},
    {PREDICT "c_steps.cfg x in.png", 1, {"c_steps.cfg:7:", "scales=.1: needs as many entries"}},
    {PREDICT "c_cost.cfg x in.png", 1, {"c_cost.cfg:8:", "type=hinge"}},
    {PREDICT "c_batchnorm.cfg x in.png", 1, {"c_batchnorm.cfg", "[batchnorm]: the layer before does not output an image"}},
    {PREDICT "c_costonly.cfg x in.png", 1, {"c_costonly.cfg", "every layer is a [cost]"}},
    /* the DSN sections' options */
    {PREDICT "s_validnan.cfg x in.png" S16, 1, {"s_validnan.cfg:", "valid=nan: must be a finite number in [0, 1]"}},
    {PREDICT "s_forgedinf.cfg x in.png" S16, 1, {"s_forgedinf.cfg:", "forged=inf"}},
    {PREDICT "s_nearneg.cfg x in.png" S16, 1, {"s_nearneg.cfg:", "near=-0.1"}},
    {PREDICT "s_nearone.cfg x in.png" S16, 1, {"s_nearone.cfg:", "near_one=2"}},
    {PREDICT "s_sum.cfg x in.png" S16, 1, {"s_sum.cfg", "sum to at most 1"}},
    {PREDICT "s_bitsempty.cfg x in.png" S16, 1, {"s_bitsempty.cfg:", "bits= has an empty value"}},
    {PREDICT "s_bits3.cfg x in.png" S16, 1, {"s_bits3.cfg:", "bits=3: must be a whole number in [4, 256]"}},
    {PREDICT "s_bitsx.cfg x in.png" S16, 1, {"s_bitsx.cfg:", "bits=16x"}},
    {PREDICT "s_corner.cfg x in.png" S16, 1, {"s_corner.cfg", "corner=middle"}},
    {PREDICT "s_nearmax.cfg x in.png" S16, 1, {"s_nearmax.cfg:", "near_max=0"}},
    {PREDICT "s_mine.cfg x in.png" S16, 1, {"s_mine.cfg:", "mine=2"}},
    {PREDICT "s_seed.cfg x in.png" S16, 1, {"s_seed.cfg:", "seed=seven"}},
    {PREDICT "s_cell.cfg x in.png" S16, 1, {"s_cell.cfg:", "cell=-1"}},
    {PREDICT "s_second.cfg x in.png" S16, 1, {"s_second.cfg", "must be the first layer"}},
    {PREDICT "s_stampopt.cfg x in.png" S16, 1, {"s_stampopt.cfg:", "colour=red is not an option of [serial_stamp]"}},
    {PREDICT "s_sealed4.cfg x in.png" S16, 1, {"s_sealed4.cfg", "sealed=4: a seal version 0..3"}},
    {PREDICT "s_nononce.cfg x in.png" S16, 1, {"s_nononce.cfg", "sealed=3 needs seal_nonce= of 32 hex digits"}},
    {PREDICT "s_nocost.cfg x in.png" S16, 1, {"s_nocost.cfg", "sealed=3 needs seal_cost= 1..20"}},
    {PREDICT "s_cost99.cfg x in.png" S16, 1, {"s_cost99.cfg", "seal_cost= 1..20 (scrypt's log2 N; dsn export writes it), not 99"}},
    {PREDICT "s_shortnonce.cfg x in.png" S16, 1, {"s_shortnonce.cfg", "seal_nonce= of 32 hex digits"}},
    {PREDICT "s_nonce2.cfg x in.png" S16, 1, {"s_nonce2.cfg", "seal_nonce= goes with sealed=3 only"}},
    {PREDICT "s_lambda.cfg x in.png" S16, 1, {"s_lambda.cfg:", "lambda=nan"}},
    {PREDICT "s_gamma.cfg x in.png" S16, 1, {"s_gamma.cfg:", "gamma=1e38"}},
    {PREDICT "s_gammanan.cfg x in.png" S16, 1, {"s_gammanan.cfg:", "gamma=nan"}},
    {PREDICT "s_temp.cfg x in.png" S16, 1, {"s_temp.cfg:", "temperature=nan"}},
    {PREDICT "s_temp0.cfg x in.png" S16, 1, {"s_temp0.cfg:", "temperature=0"}},
    {PREDICT "s_templarge.cfg x in.png" S16, 1, {"s_templarge.cfg:", "temperature=1e38"}},
    {PREDICT "s_hard.cfg x in.png" S16, 1, {"s_hard.cfg:", "hard=inf"}},
    {PREDICT "s_push.cfg x in.png" S16, 1, {"s_push.cfg:", "push=-1"}},
    {PREDICT "s_push_nan.cfg x in.png" S16, 1, {"s_push_nan.cfg:", "push=nan"}},
    {PREDICT "s_norm.cfg x in.png" S16, 1, {"s_norm.cfg:", "normalize=2"}},
    {PREDICT "s_klopt.cfg x in.png" S16, 1, {"s_klopt.cfg:", "temprature=4 is not an option of [distill_kl]"}},
    {PREDICT "s_scale.cfg x in.png" S16, 1, {"s_scale.cfg:", "scale=nan"}},
    {PREDICT "s_msnorm.cfg x in.png" S16, 1, {"s_msnorm.cfg:", "normalize=-1"}},
    {PREDICT "s_select.cfg x in.png" S16, 1, {"s_select.cfg", "select=most"}},
    /* the teacher [distill_kl] loads */
    {PREDICT "s_tself.cfg x in.png" S16, 1, {"teacher_cfg=s_tself.cfg", "names this student cfg itself"}},
    {PREDICT "s_tstudent.cfg x in.png" S16, 1, {"student.cfg is the teacher of s_tstudent.cfg", "itself a student"}},
    {PREDICT "s_tdir.cfg x in.png" S16, 1, {"teacher_cfg=sub", "not a regular file"}},
    {PREDICT "s_tmissing.cfg x in.png" S16, 1, {"teacher_cfg=nowhere.cfg", "cannot be read"}},
    {PREDICT "s_tbadcfg.cfg x in.png" S16, 1, {"c_before.cfg:1:", "before the first [section]"}},
    {PREDICT "s_ttrunc.cfg x in.png" S16, 1, {"teacher.trunc.weights hold 60 bytes", "teacher.cfg needs"}},
    {PREDICT "s_tempty.cfg x in.png" S16, 1, {"empty.weights", "shorter than its"}},
    {PREDICT "s_tbig.cfg x in.png" S16, 1, {"big_teacher.weights hold", "teacher.cfg needs"}},
    /* weights given to darknet */
    {PREDICT "customer/tiny.cfg empty.weights in.png" S16, 1, {"empty.weights", "not a Darknet weights file"}},
    {PREDICT "student.cfg student.trunc.weights in.png" S16, 1, {"student.trunc.weights hold 100 bytes", "student.cfg needs"}},
    {PREDICT "student.cfg student.long.weights in.png" S16, 1, {"student.long.weights hold", "do not belong to this cfg"}},
    {PREDICT "student.cfg student.short.weights in.png" S16, 1, {"student.short.weights", "shorter than its"}},
    {PREDICT "customer/tiny.cfg sub in.png" S16, 1, {"sub is not a Darknet weights file", NULL}},
    {PREDICT "customer/tiny.cfg customer/tiny.weights nowhere.png" S16, 1, {"nowhere.png", "Cannot load image"}},
    {"$DK classifier train missing.data t_batch.cfg -seed 1", 1, {"/nowhere/", "Cannot load image"}},
    /* the serial on darknet's command line */
    {PREDICT "customer/tiny.cfg customer/tiny.weights in.png -serial ''", 1, {"-serial is empty", "DSN_SERIAL"}},
    {"DSN_SERIAL= " PREDICT "customer/tiny.cfg customer/tiny.weights in.png", 1, {"DSN_SERIAL", "is empty"}},
    {PREDICT "customer/tiny.cfg customer/tiny.weights in.png -serial", 1, {"-serial needs a value", NULL}},
    {PREDICT "customer/tiny.cfg customer/tiny.weights in.png -serial 0000-01", 1, {"serial from -serial/DSN_SERIAL", "typo"}},
    {PREDICT "customer/tiny.cfg customer/tiny.weights in.png -serial '0000-0*'", 1, {"bad character '*'", "-serial"}},
    {PREDICT "customer/tiny.cfg customer/tiny.weights in.png -seed abc" S16, 1, {"-seed abc", "not a whole number"}},
    /* dsn eval */
    {"$DSN eval --cfg customer/tiny.cfg --weights customer/tiny.weights --cert alice.sn --data set.data --list "
     "notimage.list --forged 1 --near2 1 --near4 1", 2, {"9_alpha.png", "Cannot load image"}},
    {"$DSN eval --cfg customer/tiny.cfg --weights customer/tiny.weights --cert alice.sn --data set.data --json sub", 2,
     {"--json sub", "not a regular file"}},
    {"$DSN eval --cfg customer/tiny.cfg --weights customer/tiny.weights --cert alice.sn --data set.data --md alice.sn", 2,
     {"--md alice.sn is the input alice.sn", NULL}},
    {"$DSN eval --cfg customer/tiny.cfg --weights student.trunc.weights --cert alice.sn --data set.data", 2,
     {"student.trunc.weights hold 100 bytes", "customer/tiny.cfg needs"}},
    {"$DSN eval --cfg c_before.cfg --weights customer/tiny.weights --cert alice.sn --data set.data", 2,
     {"c_before.cfg:1:", "before the first [section]"}},   /* the first fault of the file, as Darknet says */
    {"$DSN eval --cfg customer/tiny.cfg --weights customer/tiny.weights --cert alice.sn --data set.data --forged 99999999", 2,
     {"--forged 99999999", "at most"}},
    {"$DSN eval --cfg customer/tiny.cfg --weights customer/tiny.weights --cert bidi.sn --data set.data", 2,
     {"bidi.sn:3", "U+202E"}},
    /* dsn export */
    {"$DSN export --no-seal student.cfg student.weights -o sub/.. --name student --force", 2, {"sub/../student.cfg is STUDENT.cfg", NULL}},
    {"$DSN export --no-seal student.cfg student.weights -o . --name student", 2, {"./student.cfg already exists", NULL}},
    {"$DSN export --no-seal student.cfg student.weights -o . --name teacher --force", 2, {"./teacher.cfg is the teacher_cfg", NULL}},
    {"$DSN export --no-seal student.cfg student.weights -o customer --name tiny", 2, {"customer/tiny.cfg already exists", "--force"}},
    {"$DSN export --no-seal student.cfg student.trunc.weights -o out", 2, {"student.trunc.weights hold 100 bytes", "student.cfg needs"}},
    {"$DSN export --no-seal student.cfg student.nan.weights -o out", 2, {"export:", "NaN"}},
    {"$DSN export --no-seal student.cfg student.weights -o in.png", 2, {"in.png exists and is not a directory", NULL}},
    {"$DSN export --no-seal student.cfg student.weights -o . --name tiny2", 2, {"-o .: name a directory", NULL}},
    {"$DSN export --no-seal student.cfg student.weights -o \"$PWD\" --name tiny2", 2, {"is the current directory", NULL}},
    {"$DSN export --no-seal student.cfg student.trunc.weights -o out --name x", 2, {"student.trunc.weights hold", NULL}},
    {"$DSN export --no-seal s_tself.cfg student.weights -o out", 2, {"names this student cfg itself", NULL}},
    /* dsn stamp */
    {"$DSN stamp --cert alice.sn in.png in.png", 2, {"in.png is the input image", NULL}},
    {"$DSN stamp --cert alice.sn --force in.png ./in.png", 2, {"./in.png is the input image", NULL}},
    {"$DSN stamp --cert alice.sn in.png stamped.png", 2, {"stamped.png already exists", "--force"}},
    {"$DSN stamp --cert alice.sn --list imgs.list --outdir imgs --force", 2, {"imgs/a.png", "one of the listed images"}},
    {"$DSN stamp --cert alice.sn --list imgs.list --outdir imgs", 2, {"imgs/a.png", "one of the listed images"}},
    {"$DSN stamp --cert alice.sn --list imgs.list --outdir in.png", 2, {"--outdir in.png is not a directory", NULL}},
    {"$DSN stamp --serial '0000-0*' --bits 16 --cell 1 in.png new.png", 2, {"--serial", "bad character '*'"}},
    {"$DSN stamp --serial 0000-0U --bits 16 --cell 1 in.png new.png", 2, {"--serial", "bad character 'U'"}},
    /* dsn issue, show, verify-cert, serial, keygen */
    {"$DSN issue --key owner.pem --owner O --customer 'al\xe2\x80\xaeice' --model m -o new.sn", 2, {"customer", "U+202E"}},
    {"$DSN issue --key owner.pem --owner O --customer 'alice\xc2\xa0' --model m -o new.sn", 2, {"customer", "U+00A0"}},
    {"$DSN issue --key owner.pem --owner 'O\xe2\x80\x8b' --model m --customer c -o new.sn", 2, {"owner", "U+200B"}},
    {"$DSN issue --key owner.pem --owner O --customer 'a\xe2\x80\xa8' --model m -o new.sn", 2, {"customer", "line separator"}},
    {"$DSN issue --key owner.pem --owner O --customer 'a\xff' --model m -o new.sn", 2, {"customer", "not UTF-8"}},
    {"$DSN issue --key owner.pem --owner O --customer c --model m -o alice.sn", 2, {"alice.sn already exists", NULL}},
    {"$DSN show bidi.sn", 2, {"bidi.sn:3", "U+202E"}},
    {"$DSN verify-cert nbsp.sn --pub owner.pub.pem", 2, {"nbsp.sn:3", "U+00A0"}},
    {"$DSN serial --check '0000-0$'", 1, {"bad character '$'", NULL}},
    {"$DSN keygen -o owner.pem", 2, {"owner.pem already exists", NULL}},
    {"$DSN import mnist --from sub --out data", 2, {"sub", NULL}},
};

static void test_bad_inputs(void **state)
{
    (void)state;
    char *before = manifest(fix);
    int failed = 0;
    static char out[1 << 16];
    for(size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const bad_case *c = &cases[i];
        int rc = run_in(fix, out, sizeof out, c->cmd);
        const char *missing = NULL;
        for(int k = 0; k < 2; ++k) if(c->says[k] && !strstr(out, c->says[k])) missing = c->says[k];
        char *after = manifest(fix);
        if(rc != c->rc || missing || strcmp(before, after) != 0) {
            char diff[400] = "";
            if(strcmp(before, after) != 0) first_difference(diff, sizeof diff, before, after);
            print_error("case %zu: %s\n  exit %d (want %d)%s%s%s\n  output tail: %.600s\n", i, c->cmd, rc, c->rc,
                        missing ? ", output lacks: " : "", missing ? missing : "", *diff ? "\n  FILES CHANGED:\n" : "",
                        out + (strlen(out) > 600 ? strlen(out) - 600 : 0));
            if(*diff) print_error("%s\n", diff);
            ++failed;
        }
        free(after);
    }
    free(before);
    print_message("  %zu bad inputs, %d failed\n", sizeof cases / sizeof cases[0], failed);
    assert_int_equal(failed, 0);
}

/* A training log that never ends (/dev/zero) or is no file: refused at once, memory bounded. */
static void test_report_log_bounded(void **state)
{
    (void)state;
    dsn_curve c;
    char err[512];
    assert_int_equal(dsn_curve_load(&c, "/dev/zero", err, sizeof err), -1);
    assert_non_null(strstr(err, "/dev/zero"));
    assert_int_equal(dsn_curve_load(&c, fix, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
}

/* The role fractions' setter refuses NaN and inf whatever the compiler assumes about floats. */
static void test_roles_not_finite(void **state)
{
    (void)state;
    dsn_geometry g;
    char err[256];
    assert_int_equal(dsn_geometry_init(&g, 16, 1, DSN_CORNER_TL, 1, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, 8, 8, err, sizeof err), 0);
    layer l = make_serial_stamp_layer(10, 8, 8, 1, &g);
    volatile float zero = 0;
    const float nan = zero / zero, inf = 1 / zero;
    assert_int_equal(serial_stamp_set_roles(&l, nan, 0, 0, 0, 1), -1);
    assert_int_equal(serial_stamp_set_roles(&l, 0, nan, 0, 0, 1), -1);
    assert_int_equal(serial_stamp_set_roles(&l, 0, 0, nan, 0, 1), -1);
    assert_int_equal(serial_stamp_set_roles(&l, 0, 0, 0, nan, 1), -1);
    assert_int_equal(serial_stamp_set_roles(&l, inf, 0, 0, 0, 1), -1);
    assert_int_equal(serial_stamp_set_roles(&l, .4f, .3f, .2f, .1f, 1), 0);
    dsn_stamp_state *s = (dsn_stamp_state *)l.plugin_data;
    assert_int_equal(s->count[DSN_ROLE_VALID] + s->count[DSN_ROLE_FORGED] + s->count[DSN_ROLE_NEAR] +
                     s->count[DSN_ROLE_SOFT] + s->count[DSN_ROLE_RAW], 10);
    assert_true(dsn_float_is_finite(1.5f));
    assert_false(dsn_float_is_finite(nan));
    assert_false(dsn_float_is_finite(-inf));
    destroy_serial_stamp(l);
    free(l.output);
}

/* ---- interrupted writes ----------------------------------------------------------------------- */

/* Runs cmd under strace, killed (SIGKILL) at the entry of the `when`-th call of one of `calls`.
 * Returns 1 when the kill happened, 0 when the command finished first (exit 0), -1 otherwise. */
static int run_killed(const char *dir, const char *calls, int when, const char *cmd, char *out, size_t len)
{
    char full[4096];
    /* LeakSanitizer cannot run under ptrace: the sanitizer build checks leaks elsewhere */
    snprintf(full, sizeof full, "ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null -e trace=%s "
             "-e inject=%s:signal=SIGKILL:when=%d %s", calls, calls, when, cmd);
    int rc = run_in(dir, out, len, full);
    if(rc == 137 || rc == 256 + 9) return 1;
    return rc == 0 ? 0 : -1;
}

/* Compares the listed files of dir with two reference directories: all equal to `old` (missing
 * where old has them missing) or all equal to `new`. Returns "old", "new" or NULL for a mix. */
static const char *which_set(const char *dir, const char *const *files, int n, const char *old, const char *new)
{
    int is_old = 1, is_new = 1;
    for(int i = 0; i < n; ++i) {
        char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
        pathf(a, sizeof a, "%s/%s", dir, files[i]);
        pathf(b, sizeof b, "%s/%s", old, files[i]);
        pathf(c, sizeof c, "%s/%s", new, files[i]);
        char *x = dsn_test_read(a), *y = dsn_test_read(b), *z = dsn_test_read(c);
        struct stat sa, sb, sc;
        int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0, ec = stat(c, &sc) == 0;
        if(ea != eb || (ea && (sa.st_size != sb.st_size || memcmp(x, y, (size_t)sa.st_size) != 0))) is_old = 0;
        if(ea != ec || (ea && (sa.st_size != sc.st_size || memcmp(x, z, (size_t)sa.st_size) != 0))) is_new = 0;
        free(x);
        free(y);
        free(z);
    }
    return is_old ? "old" : is_new ? "new" : NULL;
}

static void require_strace(void)
{
    char out[256];
    if(dsn_test_run(out, sizeof out, "strace -V") != 0)
        fail_msg("strace is missing: it is a test dependency (make deps / make test install it on Debian)");
}

typedef struct kill_plan {
    const char *calls;    /* strace syscall set */
    int max_when;         /* try when = 1..max_when (stops early when the command completes) */
} kill_plan;

static const kill_plan plans[] = {
    {"mkdir", 4}, {"link,linkat", 6}, {"fsync", 8}, {"rename,renameat,renameat2", 4},
    {"unlink,unlinkat", 12}, {"rmdir", 4},
};

/* Kills `cmd` at every point of every plan, restoring `work` from `orig` before each run; after
 * each, `files` in work/`sub` must be the old set (orig) or the new set (newref). */
static void kill_everywhere(const char *work, const char *orig, const char *sub, const char *newref,
                            const char *const *files, int nfiles, const char *cmd)
{
    char out[16384], cp[4096], wsub[PATH_MAX], osub[PATH_MAX];
    int kills = 0, olds = 0, news = 0;
    pathf(wsub, sizeof wsub, "%s/%s", work, sub);
    pathf(osub, sizeof osub, "%s/%s", orig, sub);
    for(size_t p = 0; p < sizeof plans / sizeof plans[0]; ++p) {
        for(int when = 1; when <= plans[p].max_when; ++when) {
            pathf(cp, sizeof cp, "rm -rf '%s' && cp -a '%s' '%s'", work, orig, work);
            assert_int_equal(dsn_test_run(out, sizeof out, "%s", cp), 0);
            int k = run_killed(work, plans[p].calls, when, cmd, out, sizeof out);
            if(k < 0) fail_msg("%s (kill at %s #%d): failed:\n%s", cmd, plans[p].calls, when, out);
            const char *set = which_set(wsub, files, nfiles, osub, newref);
            if(!set) fail_msg("%s killed at %s #%d: the outputs are a MIX of old and new", cmd, plans[p].calls, when);
            if(k == 0 && strcmp(set, "new") != 0) fail_msg("%s finished but did not write the new set", cmd);
            kills += k;
            olds += strcmp(set, "old") == 0;
            news += strcmp(set, "new") == 0;
            if(k == 0) break;
        }
    }
    print_message("  %s: %d kills; old set %d times, new set %d times, never a mix\n", cmd, kills, olds, news);
    assert_true(kills > 0 && olds > 0);
}

static void test_interrupted_export(void **state)
{
    (void)state;
    require_strace();
    char orig[PATH_MAX], work[PATH_MAX], newref[PATH_MAX], out[16384];
    /* orig: the student, its teacher and an older customer pair of another student, plus a file
     * the user keeps in the customer directory; newref: what an uninterrupted export writes */
    pathf(orig, sizeof orig, "%s/kx_orig", fix);
    pathf(work, sizeof work, "%s/kx_work", fix);
    pathf(newref, sizeof newref, "%s/kx_new", fix);
    assert_int_equal(dsn_test_run(out, sizeof out, "mkdir -p '%s/customer' && cd '%s' && cp student.cfg student.weights "
                                  "teacher.cfg teacher.weights '%s/' && cp customer/tiny.weights '%s/customer/tiny.weights' && "
                                  "printf 'old cfg\\n' > '%s/customer/tiny.cfg' && printf 'mine\\n' > '%s/customer/notes.txt'",
                                  orig, fix, orig, orig, orig, orig), 0);
    int rc = run_in(fix, out, sizeof out, "$DSN export --no-seal student.cfg student.weights -o kx_new --name tiny >/dev/null");
    if(rc != 0) fail_msg("reference export failed:\n%s", out);
    assert_int_equal(dsn_test_run(out, sizeof out, "cp '%s/customer/notes.txt' '%s/'", orig, newref), 0);
    const char *const files[] = {"tiny.cfg", "tiny.weights", "notes.txt"};
    kill_everywhere(work, orig, "customer", newref, files, 3,
                    "$DSN export --no-seal student.cfg student.weights -o customer --name tiny --force");
    dsn_test_rmtree(work);
    dsn_test_run(out, sizeof out, "rm -rf '%s' '%s'", orig, newref);
}

static void test_interrupted_import(void **state)
{
    (void)state;
    require_strace();
    char orig[PATH_MAX], work[PATH_MAX], newref[PATH_MAX], out[16384];
    pathf(orig, sizeof orig, "%s/ki_orig", fix);
    pathf(work, sizeof work, "%s/ki_work", fix);
    pathf(newref, sizeof newref, "%s/ki_new", fix);
    /* ten tiny digits per class as the npm package's JSON: {"data":[...]} 28x28 values each */
    /* ten digits per class as the npm package's JSON: 28x28 values byte/255 at 3 decimals */
    assert_int_equal(dsn_test_run(out, sizeof out, "mkdir -p '%s/src' '%s' && cd '%s/src' && for k in 0 1 2 3 4 5 6 7 8 9; do "
                                  "awk -v k=$k 'BEGIN{printf \"{\\\"data\\\":[\"; for(i=0;i<10*784;i++) "
                                  "printf \"%%s%%.3f\", (i?\",\":\"\"), ((i*7+k*13)%%256)/255; print \"]}\"}' > $k.json; done "
                                  "&& cp -a '%s/src' '%s/src'", orig, newref, orig, orig, newref), 0);
    int rc = run_in(orig, out, sizeof out, "$DSN import mnist --from src --out data --train 60 --seed 1 >/dev/null");
    if(rc != 0) fail_msg("import (old) failed:\n%s", out);
    rc = run_in(newref, out, sizeof out, "$DSN import mnist --from src --out data --train 50 --seed 2 >/dev/null");
    if(rc != 0) fail_msg("import (new) failed:\n%s", out);
    const char *const files[] = {"train.list", "test.list", "labels.txt", "dsn-import.txt"};
    char newdata[PATH_MAX];
    pathf(newdata, sizeof newdata, "%s/data", newref);
    kill_everywhere(work, orig, "data", newdata, files, 4,
                    "$DSN import mnist --from src --out data --train 50 --seed 2 --force");
    dsn_test_rmtree(work);
    dsn_test_run(out, sizeof out, "rm -rf '%s' '%s'", orig, newref);
}

/* stamp --force, keygen, issue and Darknet's save_weights write single files atomically: killed
 * anywhere, each output is its old content or its whole new content (keygen and issue never
 * replace, so "old" is absent). */
static void test_interrupted_single_files(void **state)
{
    (void)state;
    require_strace();
    char orig[PATH_MAX], work[PATH_MAX], newref[PATH_MAX], out[16384];
    pathf(orig, sizeof orig, "%s/ks_orig", fix);
    pathf(work, sizeof work, "%s/ks_work", fix);
    pathf(newref, sizeof newref, "%s/ks_new", fix);
    assert_int_equal(dsn_test_run(out, sizeof out, "mkdir -p '%s/o' '%s/o' && cd '%s' && cp in.png alice.sn owner.pem "
                                  "teacher.cfg teacher.weights '%s/' && cp img/1_alpha.png '%s/o/out.png' && "
                                  "cp big_teacher.weights '%s/o/w.weights'", orig, newref, fix, orig, orig, orig), 0);
    int rc = run_in(orig, out, sizeof out, "$DSN stamp --cert alice.sn in.png ../ks_new/o/out.png && "
                    "$DSN issue --key owner.pem --owner O --customer c --model m --bits 16 --time 2026-01-01T00:00:00Z "
                    "-o ../ks_new/o/c.sn >/dev/null && $DK partial teacher.cfg teacher.weights ../ks_new/o/w.weights 2 2>/dev/null");
    if(rc != 0) fail_msg("reference outputs failed:\n%s", out);
    char newo[PATH_MAX];
    pathf(newo, sizeof newo, "%s/o", newref);
    const char *const stamped[] = {"out.png"};
    kill_everywhere(work, orig, "o", newo, stamped, 1, "$DSN stamp --cert alice.sn --force in.png o/out.png");
    const char *const cert[] = {"c.sn"};
    kill_everywhere(work, orig, "o", newo, cert, 1,
                    "$DSN issue --key owner.pem --owner O --customer c --model m --bits 16 --time 2026-01-01T00:00:00Z -o o/c.sn");
    /* Darknet's own weights saves (training checkpoints): darknet partial re-saves the teacher */
    const char *const saved[] = {"w.weights"};
    kill_everywhere(work, orig, "o", newo, saved, 1, "$DK partial teacher.cfg teacher.weights o/w.weights 2");
    /* keygen: random keys, so "new" is any complete PEM pair member: check each file is absent or
     * a whole PEM (begins and ends with its armour) */
    for(int when = 1; when <= 4; ++when) {
        for(int which = 0; which < 2; ++which) {
            const char *calls = which ? "link,linkat" : "fsync";
            dsn_test_run(out, sizeof out, "rm -rf '%s' && mkdir '%s'", work, work);
            int k = run_killed(work, calls, when, "$DSN keygen -o k.pem", out, sizeof out);
            assert_true(k >= 0);
            const char *names[2] = {"k.pem", "k.pub.pem"};
            for(int i = 0; i < 2; ++i) {
                char p[PATH_MAX];
                pathf(p, sizeof p, "%s/%s", work, names[i]);
                char *t = dsn_test_read(p);
                if(!t) continue;
                if(strncmp(t, "-----BEGIN", 10) != 0 || !strstr(t, "-----END"))
                    fail_msg("keygen killed at %s #%d left a partial %s", calls, when, names[i]);
                free(t);
            }
        }
    }
    dsn_test_rmtree(work);
    dsn_test_run(out, sizeof out, "rm -rf '%s' '%s'", orig, newref);
}

/* ---- setup -------------------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    dsn_bin = dsn_test_dsn_bin();
    if(!dsn_bin) return -1;
    char rel[PATH_MAX];
    snprintf(rel, sizeof rel, "%s/darknet", dsn_test_build_dir());
    if(!realpath(rel, dk_bin)) return -1;
    darknet_plugins_init();
    build_fixture();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dsn_test_rmtree(fix);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_report_log_bounded),
        cmocka_unit_test(test_roles_not_finite),
        cmocka_unit_test(test_interrupted_export),
        cmocka_unit_test(test_interrupted_import),
        cmocka_unit_test(test_interrupted_single_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
