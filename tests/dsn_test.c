/* Helpers shared by the CMocka suites; see dsn_test.h. */
#include "dsn_test.h"

#include "darknet.h"
#include "dsn_cert.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *dsn_test_build_dir(void)
{
    const char *b = getenv("DSN_BUILD");
    return b && *b ? b : "build";
}

const char *dsn_test_dsn_bin(void)
{
    static char path[PATH_MAX];
    char rel[PATH_MAX];
    const char *b = getenv("DSN_BIN");
    if(b && *b) snprintf(rel, sizeof rel, "%s", b);
    else snprintf(rel, sizeof rel, "%s/dsn", dsn_test_build_dir());
    if(!realpath(rel, path)){
        fprintf(stderr, "%s not found: build it first (make)\n", rel);
        return NULL;
    }
    return path;
}

void dsn_test_pathf(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if(n < 0 || (size_t)n >= len){
        fprintf(stderr, "dsn_test_pathf: %zu bytes are too few for \"%s\"\n", len, fmt);
        abort();
    }
}

void dsn_test_tmpdir(char *out, size_t len)
{
    const char *t = getenv("TMPDIR");
    snprintf(out, len, "%s/dsn-test-XXXXXX", t && *t ? t : "/tmp");
    if(!mkdtemp(out)){
        perror("mkdtemp");
        abort();
    }
}

char *dsn_test_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if(!f) return NULL;
    char *s = NULL;
    long n;
    if(fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
       (s = calloc((size_t)n + 1, 1)) && fread(s, 1, (size_t)n, f) != (size_t)n){
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

char *dsn_test_write(const char *dir, const char *name, const char *text)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if(!f || fputs(text, f) < 0 || fclose(f) != 0){
        perror(path);
        abort();
    }
    return path;
}

