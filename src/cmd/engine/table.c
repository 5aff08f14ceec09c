/* Engine commands (containers, images, storage). */
#include "cmd/engine/ctr_cmd.h"

const struct nk_command nk_engine_commands[] = {
        {"pull", nk_cmd_pull, "pull [--platform OS/ARCH[/VARIANT]] [--tls-verify=false] [-q] REF",
         "pull an image from a registry"},
        {"images", nk_cmd_images,
         "images [-q] [--digests] [--no-trunc] [--format json] [REPO[:TAG]]", "list images"},
        {"image", nk_cmd_image, "image ls|inspect|mount|umount|prune|rm|tag ...", "manage images"},
        {"tag", nk_cmd_tag, "tag SOURCE TARGET", "give an image another name"},
        {"rmi", nk_cmd_rmi, "rmi [-f] IMAGE...", "remove images"},
        {"load", nk_cmd_load, "load -i FILE|DIR|- [NAME]",
         "load images from a docker or OCI archive (or OCI layout directory)"},
        {"save", nk_cmd_save, "save [--format docker-archive|oci-archive] -o FILE IMAGE...",
         "save images to an archive"},
        {"import", nk_cmd_import, "import TARBALL|- NAME", "create an image from a rootfs tarball"},
        {"build", nk_cmd_build,
         "build [-t NAME[:TAG]]... [-f FILE] [--build-arg K=V] [--target STAGE] [--no-cache] "
         "CONTEXT|-",
         "build an image from a Containerfile"},
        {"commit", nk_cmd_commit, "commit [-m MSG] [-c INSTR]... CONTAINER [NAME[:TAG]]",
         "make an image of a container's changes"},
        {"export", nk_cmd_export, "export [-o FILE] CONTAINER|IMAGE",
         "write the flattened filesystem as a tar"},
        {"login", nk_cmd_login, "login [-u USER] [-p PASS|--password-stdin] REGISTRY",
         "store registry credentials"},
        {"logout", nk_cmd_logout, "logout REGISTRY", "forget registry credentials"},
        {"volume", nk_cmd_volume, "volume create|ls|inspect|rm|prune ...", "manage volumes"},
        {"network", nk_cmd_network, "network create|ls|inspect|rm|prune ...", "manage networks"},
        {"system", nk_cmd_system, "system df [--format json]", "store disk usage"},
        {0},
};
