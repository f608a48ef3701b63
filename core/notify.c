/* notify.c - tell systemd (Type=notify) when the pipeline is ready, reloading
 * or stopping. Without libsystemd, or outside systemd, these do nothing. */
#include "engine.h"

#ifdef SLUICE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#include <time.h>

void sl__notify_ready(void)
{
    sd_notify(0, "READY=1\nSTATUS=running");
}

void sl__notify_reloading(void)
{
    /* systemd 253+ wants the monotonic time with RELOADING=1; older ones
     * ignore the extra field. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading scripts",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void sl__notify_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=draining");
}
#else
void sl__notify_ready(void)
{
}

void sl__notify_reloading(void)
{
}

void sl__notify_stopping(void)
{
}
#endif
