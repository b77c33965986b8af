/* dsn_swap.h: a directory replaced as one unit, for outputs that are several files (dsn export's
 * cfg + weights, dsn import's data set): a reader, or a kill at any point, sees the old set or the
 * new set, never a mix.
 *
 *     char stage[4096], err[512];
 *     const char *const mine[] = {"x.cfg", "x.weights"};
 *     if(dsn_stage_dir(stage, sizeof stage, "customer", mine, 2, err, sizeof err) != 0) ...
 *     ... write stage/x.cfg and stage/x.weights ...
 *     if(dsn_swap_dir(stage, "customer", err, sizeof err) != 0) ...   // one renameat2
 *
 * The stage is a new directory beside DIR (".BASE.dsn-stage-XXXXXX" in DIR's parent, DIR's mode)
 * holding hard links to everything already in DIR except the names being replaced, so the files a
 * user keeps in DIR stay (the same files, not copies). dsn_swap_dir then exchanges the two
 * directories with renameat2(RENAME_EXCHANGE), or renames the stage into place when DIR does not
 * exist, and removes the old one. A kill before the exchange leaves DIR as it was (and a stage to
 * delete); after it, DIR is complete and only the old copy's removal may be left undone. DIR may
 * not be a symbolic link (the link itself would be replaced): give the directory it names. */
#ifndef DSN_SWAP_H
#define DSN_SWAP_H

#include <stddef.h>

/* Makes the stage for dir (see above); dir may be missing (its parent must exist). Refuses a dir
 * that is not a directory, the current directory or one of its ancestors, and entries that cannot
 * be hard-linked (another file system below dir). Returns 0, or -1 with err set and no stage left. */
int dsn_stage_dir(char *stage, size_t len, const char *dir, const char *const *replace, int nreplace,
                  char *err, size_t errlen);

/* Puts stage in dir's place (fsync'd first) and removes the old dir (a failure to remove it is only
 * a warning: dir is complete). Returns 0; or -1 with err set, dir unchanged, and the stage removed.
 * The _keep form leaves the old directory at `stage` (*had_old = 1) for the caller to remove its own
 * way (dsn import only removes an import's files). */
int dsn_swap_dir_keep(const char *stage, const char *dir, int *had_old, char *err, size_t errlen);
int dsn_swap_dir(const char *stage, const char *dir, char *err, size_t errlen);

/* rm -r of a directory this program made: files and subdirectories, no symlink followed.
 * Returns 0, or -1 with err naming what could not be removed. */
int dsn_remove_tree(const char *path, char *err, size_t errlen);

#endif
