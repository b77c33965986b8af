/* The `dsn` command end to end (keygen, issue, show, verify-cert, serial, stamp): exit codes,
 * interoperation with the openssl command both ways, byte-for-byte determinism, stamped pixels,
 * and bad inputs: each exits 2 with a message naming the file or option, and writes nothing.
 * The binary is $DSN_BIN, else $DSN_BUILD/dsn (default build/dsn). Needs the openssl command. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dsn_cert.h"
#include "dsn_image.h"
#include "dsn_test.h"

#define TIME "2026-11-26T04:00:00Z"

typedef struct fixture {
    char dir[256];
    char out[16384];
} fixture;


static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if(!f) return -1;
    dsn_test_tmpdir(f->dir, sizeof f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dsn_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Copies fmt's expansion into out with "@" replaced by the fixture directory. */
static void expand_at(const fixture *f, char *out, size_t len, const char *fmt, va_list ap)
{
    char text[4096];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t n = 0;
    for(const char *p = text; *p && n + 300 < len; ++p) {
        if(*p == '@') n += (size_t)snprintf(out + n, len - n, "%s", f->dir);
        else out[n++] = *p;
    }
    out[n] = '\0';
}

/* Runs `dsn <args>` (args: printf format; "@" stands for the fixture directory) and returns the
 * exit status; stdout and stderr are in f->out. */
