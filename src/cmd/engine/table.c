/* Engine commands (images, storage). */
#include "cmd/commands.h"

const struct nk_command nk_engine_commands[] = {
        {0},
};
