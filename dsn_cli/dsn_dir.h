/* dsn_dir.h: directories written as a whole: build a new one beside the target, then rename it
 * into place, so readers see the old directory or the complete new one, never a mix.
 *
 *     char tmp[4096];
 *     if(dsn_dir_new_beside(tmp, sizeof tmp, "certs") != 0) ...   // certs/../.certs.new.XXXXXX
 *     if(dsn_dir_link_all(tmp, "certs") != 0) ...                 // keep what certs/ holds
 *     ... write files into tmp with dsn_write_file ...
 *     if(dsn_dir_install(tmp, "certs") != 0) ...                  // swap in; tmp is gone either way
 *
 * Each function prints "dsn: ..." naming the path when it fails. */
#ifndef DSN_DIR_H
#define DSN_DIR_H

#include <stddef.h>

/* rm -rf path (a missing path is fine). Returns 0 or -1. */
int dsn_dir_remove(const char *path);

/* Creates an empty, private (0700 until installed) directory beside `target`:
 * "<parent>/.<base>.new.XXXXXX", its name in out. Returns 0 or -1. */
int dsn_dir_new_beside(char *out, size_t len, const char *target);

/* Hard-links every regular file of src into dst (same file system). A sub-directory or any
 * other entry in src is refused. Returns 0 or -1. */
int dsn_dir_link_all(const char *dst, const char *src);

/* fsyncs the directory (best effort); with `publish`, gives it the mode mkdir would (0777 less the umask). */
void dsn_dir_sync(const char *path, int publish);

/* Puts the directory tmp in place of target: renamed when target does not exist, atomically
 * exchanged with it otherwise (RENAME_EXCHANGE; where the file system lacks it, target is moved
 * aside first), then the old one removed. On failure tmp is removed and target is unchanged.
 * Returns 0 or -1. */
int dsn_dir_install(const char *tmp, const char *target);

/* 1 when path is an existing directory, 0 when nothing is there, -1 (message printed) when
 * something else is or it cannot be examined. */
int dsn_dir_exists(const char *path);

#endif
