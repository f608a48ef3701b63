/* stdfds.h - keep descriptors 0, 1 and 2 taken before sluice opens anything. */
#ifndef SLUICE_STDFDS_H
#define SLUICE_STDFDS_H

/* Call first in main. A standard descriptor the process was started without
 * (`sluice <&-`) would otherwise be handed to the next eventfd, socket or file
 * sluice opens, and the stdin input would read, or the stdout output write,
 * that. Each closed one is taken by /dev/null opened the wrong way round (0
 * write-only, 1 and 2 read-only): using it fails with EBADF instead of reading
 * nothing or writing into nowhere, and the stdin and stdout plugins refuse to
 * start on it. Returns 0, or -1 when /dev/null cannot be opened. */
int sl__stdfds_reserve(void);

#endif
