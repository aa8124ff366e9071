# SPDX-License-Identifier: MIT
# caplimit(1), the command: the library's first client, on its public API
# only, linked as a user's program would be.
bin_PROGRAMS = cmd/caplimit
cmd_caplimit_SOURCES = \
	cmd/cmd.h \
	cmd/run.h \
	cmd/caplimit.c \
	cmd/common.c \
	cmd/admin.c \
	cmd/run.c \
	cmd/wait.c \
	cmd/child.c \
	cmd/status.c
cmd_caplimit_LDADD = lib/libcaplimit.la

# tests/check-command.sh drives the built binary with real processes.
TESTS += tests/check-command.sh
dist_noinst_SCRIPTS += tests/check-command.sh
EXTRA_DIST += examples/jobs-demo.sh