static int dsn(fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int dsn(fixture *f, const char *fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    expand_at(f, args, sizeof args, fmt, ap);
    va_end(ap);
    return dsn_test_run(f->out, sizeof f->out, "%s %s", dsn_test_dsn_bin(), args);
}

/* Runs a shell command ("@" as above). */
static int sh(fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(fixture *f, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    expand_at(f, cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return dsn_test_run(f->out, sizeof f->out, "%s", cmd);
}

static void expect_output(fixture *f, const char *want)
{
    if(!strstr(f->out, want)) fail_msg("output lacks '%s':\n%s", want, f->out);
}

static char *path_in(fixture *f, const char *name)
{
    static char p[4][512];
    static int next;
    char *s = p[next++ % 4];
    snprintf(s, 512, "%s/%s", f->dir, name);
    return s;
}

static int exists(fixture *f, const char *name)
{
    struct stat st;
    return lstat(path_in(f, name), &st) == 0;
}

/* Number of entries in the fixture directory (a leftover temporary file shows up here). */
static int entries(fixture *f, const char *sub)
{
    DIR *d = opendir(sub ? path_in(f, sub) : f->dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while((e = readdir(d))) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static char *slurp(fixture *f, const char *name, size_t *len)
{
    FILE *fp = fopen(path_in(f, name), "rb");
    assert_non_null(fp);
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, fp);
    fclose(fp);
    buf[n] = '\0';
    if(len) *len = n;
    return buf;
}

static void keygen(fixture *f)
{
    assert_int_equal(dsn(f, "keygen -o @/owner.pem"), 0);
}

static void issue(fixture *f, const char *out, const char *customer)
{
    int rc = dsn(f, "issue --key @/owner.pem --owner 'Acme Vision' --customer '%s' --model mnist-t7 "
                 "--time " TIME " -o @/%s", customer, out);
    if(rc != 0) fail_msg("issue failed (%d): %s", rc, f->out);
}

/* ---- verbs, help ----------------------------------------------------------------------------- */

static void test_help(void **state)
{
    fixture *f = *state;
    static const char *verbs[] = {"keygen", "issue", "show", "verify-cert", "serial", "stamp", "select"};
    assert_int_equal(dsn(f, "--help"), 0);
    for(size_t i = 0; i < sizeof verbs / sizeof verbs[0]; ++i) {
        expect_output(f, verbs[i]);
    }
    for(size_t i = 0; i < sizeof verbs / sizeof verbs[0]; ++i) {
        char want[64];
        assert_int_equal(dsn(f, "%s --help", verbs[i]), 0);
        snprintf(want, sizeof want, "usage: dsn %s", verbs[i]);
        expect_output(f, want);
        expect_output(f, "-q, --quiet");    /* every verb, from dsn_args_parse */
        assert_int_equal(dsn(f, "%s --no-such-option", verbs[i]), 2);
        expect_output(f, "dsn: ");
        expect_output(f, "--no-such-option");
    }
    /* verbs with a quiet of their own list -q once, the common meaning and theirs together */
    static const char *own[][2] = {{"trace", "no warnings about skipped certificates"}, {"attack", "no progress lines"}};
    for(size_t i = 0; i < sizeof own / sizeof own[0]; ++i) {
        assert_int_equal(dsn(f, "%s --help", own[i][0]), 0);
        const char *q = strstr(f->out, "-q, --quiet");
        if(!q || strstr(q + 1, "-q, --quiet") || !strstr(q, own[i][1]) || strstr(q, "\n") < strstr(q, own[i][1]))
            fail_msg("dsn %s --help: not one -q line with '%s':\n%s", own[i][0], own[i][1], f->out);
    }
    assert_int_equal(dsn(f, "%s", ""), 2);
    assert_int_equal(dsn(f, "frobnicate"), 2);
    expect_output(f, "dsn: unknown verb 'frobnicate'");
}

/* ---- keys ------------------------------------------------------------------------------------ */

static void test_keygen(void **state)
{
    fixture *f = *state;
    keygen(f);
    struct stat st;
    assert_int_equal(stat(path_in(f, "owner.pem"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(exists(f, "owner.pub.pem"));
    assert_int_equal(entries(f, NULL), 2);
    /* openssl reads both, and derives the same public key */
    assert_int_equal(sh(f, "openssl pkey -in @/owner.pem -pubout -out @/ossl.pub.pem"), 0);
    assert_int_equal(sh(f, "cmp @/ossl.pub.pem @/owner.pub.pem"), 0);
    assert_int_equal(sh(f, "openssl pkey -pubin -in @/owner.pub.pem -noout -text | grep -q ED25519"), 0);
    /* never overwrites either file */
    size_t n1, n2;
    char *before = slurp(f, "owner.pem", &n1);
    assert_int_equal(dsn(f, "keygen -o @/owner.pem"), 2);
    expect_output(f, "owner.pem already exists");
    char *after = slurp(f, "owner.pem", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
    assert_int_equal(sh(f, "mv @/owner.pem @/moved.pem"), 0);
    assert_int_equal(dsn(f, "keygen -o @/owner.pem"), 2); /* the .pub.pem is still there */
    expect_output(f, "owner.pub.pem already exists");
    assert_false(exists(f, "owner.pem"));
    assert_int_equal(dsn(f, "keygen"), 2);
    expect_output(f, "-o");
    assert_int_equal(dsn(f, "keygen -o @/no/such/dir/k.pem"), 2);
    expect_output(f, "k.pem");
}

static void test_openssl_key_signs(void **state)
{
    fixture *f = *state;
    assert_int_equal(sh(f, "openssl genpkey -algorithm ed25519 -out @/owner.pem"), 0);
    assert_int_equal(sh(f, "openssl pkey -in @/owner.pem -pubout -out @/owner.pub.pem"), 0);
    issue(f, "bob.sn", "Bob Corp");
    assert_int_equal(dsn(f, "verify-cert @/bob.sn --pub @/owner.pub.pem"), 0);
    expect_output(f, "valid");
}

/* Writes the certificate's signed body and raw signature for openssl to check. */
static void split_certificate(fixture *f, const char *cert)
{
    dsn_cert c;
    char err[512], body[DSN_CERT_TEXT_MAX];
    assert_int_equal(dsn_cert_load(&c, path_in(f, cert), err, sizeof err), 0);
    int n = dsn_cert_body(body, sizeof body, &c);
    assert_true(n > 0);
    FILE *fp = fopen(path_in(f, "body.txt"), "wb");
    fwrite(body, 1, (size_t)n, fp);
    fclose(fp);
    fp = fopen(path_in(f, "sig.bin"), "wb");
    fwrite(c.signature, 1, sizeof c.signature, fp);
    fclose(fp);
}

static void test_openssl_verifies_dsn(void **state)
{
    fixture *f = *state;
    keygen(f);
    issue(f, "bob.sn", "Bob Corp");
    split_certificate(f, "bob.sn");
    /* the body is exactly the certificate's first ten lines */
    assert_int_equal(sh(f, "head -n 10 @/bob.sn | cmp - @/body.txt"), 0);
    assert_int_equal(sh(f, "openssl pkeyutl -verify -pubin -inkey @/owner.pub.pem -rawin "
                        "-in @/body.txt -sigfile @/sig.bin"), 0);
    expect_output(f, "Signature Verified Successfully");
    assert_int_equal(sh(f, "sed -i 's/Bob Corp/Bob Corq/' @/body.txt"), 0);
    assert_true(sh(f, "openssl pkeyutl -verify -pubin -inkey @/owner.pub.pem -rawin "
                    "-in @/body.txt -sigfile @/sig.bin") != 0);
}

/* ---- issue ----------------------------------------------------------------------------------- */

static void test_issue_deterministic(void **state)
{
    fixture *f = *state;
    keygen(f);
    issue(f, "a.sn", "Bob Corp");
    issue(f, "b.sn", "Bob Corp");
    assert_int_equal(sh(f, "cmp @/a.sn @/b.sn"), 0);
    size_t n;
    char *a = slurp(f, "a.sn", &n);
    /* prints the serial, which is the certificate's */
    assert_int_equal(dsn(f, "serial --cert @/a.sn"), 0);
    char line[128];
    snprintf(line, sizeof line, "serial: %.100s", f->out);
    assert_non_null(strstr(a, line));
    /* an existing certificate is kept unless --force */
    issue(f, "c.sn", "Carol Inc");
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner 'Acme Vision' --customer 'Bob Corp' "
                         "--model mnist-t7 --time " TIME " -o @/c.sn"), 2);
    expect_output(f, "c.sn already exists");
    assert_true(sh(f, "cmp @/a.sn @/c.sn") != 0);
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner 'Acme Vision' --customer 'Bob Corp' "
                         "--model mnist-t7 --time " TIME " -o @/c.sn --force"), 0);
    assert_int_equal(sh(f, "cmp @/a.sn @/c.sn"), 0);
    /* another customer, another serial; defaults are 64 bits, br, cell 0, margin 0 */
    issue(f, "d.sn", "Dave");
    char *d = slurp(f, "d.sn", NULL);
    assert_non_null(strstr(d, "bits: 64\ncell: 0\ncorner: br\nmargin: 0\n"));
    assert_string_not_equal(strstr(a, "serial: "), strstr(d, "serial: "));
    free(a);
    free(d);
    assert_int_equal(entries(f, NULL), 6);
}

static void test_issue_options(void **state)
{
    fixture *f = *state;
    keygen(f);
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner 'Zoë' --customer 'Bob' --model m --bits 9 "
                         "--corner tl --cell 3 --margin 2 --time 2030-01-02T03:04:05Z -o @/x.sn"), 0);
    char *x = slurp(f, "x.sn", NULL);
    assert_non_null(strstr(x, "owner: Zoë\n"));
    assert_non_null(strstr(x, "issued: 2030-01-02T03:04:05Z\nbits: 9\ncell: 3\ncorner: tl\nmargin: 2\n"));
    free(x);
    assert_int_equal(dsn(f, "show @/x.sn"), 0);
    expect_output(f, "3x3 grid of 3-pixel cells, corner tl, margin 2");
    /* default time: now, whole seconds, UTC */
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner A --customer B --model m -o @/now.sn"), 0);
    x = slurp(f, "now.sn", NULL);
    char *issued = strstr(x, "issued: ");
    assert_non_null(issued);
    int64_t t;
    issued[8 + 20] = '\0';
    assert_int_equal(dsn_time_parse(&t, issued + 8), 0);
    free(x);
    /* bigger inputs: a 256-bit serial fits 64x64 with cells of 4 */
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner A --customer B --model m --bits 256 "
                         "--cell 4 --size 64x64 -o @/big.sn"), 0);
    assert_int_equal(dsn(f, "verify-cert @/big.sn --pub @/owner.pub.pem"), 0);
}

