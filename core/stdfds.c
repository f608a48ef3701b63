/* stdfds.c - see stdfds.h. */
#include <fcntl.h>
#include <unistd.h>

#include "stdfds.h"

int sl__stdfds_reserve(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        /* the lower ones are open, so open() returns fd itself */
        int got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
        if (got < 0)
            return -1;
        if (got != fd) {
            dup2(got, fd);
            close(got);
        }
    }
    return 0;
}
