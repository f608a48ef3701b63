/* fsync_dir.h - make a rename or a new file durable: fsync its directory;
 * and replace a small file whole, through a rename. */
#ifndef SLUICE_COMMON_FSYNC_DIR_H
#define SLUICE_COMMON_FSYNC_DIR_H

#include <stdbool.h>
#include <stddef.h>

/* fsync the directory that holds path. Returns 0, or -1 with errno set. */
int fsync_dir_of(const char *path);

/* Replaces the file at path with data[0..len): written to tmp (beside it),
 * renamed over path, so a reader or a crash sees the old file or the new,
 * never a part. With sync, the data and the rename are fsync'd (a machine
 * crash too); without, they survive a crash of the process. Returns 0, or
 * -1 with errno set (tmp removed). */
int replace_file(const char *path, const char *tmp, const void *data, size_t len, bool sync);

#endif
