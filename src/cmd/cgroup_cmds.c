/* Commands over the container's cgroup: update, pause, resume, ps, events,
 * info. (Owned by the cgroup work; filled in there.) */
#include "cmd/commands.h"

const struct nk_command nk_cgroup_commands[] = {
        {0},
};