int dsn_test_run(char *out, size_t len, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    if(!p) return -1;
    size_t n = 0, r;
    char buf[4096];
    if(out && len) out[0] = 0;
    while((r = fread(buf, 1, sizeof buf, p)) > 0){
        /* keep the tail: the end of a log is where the verdict is */
        if(out && len > 1){
            if(n + r >= len){
                size_t keep = len - 1 > r ? len - 1 - r : 0;
                memmove(out, out + (n - keep), keep);
                n = keep;
            }
            size_t take = r < len - 1 ? r : len - 1;
            memcpy(out + n, buf + (r - take), take);
            n += take;
            out[n] = 0;
        }
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 256 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int dsn_test_in_child(void (*fn)(void *), void *arg, char *err, size_t len)
{
    int fd[2];
    fflush(stdout);
    fflush(stderr);
    if(pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if(pid == 0){
        close(fd[0]);
        dup2(fd[1], 2);
        dup2(fd[1], 1);
        fn(arg);
        fflush(stderr);
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    char buf[1024];
    while((r = read(fd[0], buf, sizeof buf)) > 0){
        size_t take = (size_t)r;
        if(n + take >= len) take = len - 1 - n;
        memcpy(err + n, buf, take);
        n += take;
    }
    err[n] = 0;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 256 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static unsigned lcg(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

char *dsn_test_make_dataset(const char *dir, int classes, int n_per_class, int w, int h, unsigned seed)
{
    static const char *names[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"};
    char path[1024], img[1024];
    int k, i, x, y;
    unsigned s = seed;
    snprintf(path, sizeof path, "%s/img", dir);
    {
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
        if(system(cmd) != 0) abort();
    }
    snprintf(path, sizeof path, "%s/train.list", dir);
    FILE *list = fopen(path, "w");
    snprintf(path, sizeof path, "%s/labels.txt", dir);
    FILE *labels = fopen(path, "w");
    if(!list || !labels) abort();
    for(k = 0; k < classes; ++k) fprintf(labels, "%s\n", names[k % 10]);
    for(k = 0; k < classes; ++k){
        for(i = 0; i < n_per_class; ++i){
            image im = make_image(w, h, 1);
            int bx = (k % 2) ? w/8 : w/2, by = (k / 2 % 2) ? h/8 : h/2;
            for(y = 0; y < h; ++y) for(x = 0; x < w; ++x){
                float v = 0.1f + 0.2f*(lcg(&s) % 1000)/1000.f;
                if(x >= bx && x < bx + w/4 && y >= by && y < by + h/4) v = 0.9f;
                im.data[y*w + x] = v;
            }
            snprintf(img, sizeof img, "%s/img/%d_%s", dir, i, names[k % 10]);
            save_image_options(im, img, PNG, 0);   /* writes img.png */
            free_image(im);
            fprintf(list, "%s.png\n", img);
        }
    }
    fclose(list);
    fclose(labels);
    snprintf(path, sizeof path, "%s/set.data", dir);
    FILE *d = fopen(path, "w");
    if(!d) abort();
    fprintf(d, "classes=%d\ntrain=%s/train.list\nvalid=%s/train.list\nlabels=%s/labels.txt\nbackup=%s\ntop=1\n",
            classes, dir, dir, dir, dir);
    fclose(d);
    return strdup(path);
}

void dsn_test_rmtree(const char *dir)
{
    char cmd[1100];
    if(!dir || strncmp(dir, "/tmp/", 5) != 0 || getenv("DSN_KEEP_TMP")) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if(system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- a tiny DSN model ------------------------------------------------------------------------ */

static int write_key(const char *path, const dsn_key *k, int private)
{
    char *pem = NULL;
    size_t len = 0;
    if((private ? dsn_key_private_pem(&pem, &len, k) : dsn_key_public_pem(&pem, &len, k)) != 0) return -1;
    FILE *f = fopen(path, "w");
    int rc = f && fwrite(pem, 1, len, f) == len ? 0 : -1;
    if(f && fclose(f) != 0) rc = -1;
    if(private) dsn_key_pem_free(pem, len);
    else free(pem);
    return rc;
}

static int issue_cert(const char *path, const dsn_key *k, const char *customer, int64_t t, dsn_serial *serial)
{
    dsn_geometry g;
    dsn_cert c;
    char err[256], text[DSN_CERT_TEXT_MAX];
    if(dsn_geometry_init(&g, 16, 0, DSN_CORNER_BR, 0, err, sizeof err) != 0 ||
       dsn_cert_init(&c, "Test Owner", customer, "tiny", t, &g, err, sizeof err) != 0 || dsn_cert_sign(&c, k) != 0 ||
       dsn_cert_format(text, sizeof text, &c) < 0)
        return -1;
    FILE *f = fopen(path, "w");
    int rc = f && fputs(text, f) >= 0 ? 0 : -1;
    if(f && fclose(f) != 0) rc = -1;
    if(serial) *serial = c.serial;
    return rc;
}

static const char *TINY_NET =
    "[net]\nbatch=32\nsubdivisions=1\nwidth=16\nheight=16\nchannels=1\nmin_crop=16\nmax_crop=16\nflip=0\n"
    "learning_rate=0.002\nadam=1\ndecay=0\npolicy=constant\nmax_batches=%d\n\n";
static const char *TINY_BODY =
    "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=relu\n\n[maxpool]\nsize=2\nstride=2\n\n"
    "[connected]\noutput=32\nactivation=relu\n\n[connected]\noutput=4\nactivation=linear\n\n";

int dsn_test_make_dsn_model(dsn_test_model *m, int n_certs, int target, int teacher_iters, int student_iters)
{
    memset(m, 0, sizeof *m);
    dsn_test_tmpdir(m->dir, sizeof m->dir);
    char *data = dsn_test_make_dataset(m->dir, 4, 50, 16, 16, 3);
    char *bin = realpath(dsn_test_build_dir(), NULL);
    if(!data || !bin) {
        fprintf(stderr, "dsn_test_make_dsn_model: no data set or no build directory\n");
        return -1;
    }
    snprintf(m->data, sizeof m->data, "%s", data);
    free(data);
    m->n_certs = n_certs;
    m->target = target;
    /* keys from fixed seeds: the same certificates (and serials) on every run */
    uint8_t seed[DSN_SEED_BYTES];
    dsn_key *owner = NULL, *other = NULL;
    for(int i = 0; i < DSN_SEED_BYTES; ++i) seed[i] = (uint8_t)(i + 1);
    if(dsn_key_from_seed(&owner, seed) != 0) return -1;
    for(int i = 0; i < DSN_SEED_BYTES; ++i) seed[i] = (uint8_t)(200 - i);
    if(dsn_key_from_seed(&other, seed) != 0) return -1;
    dsn_test_pathf(m->owner_key, sizeof m->owner_key, "%s/owner.pem", m->dir);
    dsn_test_pathf(m->owner_pub, sizeof m->owner_pub, "%s/owner.pub.pem", m->dir);
    dsn_test_pathf(m->other_pub, sizeof m->other_pub, "%s/other.pub.pem", m->dir);
    dsn_test_pathf(m->certs, sizeof m->certs, "%s/certs", m->dir);
    dsn_test_pathf(m->other_cert, sizeof m->other_cert, "%s/other.sn", m->dir);
    dsn_test_pathf(m->target_cert, sizeof m->target_cert, "%s/c%02d.sn", m->certs, target);
    dsn_test_pathf(m->wrong_cert, sizeof m->wrong_cert, "%s/c%02d.sn", m->certs, (target + 1) % n_certs);
    if(write_key(m->owner_key, owner, 1) != 0 || write_key(m->owner_pub, owner, 0) != 0 ||
       write_key(m->other_pub, other, 0) != 0 || mkdir(m->certs, 0755) != 0) {
        fprintf(stderr, "dsn_test_make_dsn_model: cannot write the keys in %s\n", m->dir);
        return -1;
    }
    dsn_serial serial = {0};
    for(int i = 0; i < n_certs; ++i) {
        char path[600], name[16];
        snprintf(name, sizeof name, "c%02d", i);
        dsn_test_pathf(path, sizeof path, "%s/%s.sn", m->certs, name);
        if(issue_cert(path, owner, name, 1800000000 + i, i == target ? &serial : NULL) != 0) return -1;
    }
    char name[16];
    snprintf(name, sizeof name, "c%02d", target);
    if(issue_cert(m->other_cert, other, name, 1800000000 + target, NULL) != 0) return -1;
    dsn_key_free(owner);
    dsn_key_free(other);

    /* teacher, student (keyed to the target's serial; the shipped recipe's soft rows and warm start), customer
       and plain cfgs */
    char text[8192], out[4096], serial_text[DSN_SERIAL_TEXT_MAX];
    dsn_serial_encode(serial_text, sizeof serial_text, &serial);
    dsn_test_pathf(m->teacher_weights, sizeof m->teacher_weights, "%s/teacher.weights", m->dir);
    dsn_test_pathf(m->student_weights, sizeof m->student_weights, "%s/student.weights", m->dir);
    int n = snprintf(text, sizeof text, TINY_NET, teacher_iters);
    snprintf(text + n, sizeof text - n, "%s[softmax]\n", TINY_BODY);
    char *p = dsn_test_write(m->dir, "teacher.cfg", text);
    snprintf(m->teacher_cfg, sizeof m->teacher_cfg, "%s", p);
    free(p);
    n = snprintf(text, sizeof text, TINY_NET, student_iters);
    n += snprintf(text + n, sizeof text - n, "[serial_stamp]\nbits=16\nvalid=.5\nforged=.2\nnear=.15\nsoft=.1\nnear_max=2\nseed=1\n\n%s", TINY_BODY);
    snprintf(text + n, sizeof text - n,
             "[distill_kl]\nteacher_cfg=%s\nteacher_weights=%s\ntemperature=4\nhard=.5\npush=.5\nwarm=1\n\n"
             "[route]\nlayers=3\n\n[gradient_reversal]\nlambda=1\ngamma=10\n\n"
             "[connected]\noutput=32\nactivation=relu\n\n[connected]\noutput=4\nactivation=linear\n\n[masked_softmax]\nselect=neg\n",
             m->teacher_cfg, m->teacher_weights);
    p = dsn_test_write(m->dir, "student.cfg", text);
    snprintf(m->student_cfg, sizeof m->student_cfg, "%s", p);
    free(p);
    n = snprintf(text, sizeof text, TINY_NET, 1);
    snprintf(text + n, sizeof text - n, "[serial_stamp]\nbits=16\n\n%s[softmax]\n", TINY_BODY);
    p = dsn_test_write(m->dir, "customer.cfg", text);
    snprintf(m->customer_cfg, sizeof m->customer_cfg, "%s", p);
    free(p);
    n = snprintf(text, sizeof text, TINY_NET, 1);
    snprintf(text + n, sizeof text - n, "%s[softmax]\n", TINY_BODY);
    p = dsn_test_write(m->dir, "plain.cfg", text);
    snprintf(m->plain_cfg, sizeof m->plain_cfg, "%s", p);
    free(p);
    int rc = dsn_test_run(out, sizeof out, "cd %s && ASAN_OPTIONS=detect_leaks=0 %s/darknet classifier train %s %s -seed 1 > teacher.log 2>&1",
                          m->dir, bin, m->data, m->teacher_cfg);
    if(rc == 0)
        rc = dsn_test_run(out, sizeof out, "cd %s && ASAN_OPTIONS=detect_leaks=0 %s/darknet classifier train %s %s -seed 2 -serial %s > student.log 2>&1",
                          m->dir, bin, m->data, m->student_cfg, serial_text);
    dsn_test_pathf(m->customer_weights, sizeof m->customer_weights, "%s/cust/customer.weights", m->dir);
    if(rc == 0)
        rc = dsn_test_run(out, sizeof out, "cd %s && ASAN_OPTIONS=detect_leaks=0 %s/dsn export %s %s -o cust --name customer "
                          "--no-seal > export.log 2>&1", m->dir, bin, m->student_cfg, m->student_weights);
    free(bin);
    if(rc != 0) {
        fprintf(stderr, "dsn_test_make_dsn_model: training failed (%d) in %s:\n%s\n", rc, m->dir, out);
        return -1;
    }
    return 0;
}
