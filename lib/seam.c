/* SPDX-License-Identifier: MIT
 * Copyright (c) 2026 The libcaplimit authors
 *
 * Test seams: hooks that only white-box tests set (internal.h).
 */
#include "internal.h"

void (*cl_after_wake)(caplimit_t *lim);
