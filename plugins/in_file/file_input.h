/* file_input.h - the file input's state, shared by its plain-path mode
 * (file.c) and its glob mode (file_glob.c). */
#ifndef SLUICE_IN_FILE_INPUT_H
#define SLUICE_IN_FILE_INPUT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include <sluice/sluice.h>

#include "checkpoint.h"
#include "line_reader.h"

/* A file a glob matched. Its path strings live until the input is
 * destroyed: messages in flight point at them (msg.source.name). */
struct glob_member {
    struct line_reader *r; /* NULL once the file is finished */
    char *path;            /* as glob(3) gave it; the reader's label */
    dev_t dev;
    ino_t ino;
    bool matched;         /* in the last scan */
    int64_t unmatched_ms; /* when it was first missed by a scan (0: matched) */
};

struct file_input {
    const struct sl_instance *inst;
    struct checkpoint_store *store; /* NULL without state_file */
    struct line_reader *plain;      /* a path without glob characters: as one file */
    /* glob mode */
    const char *pattern;
    bool follow;
    int wake_fd; /* eventfd: stop() interrupts the wait between scans */
    atomic_bool stop;
    pthread_mutex_t mu; /* guards members (stop() walks them from any thread) */
    struct glob_member *members;
    size_t n_members, cap_members;
    char **old_paths; /* labels a renamed file had, kept for messages in flight */
    size_t n_old_paths;
};

/* Whether path has glob(3) characters (then it is a pattern). */
bool file_path_is_glob(const char *path);
/* Hook the reader to the tracker c: lines are tracked, a rotation or
 * truncation starts a new file in it. */
void file_track(struct line_reader *r, struct checkpoint *c);
/* Glob mode (file_glob.c). init: the first scan (at --check only whether
 * anything matches: without follow, nothing is an error naming the
 * pattern). Returns SL_OK or SL_ERROR (said through sl_instance_error). */
int file_glob_init(struct file_input *in);
int file_glob_run(struct file_input *in, struct sl_input_sink *sink);
void file_glob_stop(struct file_input *in);
void file_glob_destroy(struct file_input *in);

#endif
