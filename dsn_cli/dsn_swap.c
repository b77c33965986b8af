/* dsn_swap.c: a directory replaced as one unit (see dsn_swap.h). */
#define _GNU_SOURCE /* renameat2 */
#include "dsn_swap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsn_import.h"
#include "dsn_util.h"

#define PATH_BUF 4096

static int failf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int failf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int joinpath(char *out, size_t len, const char *a, const char *b)
{
    int n = snprintf(out, len, "%s/%s", a, b);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* parent directory and base name of path (trailing slashes ignored) */
static int split_path(const char *path, char *parent, char *base, size_t len)
{
    char tmp[PATH_BUF];
    int n = snprintf(tmp, sizeof tmp, "%s", path);
    if(n <= 0 || (size_t)n >= sizeof tmp) return -1;
    while(n > 1 && tmp[n - 1] == '/') tmp[--n] = '\0';
    char *slash = strrchr(tmp, '/');
    const char *b = slash ? slash + 1 : tmp;
    if(!*b || strcmp(b, ".") == 0 || strcmp(b, "..") == 0) return -1;
    if(snprintf(base, len, "%s", b) >= (int)len) return -1;
    if(!slash) snprintf(parent, len, ".");
    else if(slash == tmp) snprintf(parent, len, "/");
    else snprintf(parent, len, "%.*s", (int)(slash - tmp), tmp);
    return 0;
}

int dsn_remove_tree(const char *path, char *err, size_t errlen)
{
    DIR *d = opendir(path);
    if(!d) return errno == ENOENT ? 0 : failf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while(rc == 0 && (e = readdir(d))) {
        char p[PATH_BUF];
        struct stat st;
        if(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if(joinpath(p, sizeof p, path, e->d_name) != 0) rc = failf(err, errlen, "%s: path too long", path);
        else if(lstat(p, &st) != 0) rc = failf(err, errlen, "%s: %s", p, strerror(errno));
        else if(S_ISDIR(st.st_mode)) rc = dsn_remove_tree(p, err, errlen);
        else if(unlink(p) != 0) rc = failf(err, errlen, "cannot remove %s: %s", p, strerror(errno));
    }
    closedir(d);
    if(rc == 0 && rmdir(path) != 0) rc = failf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
    return rc;
}

static int is_replaced(const char *name, const char *const *replace, int n)
{
    for(int i = 0; i < n; ++i) if(strcmp(name, replace[i]) == 0) return 1;
    return 0;
}

/* Hard links of every entry of src in dst (an existing, empty directory), subdirectories mirrored
 * the same way; `replace` names (top level only) are left out. */
static int mirror(const char *src, const char *dst, const char *const *replace, int nreplace,
                  char *err, size_t errlen)
{
    DIR *d = opendir(src);
    if(!d) return failf(err, errlen, "cannot open %s: %s", src, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while(rc == 0 && (e = readdir(d))) {
        char from[PATH_BUF], to[PATH_BUF];
        struct stat st;
        if(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if(is_replaced(e->d_name, replace, nreplace)) continue;
        if(joinpath(from, sizeof from, src, e->d_name) != 0 || joinpath(to, sizeof to, dst, e->d_name) != 0)
            rc = failf(err, errlen, "%s: path too long", src);
        else if(lstat(from, &st) != 0)
            rc = failf(err, errlen, "%s: %s", from, strerror(errno));
        else if(S_ISDIR(st.st_mode)) {
            if(mkdir(to, st.st_mode & 07777) != 0) rc = failf(err, errlen, "cannot create %s: %s", to, strerror(errno));
            else rc = mirror(from, to, NULL, 0, err, errlen);
        } else if(linkat(AT_FDCWD, from, AT_FDCWD, to, 0) != 0) {
            rc = failf(err, errlen, "cannot keep %s in the new directory (hard link: %s)", from, strerror(errno));
        }
    }
    closedir(d);
    return rc;
}

/* 1 when dir is the current directory or one of its ancestors */
static int holds_cwd(const char *dir)
{
    char real[PATH_MAX], cwd[PATH_MAX];
    if(!realpath(dir, real) || !getcwd(cwd, sizeof cwd)) return 0;
    size_t n = strlen(real);
    if(strcmp(real, "/") == 0) return 1;
    return strncmp(cwd, real, n) == 0 && (cwd[n] == '\0' || cwd[n] == '/');
}

int dsn_stage_dir(char *stage, size_t len, const char *dir, const char *const *replace, int nreplace,
                  char *err, size_t errlen)
{
    char parent[PATH_BUF], base[PATH_BUF];
    struct stat st;
    int exists = lstat(dir, &st) == 0;
    if(split_path(dir, parent, base, sizeof base) != 0)
        return failf(err, errlen, "%s: name a directory (not '.', '..' or '/')", dir);
    if(exists && S_ISLNK(st.st_mode))
        return failf(err, errlen, "%s is a symbolic link: give the directory it points to", dir);
    if(exists && !S_ISDIR(st.st_mode)) return failf(err, errlen, "%s exists and is not a directory", dir);
    if(exists && holds_cwd(dir))
        return failf(err, errlen, "%s is the current directory or holds it: the outputs are replaced by "
                     "swapping the whole directory, so give one of its own (e.g. %s/customer)", dir, dir);
    if(dsn_mkdirs(parent, err, errlen) != 0) return -1;
    int n = snprintf(stage, len, "%s/.%s.dsn-stage-XXXXXX", parent, base);
    if(n < 0 || (size_t)n >= len) return failf(err, errlen, "%s: path too long", dir);
    if(!mkdtemp(stage)) return failf(err, errlen, "cannot create %s: %s", stage, strerror(errno));
    mode_t mask = umask(0);
    umask(mask);
    chmod(stage, exists ? st.st_mode & 07777 : 0777 & ~mask);
    if(exists && mirror(dir, stage, replace, nreplace, err, errlen) != 0) {
        char ignored[256];
        dsn_remove_tree(stage, ignored, sizeof ignored);
        return -1;
    }
    return 0;
}

static void sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if(fd >= 0) {
        fsync(fd); /* best effort: some file systems refuse fsync on directories */
        close(fd);
    }
}

int dsn_swap_dir_keep(const char *stage, const char *dir, int *had_old, char *err, size_t errlen)
{
    char parent[PATH_BUF], base[PATH_BUF], ignored[256];
    struct stat st;
    *had_old = lstat(dir, &st) == 0;
    if(split_path(dir, parent, base, sizeof base) != 0) {
        dsn_remove_tree(stage, ignored, sizeof ignored);
        return failf(err, errlen, "%s: name a directory (not '.', '..' or '/')", dir);
    }
    if(*had_old && S_ISLNK(st.st_mode)) {
        dsn_remove_tree(stage, ignored, sizeof ignored);
        return failf(err, errlen, "%s is a symbolic link: give the directory it points to", dir);
    }
    sync_dir(stage);
    unsigned flags = *had_old ? RENAME_EXCHANGE : RENAME_NOREPLACE;
    if(renameat2(AT_FDCWD, stage, AT_FDCWD, dir, flags) != 0) {
        int e = errno;
        dsn_remove_tree(stage, ignored, sizeof ignored);
        if(e == EINVAL || e == ENOSYS)
            return failf(err, errlen, "cannot replace %s in one step on this file system (renameat2: %s): "
                         "nothing was changed", dir, strerror(e));
        return failf(err, errlen, "cannot move %s to %s: %s (nothing was changed)", stage, dir, strerror(e));
    }
    sync_dir(parent);
    return 0;
}

int dsn_swap_dir(const char *stage, const char *dir, char *err, size_t errlen)
{
    int had_old;
    char why[512];
    if(dsn_swap_dir_keep(stage, dir, &had_old, err, errlen) != 0) return -1;
    if(had_old && dsn_remove_tree(stage, why, sizeof why) != 0)
        dsn_error("warning: %s is complete, but its old copy is left in %s: %s", dir, stage, why);
    return 0;
}