/* `dsn issue` with one thing wrong: exit 2, a message containing `why`, no certificate. */
static void expect_issue_error(fixture *f, const char *args, const char *why)
{
    int rc = dsn(f, "issue --key @/owner.pem --owner A --customer B --model m %s -o @/out.sn", args);
    if(rc != 2) fail_msg("issue %s: exit %d, not 2:\n%s", args, rc, f->out);
    expect_output(f, "dsn: ");
    expect_output(f, why);
    assert_false(exists(f, "out.sn"));
}

static void test_issue_bad_inputs(void **state)
{
    fixture *f = *state;
    keygen(f);
    int before = entries(f, NULL);
    expect_issue_error(f, "--bits 3", "--bits 3 is out of range");
    expect_issue_error(f, "--bits 257", "--bits 257");
    expect_issue_error(f, "--bits 64x", "--bits");
    expect_issue_error(f, "--bits 99999999999", "--bits");
    expect_issue_error(f, "--cell 4", "does not fit");
    expect_issue_error(f, "--margin 21", "does not fit");
    expect_issue_error(f, "--cell 2 --size 15x40", "--size 15x40");
    expect_issue_error(f, "--cell -1", "--cell -1");
    expect_issue_error(f, "--margin -3", "--margin -3");
    expect_issue_error(f, "--size 28", "--size");
    expect_issue_error(f, "--corner middle", "--corner 'middle'");
    expect_issue_error(f, "--time 2026-11-26", "--time");
    expect_issue_error(f, "--time 2026-02-30T00:00:00Z", "--time");
    expect_issue_error(f, "--model \"$(printf 'm\\tx')\"", "--model has a control character");
    expect_issue_error(f, "--model \"$(printf 'm\\377')\"", "--model has bytes that are not UTF-8");
    expect_issue_error(f, "--model \"$(printf '%0200d' 0)\"", "--model is 200 bytes long");
    expect_issue_error(f, "--model ' m'", "--model");
    expect_issue_error(f, "--bogus 1", "--bogus");
    expect_issue_error(f, "--bits", "--bits");
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner A --model m -o @/out.sn"), 2);
    expect_output(f, "missing --customer");
    assert_false(exists(f, "out.sn"));
    assert_int_equal(entries(f, NULL), before);
}

