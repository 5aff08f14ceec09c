/* The pids listed in /proc, for the helpers that watch it for new
 * processes (pidwatch, ptsteal). */
#pragma once
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_PID (1 << 22)

/* The next pid in the /proc listing `d` (below MAX_PID, not ours), or 0 at
 * its end. */
static long next_pid(DIR *d)
{
        struct dirent *e;
        while ((e = readdir(d))) {
                char *end;
                long pid = strtol(e->d_name, &end, 10);
                if (!*end && pid > 0 && pid < MAX_PID && pid != getpid())
                        return pid;
        }
        return 0;
}
