/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Every allocation of the library goes through here, so that tests can make
 * any one of them fail (R15).
 */
#include "internal.h"

#include <stdlib.h>

int (*cl_alloc_should_fail)(void);

void *cl_malloc(size_t size)
{
    if (cl_alloc_should_fail != NULL && cl_alloc_should_fail())
        return NULL;
    return malloc(size);
}

void *cl_realloc(void *p, size_t size)
{
    if (cl_alloc_should_fail != NULL && cl_alloc_should_fail())
        return NULL;
    return realloc(p, size);
}

void cl_free(void *p)
{
    free(p);
}