/* --cfg: the geometry of the student cfg's [serial_stamp], placed on its [net] input. */
static void test_issue_from_cfg(void **state)
{
    fixture *f = *state;
    keygen(f);
    assert_int_equal(sh(f, "printf '[net]\\nwidth=32\\nheight=30\\nchannels=3\\n\\n[serial_stamp]\\nbits=16\\ncell=2\\n"
                           "corner=tl\\nmargin=1\\nframe=1\\nvalid=0.5\\n\\n[softmax]\\n' > @/s.cfg && "
                           "printf '[net]\\nwidth=28\\nheight=28\\nchannels=1\\n\\n[softmax]\\n' > @/plain.cfg && "
                           "sed 's/^cell=2/cell=5/' @/s.cfg > @/big.cfg"), 0);
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner A --customer B --model m --cfg @/s.cfg -o @/s.sn"), 0);
    assert_int_equal(sh(f, "sed -n '6,10p' @/s.sn | tr '\\n' ' ' | grep -qx 'bits: 16 cell: 2 corner: tl margin: 1 frame: 1 '"), 0);
    assert_int_equal(sh(f, "sed 's/^frame=1/frame=1\\nwrap=1/' @/s.cfg > @/w.cfg"), 0);
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner A --customer B --model m --cfg @/w.cfg -o @/w.sn"), 0);
    assert_int_equal(sh(f, "grep -qx 'frame: 1 wrap' @/w.sn"), 0);
    /* a wide grid: 16 bits in 8 columns (8x2, 2-pixel cells in one ring: 20x8 pixels) */
    assert_int_equal(sh(f, "sed 's/^margin=1/margin=1\\ncolumns=8/' @/w.cfg > @/c.cfg"), 0);
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner A --customer B --model m --cfg @/c.cfg -o @/c.sn"), 0);
    assert_int_equal(sh(f, "sed -n '9,11p' @/c.sn | tr '\n' ' ' | grep -qx 'margin: 1 columns: 8 frame: 1 wrap '"), 0);
    assert_int_equal(dsn(f, "show @/c.sn"), 0);
    expect_output(f, "8x2 grid of 2-pixel cells, corner tl, margin 1");
    int before = entries(f, NULL);
    expect_issue_error(f, "--cfg @/s.cfg --bits 16", "--cfg");
    expect_issue_error(f, "--cfg @/s.cfg --frame 0", "--frame, --wrap and --size");
    expect_issue_error(f, "--cfg @/plain.cfg", "has no [serial_stamp] layer");
    expect_issue_error(f, "--cfg @/none.cfg", "none.cfg");
    expect_issue_error(f, "--cfg @/big.cfg", "does not fit");    /* 6 cells of 5 px + margin 1 > 30 */
    expect_issue_error(f, "--frame 3", "--frame=3 is out of range (0..2");
    expect_issue_error(f, "--wrap", "wrap=1 needs a frame");
    expect_issue_error(f, "--columns 65", "--columns=65 is out of range (0: a square grid, or 1..64");
    expect_issue_error(f, "--columns 32 --frame 1", "does not fit");   /* 34x4 cells on 28x28 */
    expect_issue_error(f, "--cfg @/c.cfg --columns 8", "--cfg");
    expect_issue_error(f, "--cfg @/s.cfg --wrap", "drop --bits, --corner, --cell, --margin, --columns, --frame, --wrap and --size");
    assert_int_equal(entries(f, NULL), before);
}

static void expect_key_error(fixture *f, const char *key, const char *why)
{
    int rc = dsn(f, "issue --key @/%s --owner A --customer B --model m -o @/out.sn", key);
    if(rc != 2) fail_msg("--key %s: exit %d, not 2:\n%s", key, rc, f->out);
    expect_output(f, key);
    expect_output(f, why);
    assert_false(exists(f, "out.sn"));
}

static void test_issue_bad_keys(void **state)
{
    fixture *f = *state;
    keygen(f);
    assert_int_equal(sh(f, "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out @/rsa.pem"), 0);
    assert_int_equal(sh(f, "head -c 70 @/owner.pem > @/short.pem"), 0);
    assert_int_equal(sh(f, "printf 'hello\\n' > @/text.pem"), 0);
    assert_int_equal(sh(f, "openssl pkey -in @/owner.pem -out @/enc.pem -aes128 -passout pass:pw"), 0);
    expect_key_error(f, "none.pem", "No such file");
    expect_key_error(f, "rsa.pem", "is an RSA key");
    expect_key_error(f, "short.pem", "truncated");
    expect_key_error(f, "text.pem", "not a PEM file");
    expect_key_error(f, "owner.pub.pem", "is a public key");
    expect_key_error(f, "enc.pem", "encrypted");
    /* the OpenSSL reasons follow our message, each on its own "dsn: openssl:" line */
    expect_key_error(f, "short.pem", "dsn: ");
}

/* ---- certificates ---------------------------------------------------------------------------- */

static void test_verify_cert(void **state)
{
    fixture *f = *state;
    keygen(f);
    issue(f, "bob.sn", "Bob Corp");
    assert_int_equal(dsn(f, "verify-cert @/bob.sn --pub @/owner.pub.pem"), 0);
    expect_output(f, "bob.sn: valid: serial ");
    assert_int_equal(dsn(f, "verify-cert @/bob.sn --pub @/owner.pem"), 0); /* private file works too */
    /* another owner's key: checked, negative */
    assert_int_equal(dsn(f, "keygen -o @/other.pem"), 0);
    assert_int_equal(dsn(f, "verify-cert @/bob.sn --pub @/other.pub.pem"), 1);
    expect_output(f, "NOT VALID");
    expect_output(f, "another key");
    /* the body or the signature altered */
    assert_int_equal(sh(f, "sed 's/^customer: Bob Corp$/customer: Bob Corq/' @/bob.sn > @/alt.sn"), 0);
    assert_int_equal(dsn(f, "verify-cert @/alt.sn --pub @/owner.pub.pem"), 1);
    expect_output(f, "signature does not match");
    /* one hex digit of the signature changed */
    size_t n;
    char *text = slurp(f, "bob.sn", &n);
    char *digit = strstr(text, "\nsignature: ") + 14;
    *digit = *digit == '0' ? '1' : '0';
    FILE *fp = fopen(path_in(f, "sig.sn"), "wb");
    fwrite(text, 1, n, fp);
    fclose(fp);
    free(text);
    assert_int_equal(dsn(f, "verify-cert @/sig.sn --pub @/owner.pub.pem"), 1);
    assert_int_equal(sh(f, "sed 's/^issued: 2026/issued: 2027/' @/bob.sn > @/time.sn"), 0);
    assert_int_equal(dsn(f, "verify-cert @/time.sn --pub @/owner.pub.pem"), 1);
    /* cannot check at all: 2 */
    assert_int_equal(dsn(f, "verify-cert @/none.sn --pub @/owner.pub.pem"), 2);
    expect_output(f, "none.sn");
    assert_int_equal(dsn(f, "verify-cert @/bob.sn"), 2);
    expect_output(f, "--pub");
    assert_int_equal(dsn(f, "verify-cert @/bob.sn --pub @/nokey.pem"), 2);
    expect_output(f, "nokey.pem");
    assert_int_equal(dsn(f, "verify-cert @/owner.pem --pub @/owner.pub.pem"), 2);
    expect_output(f, "owner.pem:1: not a dsn certificate");
}

