/* The engine face's commands that live in the binary itself rather than in
 * the nook-engine module: those that must start fast or stay small. */
#include "cmd/commands.h"

const struct nk_command nk_engine_core_commands[] = {
        {0},
};
