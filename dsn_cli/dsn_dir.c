/* dsn_dir.c: whole-directory writes (see dsn_dir.h). */
#define _GNU_SOURCE /* renameat2, RENAME_EXCHANGE */
#include "dsn_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsn_util.h"

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int dsn_dir_remove(const char *path)
{
    struct stat st;
    if(lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if(nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        dsn_error("cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int dsn_dir_exists(const char *path)
{
    struct stat st;
    if(stat(path, &st) != 0) {
        if(errno == ENOENT) return 0;
        dsn_error("cannot examine %s: %s", path, strerror(errno));
        return -1;
    }
    if(!S_ISDIR(st.st_mode)) {
        dsn_error("%s exists and is not a directory", path);
        return -1;
    }
    return 1;
}

/* parent and base of path, without trailing slashes ("a/b/" -> "a", "b"; "b" -> ".", "b"). */
static int split_path(const char *path, char *parent, size_t plen, char *base, size_t blen)
{
    char p[4096];
    int n = snprintf(p, sizeof p, "%s", path);
    if(n <= 0 || (size_t)n >= sizeof p) return -1;
    while(n > 1 && p[n - 1] == '/') p[--n] = '\0';
    char *slash = strrchr(p, '/');
    if(!slash) {
        snprintf(parent, plen, ".");
        return (size_t)snprintf(base, blen, "%s", p) < blen ? 0 : -1;
    }
    if((size_t)snprintf(base, blen, "%s", slash + 1) >= blen || !base[0]) return -1;
    if(slash == p) snprintf(parent, plen, "/");
    else snprintf(parent, plen, "%.*s", (int)(slash - p), p);
    return 0;
}

int dsn_dir_new_beside(char *out, size_t len, const char *target)
{
    char parent[4096], base[1024];
    if(split_path(target, parent, sizeof parent, base, sizeof base) != 0 ||
       (size_t)snprintf(out, len, "%s/.%s.new.XXXXXX", parent, base) >= len) {
        dsn_error("%s: path too long", target);
        return -1;
    }
    if(!mkdtemp(out)) {
        dsn_error("cannot create a directory in %s: %s", parent, strerror(errno));
        return -1;
    }
    return 0;
}

int dsn_dir_link_all(const char *dst, const char *src)
{
    DIR *d = opendir(src);
    if(!d) {
        dsn_error("cannot read the directory %s: %s", src, strerror(errno));
        return -1;
    }
    int rc = 0;
    for(struct dirent *e; rc == 0 && (e = readdir(d));) {
        if(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char from[4096], to[4096];
        struct stat st;
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dst, e->d_name);
        if(lstat(from, &st) != 0 || !S_ISREG(st.st_mode)) {
            dsn_error("%s is not a regular file: %s holds only files", from, src);
            rc = -1;
        } else if(link(from, to) != 0) {
            dsn_error("cannot link %s to %s: %s", from, to, strerror(errno));
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

void dsn_dir_sync(const char *path, int publish)
{
    if(publish) {
        mode_t mask = umask(0);
        umask(mask);
        chmod(path, 0777 & ~mask);
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if(fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int dsn_dir_install(const char *tmp, const char *target)
{
    char parent[4096], base[1024], aside[5200];
    int have = dsn_dir_exists(target);
    if(have < 0 || split_path(target, parent, sizeof parent, base, sizeof base) != 0) goto fail;
    if(have == 0) {
        if(rename(tmp, target) != 0) {
            dsn_error("cannot rename %s to %s: %s", tmp, target, strerror(errno));
            goto fail;
        }
    } else if(renameat2(AT_FDCWD, tmp, AT_FDCWD, target, RENAME_EXCHANGE) == 0) {
        dsn_dir_remove(tmp); /* now the old directory */
    } else {
        /* no RENAME_EXCHANGE here (EINVAL): move the old one aside, then the new one in */
        snprintf(aside, sizeof aside, "%s/.%s.old.XXXXXX", parent, base);
        if(!mkdtemp(aside) || rename(target, aside) != 0) {
            dsn_error("cannot replace %s: %s", target, strerror(errno));
            goto fail;
        }
        if(rename(tmp, target) != 0) {
            dsn_error("cannot rename %s to %s: %s", tmp, target, strerror(errno));
            rename(aside, target);
            goto fail;
        }
        dsn_dir_remove(aside);
    }
    dsn_dir_sync(parent, 0);
    return 0;
fail:
    dsn_dir_remove(tmp);
    return -1;
}
