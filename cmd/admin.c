/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * caplimit set, close, unlink: one library call each, for everyone.
 */
#include "config.h"

#include <string.h>

#include "cmd.h"

/* The subcommand takes exactly `want` operands (no options). */
static int operands(int argc, char **argv, int want, const char *synopsis)
{
    int i;

    for (i = 1; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            return cmd_usage_error("%s: unknown option '%s'\nUsage: caplimit %s",
                                   argv[0], argv[i], synopsis);
    if (argc - 1 != want)
        return cmd_usage_error("%s: %s operand%s\nUsage: caplimit %s", argv[0],
                               argc - 1 < want ? "missing" : "too many",
                               argc - 1 < want && want - (argc - 1) > 1 ? "s" : "",
                               synopsis);
    return 0;
}

int cmd_set(int argc, char **argv)
{
    caplimit_t *lim;
    size_t total;
    int rc = operands(argc, argv, 2, "set NAME TOTAL");

    if (rc != 0)
        return rc;
    if (cmd_parse_count(argv[2], 1, &total) != 0)
        return cmd_usage_error("set: TOTAL must be a number of tokens or 'inf', not '%s'",
                               argv[2]);
    if ((rc = cmd_open_existing(argv[1], &lim)) != 0)
        return rc;
    rc = caplimit_set_total_tokens(lim, total);
    caplimit_destroy(lim);
    return rc == 0 ? 0 : cmd_fail(argv[1], rc);
}

int cmd_close(int argc, char **argv)
{
    caplimit_t *lim;
    int rc = operands(argc, argv, 1, "close NAME");

    if (rc != 0 || (rc = cmd_open_existing(argv[1], &lim)) != 0)
        return rc;
    rc = caplimit_close(lim);
    caplimit_destroy(lim);
    return rc == 0 ? 0 : cmd_fail(argv[1], rc);
}

int cmd_unlink(int argc, char **argv)
{
    char name[CMD_NAME_MAX];
    int rc = operands(argc, argv, 1, "unlink NAME");

    if (rc != 0 || (rc = cmd_name(argv[1], name)) != 0)
        return rc;
    rc = caplimit_unlink(name);
    return rc == 0 ? 0 : cmd_fail(argv[1], rc);
}
