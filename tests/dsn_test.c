/* Helpers shared by the CMocka suites; see dsn_test.h. */
#include "dsn_test.h"

#include "darknet.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