/* Every verb that reads certificates: exit 2, "file:line: why", nothing written. */
static void expect_cert_error(fixture *f, const char *sed, const char *why)
{
    assert_int_equal(sh(f, "sed '%s' @/bob.sn > @/bad.sn", sed), 0);
    const char *cmds[] = {
        "show @/bad.sn", "verify-cert @/bad.sn --pub @/owner.pub.pem", "serial --cert @/bad.sn",
        "stamp --cert @/bad.sn @/in.png @/out.png",
    };
    for(size_t i = 0; i < sizeof cmds / sizeof cmds[0]; ++i) {
        int rc = dsn(f, "%s", cmds[i]);
        if(rc != 2) fail_msg("%s with sed '%s': exit %d:\n%s", cmds[i], sed, rc, f->out);
        expect_output(f, why);
        assert_false(exists(f, "out.png"));
    }
}

static void write_png(fixture *f, const char *name, int w, int h, int c, unsigned seed)
{
    dsn_image im = {w, h, c, malloc((size_t)w * h * c)};
    for(int i = 0; i < w * h * c; ++i) {
        seed = seed * 1664525u + 1013904223u;
        im.data[i] = (unsigned char)(seed >> 24);
    }
    assert_int_equal(dsn_image_save(&im, path_in(f, name)), 0);
    dsn_image_free(&im);
}

static void test_bad_certificates(void **state)
{
    fixture *f = *state;
    keygen(f);
    issue(f, "bob.sn", "Bob Corp");
    write_png(f, "in.png", 28, 28, 1, 1);
    expect_cert_error(f, "/^model: /d", "bad.sn: missing field 'model'");
    expect_cert_error(f, "3p", "bad.sn:4: duplicated field 'customer' (first on line 3)");
    expect_cert_error(f, "2a\\\nlicence: MIT", "bad.sn:3: unknown field 'licence'");
    expect_cert_error(f, "s/^owner: .*/owner: Acme\\r/", "bad.sn:2: carriage return");
    expect_cert_error(f, "s/^owner: Acme/owner: Ac\\xffme/", "bad.sn:2: bytes that are not UTF-8");
    expect_cert_error(f, "s/^owner: .*/owner: &&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&"
                      "&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&/",
                      "bad.sn:2: line is longer than 1024 bytes");
    expect_cert_error(f, "s/^bits: 64/bits: 65536/", "bad.sn:6: bits: 65536 is out of range");
    expect_cert_error(f, "s/^\\(serial: ...\\)./\\1#/", "bad.sn:12: serial: bad character '#'");
}

/* ---- serial ---------------------------------------------------------------------------------- */

static void test_serial_verb(void **state)
{
    fixture *f = *state;
    assert_int_equal(dsn(f, "serial --check 028t5cy4tqkffhf"), 0);
    assert_string_equal(f->out, "028T-5CY4-TQKF-FHF\n");
    assert_int_equal(dsn(f, "serial --check O28T-5CY4-TQKF-FHF"), 0);
    assert_int_equal(dsn(f, "serial --check 028T-5CY4-TQKF-FHG"), 1);
    expect_output(f, "typo");
    assert_int_equal(dsn(f, "serial --check B7B7 --bits 9"), 0);
    assert_int_equal(dsn(f, "serial --check B7B7 --bits 300"), 2);
    expect_output(f, "--bits 300");
    assert_int_equal(dsn(f, "serial"), 2);
    assert_int_equal(dsn(f, "serial --check X --cert Y"), 2);
}

/* ---- stamp ----------------------------------------------------------------------------------- */

/* Checks `out` is `in` with s stamped by geometry g: covered pixels 0 or 255 by bit, every other
 * byte unchanged, same channel count. */
