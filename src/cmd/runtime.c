#include "cmd/commands.h"
const struct nk_command nk_runtime_commands[] = { {0} };
