/* fsync_dir.h - make a rename or a new file durable: fsync its directory. */
#ifndef SLUICE_COMMON_FSYNC_DIR_H
#define SLUICE_COMMON_FSYNC_DIR_H

/* fsync the directory that holds path. Returns 0, or -1 with errno set. */
int fsync_dir_of(const char *path);

#endif
