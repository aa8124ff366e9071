/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit(1): shared capacity limiters for shell scripts, build systems
 * and CI jobs.  This file picks the subcommand.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const char usage_text[] =
    "Usage: caplimit run NAME [-n TOTAL] [-t TOKENS] [-w SECONDS] [-v] [--] COMMAND [ARG...]\n"
    "       caplimit status [--json] [NAME...]\n"
    "       caplimit set NAME TOTAL\n"
    "       caplimit close NAME\n"
    "       caplimit unlink NAME\n"
    "       caplimit --version | --help\n"
    "\n"
    "Limits how many commands run at once, across every process on the machine\n"
    "that names the same limiter.  Tokens of a command that ends, however it\n"
    "ends, go to the next one waiting, in the order they came.\n"
    "\n"
    "  run      take TOKENS of NAME (creating it with TOTAL tokens), run COMMAND,\n"
    "           give them back; exit with COMMAND's status\n"
    "    -n TOTAL    tokens of a limiter this run creates (default: online CPUs;\n"
    "                'inf' for no limit)\n"
    "    -t TOKENS   tokens to hold while COMMAND runs (default 1)\n"
    "    -w SECONDS  wait at most SECONDS (fractions allowed), else exit 75\n"
    "    -v          say on standard error when it waits and when it starts\n"
    "  status   holders, waiters and counters of each NAME (default: all)\n"
    "    --json      one JSON object per limiter, one per line\n"
    "  set      change the total of NAME at run time ('inf' for no limit)\n"
    "  close    refuse every waiting and later run of NAME\n"
    "  unlink   remove the name NAME; its users keep their tokens\n"
    "\n"
    "Exit status: COMMAND's for run (128+N when signal N ended it), else 0;\n"
    "64 bad usage, 69 no such limiter or closed, 70 internal error,\n"
    "75 -w ran out, 77 permission denied.  See caplimit(1).\n";

static int print_version(void)
{
    printf("caplimit %s (libcaplimit %s)\n", PACKAGE_VERSION, caplimit_version());
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } subcommands[] = {
        { "run", cmd_run },     { "status", cmd_status }, { "set", cmd_set },
        { "close", cmd_close }, { "unlink", cmd_unlink },
    };
    const char *sub = argc > 1 ? argv[1] : NULL;
    size_t i;

    if (sub == NULL)
        return cmd_usage_error("a subcommand is needed: run, status, set, close or unlink");
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(sub, "--version") == 0 || strcmp(sub, "-V") == 0)
        return print_version();
    for (i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(sub, subcommands[i].name) == 0)
            return subcommands[i].fn(argc - 1, argv + 1);
    return cmd_usage_error("unknown subcommand '%s'", sub);
}
