/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Every allocation of the library goes through here, so that tests can make
 * any one of them fail (R15).  No public function sets errno: malloc and
 * realloc may (on failure, and even on success), so it is put back.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

int (*cl_alloc_should_fail)(void);

static int should_fail(void)
{
    return cl_alloc_should_fail != NULL && cl_alloc_should_fail();
}

void *cl_malloc(size_t size)
{
    int saved = errno;
    void *p = should_fail() ? NULL : malloc(size);

    errno = saved;
    return p;
}

void *cl_realloc(void *p, size_t size)
{
    int saved = errno;
    void *q = should_fail() ? NULL : realloc(p, size);

    errno = saved;
    return q;
}

void cl_free(void *p)
{
    int saved = errno;

    free(p);
    errno = saved;
}