static void expect_framed(fixture *f, const char *in, const char *out, int bits, int cell,
                          dsn_corner corner, int margin, int columns, int frame, int wrap, const char *serial)
{
    dsn_image a, b;
    dsn_geometry g;
    dsn_serial s;
    char err[512];
    assert_int_equal(dsn_image_load(&a, path_in(f, in), err, sizeof err), 0);
    assert_int_equal(dsn_image_load(&b, path_in(f, out), err, sizeof err), 0);
    assert_int_equal(a.w, b.w);
    assert_int_equal(a.h, b.h);
    assert_int_equal(a.c, b.c);
    assert_int_equal(dsn_serial_decode(&s, serial, bits, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_init(&g, bits, cell, corner, margin, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_columns(&g, columns, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_set_frame(&g, frame, wrap, err, sizeof err), 0);
    assert_int_equal(dsn_geometry_place(&g, a.w, a.h, err, sizeof err), 0);
    int stamped = 0;
    for(int y = 0; y < a.h; ++y) {
        for(int x = 0; x < a.w; ++x) {
            int bit = -1;
            if(dsn_stamp_covers(&g, x, y)) {   /* a serial cell, or the frame's checkerboard */
                /* the cell's column and row in the stamp, frame included */
                int fx = (x - (g.x0 - frame * g.cell_px)) / g.cell_px;
                int fy = (y - (g.y0 - frame * g.cell_px)) / g.cell_px;
                int grid = fx >= frame && fy >= frame && fx < g.gw + frame && fy < g.gh + frame;
                int wx = (fx - frame + g.gw) % g.gw, wy = (fy - frame + g.gh) % g.gh;   /* frame <= gw, gh here */
                bit = grid || wrap ? s.bit[wy * g.gw + wx] : (fx + fy) % 2;
                ++stamped;
            }
            for(int k = 0; k < a.c; ++k) {
                size_t i = ((size_t)y * a.w + x) * a.c + k;
                int want = bit < 0 ? a.data[i] : bit ? 255 : 0;
                if(b.data[i] != want) fail_msg("%s (%d,%d,%d): %d, want %d", out, x, y, k, b.data[i], want);
            }
        }
    }
    int cells = frame ? (g.gw + 2 * frame) * (g.gh + 2 * frame) - g.gw * g.gh + bits : bits;
    assert_int_equal(stamped, cells * g.cell_px * g.cell_px);
    dsn_image_free(&a);
    dsn_image_free(&b);
}

static void expect_stamped(fixture *f, const char *in, const char *out, int bits, int cell,
                           dsn_corner corner, int margin, const char *serial)
{
    expect_framed(f, in, out, bits, cell, corner, margin, 0, 0, 0, serial);
}

/* darknet and dsn load OpenCV on first use (dsn_cli/opencv_lazy.c): not linked at start, a
 * command without images runs without the library, an image load without it fails naming it,
 * and with it beside the executable the prediction is the one the README shows. */
static void test_opencv_on_first_use(void **state)
{
    fixture *f = *state;
    const char *b = dsn_test_build_dir();
    assert_int_equal(sh(f, "mkdir @/bin && cp %s/darknet %s/dsn @/bin/", b, b), 0);
    assert_int_equal(sh(f, "ldd @/bin/darknet @/bin/dsn | grep -c opencv"), 1);   /* none */
    assert_int_equal(sh(f, "@/bin/dsn serial --cert weights/alice.sn"), 0);
    expect_output(f, "BQE5-AP78-3DFY-M4X");
    /* stock predict never frees its labels and lists: not ours to fail on under SANITIZE=1 */
    const char *predict = "ASAN_OPTIONS=detect_leaks=0 @/bin/darknet classifier predict cfg/mnist.data cfg/mnist_customer.cfg "
                          "weights/mnist_customer.weights weights/samples/three.png -serial BQE5-AP78-3DFY-M4X";
    assert_int_not_equal(sh(f, "%s", predict), 0);
    expect_output(f, "OpenCV support cannot be loaded");
    expect_output(f, "/bin/libdsn_opencv.so");
    assert_int_equal(sh(f, "cp %s/libdsn_opencv.so @/bin/", b), 0);
    assert_int_equal(sh(f, "%s", predict), 0);
    expect_output(f, "99.99%: three");
}

static void test_stamp_files(void **state)
{
    fixture *f = *state;
    const char *serial = "028T-5CY4-TQKF-FHF";
    write_png(f, "gray.png", 28, 28, 1, 1);
    write_png(f, "rgb.png", 28, 28, 3, 2);
    write_png(f, "big.png", 60, 56, 3, 3);
    assert_int_equal(dsn(f, "stamp --serial %s @/gray.png @/gray.out.png", serial), 0);
    expect_stamped(f, "gray.png", "gray.out.png", 64, 0, DSN_CORNER_BR, 0, serial);
    assert_int_equal(dsn(f, "stamp --serial 028t5cy4tqkffhf --bits 64 @/rgb.png @/rgb.out.png"), 0);
    expect_stamped(f, "rgb.png", "rgb.out.png", 64, 0, DSN_CORNER_BR, 0, serial);
    assert_int_equal(dsn(f, "stamp --serial %s @/big.png @/big.out.png", serial), 0); /* cell 2 */
    expect_stamped(f, "big.png", "big.out.png", 64, 0, DSN_CORNER_BR, 0, serial);
    assert_int_equal(dsn(f, "stamp --serial B7B7 --bits 9 --cell 3 --corner tl --margin 2 "
                         "@/rgb.png @/nine.png"), 0);
    expect_stamped(f, "rgb.png", "nine.png", 9, 3, DSN_CORNER_TL, 2, "B7B7");
    assert_int_equal(dsn(f, "stamp --serial %s --frame 1 @/gray.png @/framed.png", serial), 0);
    expect_framed(f, "gray.png", "framed.png", 64, 0, DSN_CORNER_BR, 0, 0, 1, 0, serial);
    assert_int_equal(dsn(f, "stamp --serial %s --frame 1 --wrap @/gray.png @/wrapped.png", serial), 0);
    expect_framed(f, "gray.png", "wrapped.png", 64, 0, DSN_CORNER_BR, 0, 0, 1, 1, serial);
    /* 16 columns: 16x4 in one wrapped ring, 18x6 pixels along the bottom (rows 22-27, columns
       10-27); pixel (9, 27) left as it was, (10, 22) the ring's copy of bit 63 (row 3, column 15) */
    assert_int_equal(dsn(f, "stamp --serial %s --columns 16 --frame 1 --wrap @/gray.png @/strip.png", serial), 0);
    expect_framed(f, "gray.png", "strip.png", 64, 0, DSN_CORNER_BR, 0, 16, 1, 1, serial);
    {
        dsn_image a, b;
        dsn_serial sn;
        char err[256];
        assert_int_equal(dsn_image_load(&a, path_in(f, "gray.png"), err, sizeof err), 0);
        assert_int_equal(dsn_image_load(&b, path_in(f, "strip.png"), err, sizeof err), 0);
        assert_int_equal(dsn_serial_decode(&sn, serial, 64, err, sizeof err), 0);
        assert_int_equal(b.data[27 * 28 + 9], a.data[27 * 28 + 9]);
        assert_int_equal(b.data[22 * 28 + 10], sn.bit[63] ? 255 : 0);
        dsn_image_free(&a);
        dsn_image_free(&b);
    }
    assert_int_equal(dsn(f, "stamp --serial %s --wrap @/gray.png @/w0.png", serial), 2);
    expect_output(f, "wrap=1 needs a frame");
    assert_int_equal(sh(f, "test -e @/w0.png"), 1);
    assert_int_equal(dsn(f, "stamp --serial B7B7 --bits 9 --cell 3 --corner tl --frame 2 @/rgb.png @/nine2.png"), 0);
    expect_framed(f, "rgb.png", "nine2.png", 9, 3, DSN_CORNER_TL, 0, 0, 2, 0, "B7B7");
    assert_int_equal(dsn(f, "stamp --serial %s --frame 3 @/gray.png @/f3.png", serial), 2);
    expect_output(f, "--frame=3 is out of range (0..2");
    assert_int_equal(sh(f, "test -e @/f3.png"), 1);
    /* netpbm out, and back in */
    assert_int_equal(dsn(f, "stamp --serial %s @/gray.png @/gray.pgm", serial), 0);
    assert_int_equal(sh(f, "head -c 2 @/gray.pgm | grep -q P5"), 0);
    expect_stamped(f, "gray.png", "gray.pgm", 64, 0, DSN_CORNER_BR, 0, serial);
    assert_int_equal(dsn(f, "stamp --serial %s @/rgb.png @/rgb.ppm", serial), 0);
    assert_int_equal(sh(f, "head -c 2 @/rgb.ppm | grep -q P6"), 0);
    /* never in place (the original would be lost), --force or not; an existing output only with --force */
    assert_int_equal(sh(f, "cp @/gray.png @/inplace.png"), 0);
    assert_int_equal(dsn(f, "stamp --serial %s --force @/inplace.png @/inplace.png", serial), 2);
    expect_output(f, "is the input image");
    assert_int_equal(sh(f, "cmp -s @/gray.png @/inplace.png"), 0);
    assert_int_equal(dsn(f, "stamp --serial %s @/rgb.png @/gray.out.png", serial), 2);
    expect_output(f, "gray.out.png already exists: pass --force");
    expect_stamped(f, "gray.png", "gray.out.png", 64, 0, DSN_CORNER_BR, 0, serial);
    assert_int_equal(dsn(f, "stamp --serial %s --force @/rgb.png @/gray.out.png", serial), 0);
    expect_stamped(f, "rgb.png", "gray.out.png", 64, 0, DSN_CORNER_BR, 0, serial);
}

static void test_stamp_cert(void **state)
{
    fixture *f = *state;
    keygen(f);
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner A --customer B --model m --bits 16 --cell 2 "
                         "--corner bl --margin 1 -o @/b.sn"), 0);
    char serial[64];
    snprintf(serial, sizeof serial, "%.63s", f->out);
    serial[strcspn(serial, "\n")] = '\0';
    write_png(f, "in.png", 28, 28, 1, 9);
    assert_int_equal(dsn(f, "stamp --cert @/b.sn @/in.png @/out.png"), 0);
    expect_stamped(f, "in.png", "out.png", 16, 2, DSN_CORNER_BL, 1, serial);
    assert_int_equal(dsn(f, "stamp --cert @/b.sn --serial %s @/in.png @/x.png", serial), 2);
    expect_output(f, "--cert");
    assert_false(exists(f, "x.png"));
    /* a framed stamp: the certificate carries the frame, and stamp --cert draws it */
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner A --customer C --model m --frame 1 -o @/c.sn"), 0);
    snprintf(serial, sizeof serial, "%.63s", f->out);
    serial[strcspn(serial, "\n")] = '\0';
    assert_int_equal(sh(f, "grep -qx 'frame: 1' @/c.sn"), 0);
    assert_int_equal(dsn(f, "show @/c.sn"), 0);
    expect_output(f, "framed by 1 ring of checkerboard cells");
    assert_int_equal(dsn(f, "stamp --cert @/c.sn @/in.png @/framed.png"), 0);
    expect_framed(f, "in.png", "framed.png", 64, 0, DSN_CORNER_BR, 0, 0, 1, 0, serial);
    assert_int_equal(dsn(f, "stamp --cert @/c.sn --frame 1 @/in.png @/y.png"), 2);
    expect_output(f, "--frame");
    assert_int_equal(dsn(f, "issue --key @/owner.pem --owner A --customer D --model m --frame 3 -o @/d.sn"), 2);
    expect_output(f, "--frame=3 is out of range");
    assert_false(exists(f, "d.sn"));
}

static void test_stamp_list(void **state)
{
    fixture *f = *state;
    const char *serial = "028T-5CY4-TQKF-FHF";
    assert_int_equal(sh(f, "mkdir @/imgs @/out @/out2"), 0);
    write_png(f, "imgs/a.png", 28, 28, 1, 1);
    write_png(f, "imgs/b.png", 28, 28, 3, 2);
    write_png(f, "imgs/c.png", 32, 30, 1, 3);
    assert_int_equal(sh(f, "printf '@/imgs/a.png\\n@/imgs/b.png\\r\\n\\n@/imgs/c.png' > @/list.txt"), 0);
    assert_int_equal(dsn(f, "stamp --serial %s --list @/list.txt --outdir @/out", serial), 0);
    expect_output(f, "stamped 3 images");
    assert_int_equal(entries(f, "out"), 3);
    expect_stamped(f, "imgs/a.png", "out/a.png", 64, 0, DSN_CORNER_BR, 0, serial);
    expect_stamped(f, "imgs/b.png", "out/b.png", 64, 0, DSN_CORNER_BR, 0, serial);
    expect_stamped(f, "imgs/c.png", "out/c.png", 64, 0, DSN_CORNER_BR, 0, serial);
    /* one bad entry: nothing is written at all */
    assert_int_equal(sh(f, "printf '@/imgs/a.png\\n@/imgs/none.png\\n' > @/bad.txt"), 0);
    assert_int_equal(dsn(f, "stamp --serial %s --list @/bad.txt --outdir @/out2", serial), 2);
    expect_output(f, "none.png");
    assert_int_equal(entries(f, "out2"), 0);
    /* two outputs with one name */
    assert_int_equal(sh(f, "mkdir @/imgs/sub && cp @/imgs/a.png @/imgs/sub/a.png && "
                        "printf '@/imgs/a.png\\n@/imgs/sub/a.png\\n' > @/dup.txt"), 0);
    assert_int_equal(dsn(f, "stamp --serial %s --list @/dup.txt --outdir @/out2", serial), 2);
    expect_output(f, "out2/a.png");
    assert_int_equal(entries(f, "out2"), 0);
    assert_int_equal(dsn(f, "stamp --serial %s --list @/list.txt --outdir @/nodir", serial), 2);
    expect_output(f, "--outdir");
    assert_int_equal(dsn(f, "stamp --serial %s --list @/list.txt", serial), 2);
    assert_int_equal(dsn(f, "stamp --serial %s --list @/nolist.txt --outdir @/out2", serial), 2);
    expect_output(f, "nolist.txt");
}

static void expect_stamp_error(fixture *f, const char *args, const char *why)
{
    int rc = dsn(f, "stamp %s", args);
    if(rc != 2) fail_msg("stamp %s: exit %d, not 2:\n%s", args, rc, f->out);
    expect_output(f, why);
    assert_false(exists(f, "out.png"));
    assert_false(exists(f, "out.jpg"));
}

static void test_stamp_bad_inputs(void **state)
{
    fixture *f = *state;
    write_png(f, "in.png", 28, 28, 1, 1);
    write_png(f, "tiny.png", 6, 6, 1, 1);
    assert_int_equal(sh(f, "printf 'not an image' > @/text.png"), 0);
    int before = entries(f, NULL);
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF-FHG @/in.png @/out.png", "typo");
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF @/in.png @/out.png", "--serial");
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF-FHF --bits 70 @/in.png @/out.png", "--serial");
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF-FHF --bits 2 @/in.png @/out.png", "--bits 2");
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF-FHF @/tiny.png @/out.png", "tiny.png");
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF-FHF --cell 4 @/in.png @/out.png", "does not fit");
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF-FHF --cell -2 @/in.png @/out.png", "--cell -2");
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF-FHF --corner up @/in.png @/out.png", "--corner 'up'");
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF-FHF @/none.png @/out.png", "none.png");
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF-FHF @/text.png @/out.png", "text.png");
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF-FHF @/in.png @/out.jpg", "out.jpg");
    expect_stamp_error(f, "--serial 028T-5CY4-TQKF-FHF @/in.png", "expected an input and an output");
    expect_stamp_error(f, "@/in.png @/out.png", "--serial");
    assert_int_equal(entries(f, NULL), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keygen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openssl_key_signs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openssl_verifies_dsn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_from_cfg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_bad_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_bad_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_cert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_certificates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serial_verb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opencv_on_first_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stamp_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stamp_cert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stamp_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stamp_bad_inputs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
