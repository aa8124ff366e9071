# SPDX-License-Identifier: MIT
# The library.  libcaplimit_impl.la holds every object; the installed
# libcaplimit.la wraps it with hidden visibility and the version script.
# White-box tests link the convenience library to reach internal hooks.
noinst_LTLIBRARIES += lib/libcaplimit_impl.la
lib_libcaplimit_impl_la_SOURCES = \
	lib/internal.h \
	lib/borrowers.h \
	lib/borrowers.c \
	lib/store.c \
	lib/shared.c \
	lib/queue.c \
	lib/lane.c \
	lib/thread.h \
	lib/thread.c \
	lib/clock.c \
	lib/alloc.c \
	lib/seam.c \
	lib/create.c \
	lib/acquire.c \
	lib/release.c \
	lib/capacity.c \
	lib/inspect.c
lib_libcaplimit_impl_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden

lib_LTLIBRARIES += lib/libcaplimit.la
lib_libcaplimit_la_SOURCES =
lib_libcaplimit_la_LIBADD = lib/libcaplimit_impl.la
lib_libcaplimit_la_LDFLAGS = -version-info $(CAPLIMIT_LT_VERSION) -no-undefined
if HAVE_VERSION_SCRIPT
lib_libcaplimit_la_LDFLAGS += -Wl,--version-script=$(srcdir)/lib/caplimit.sym
endif
EXTRA_lib_libcaplimit_la_DEPENDENCIES = lib/caplimit.sym
EXTRA_DIST += lib/caplimit.sym
# The thread-exit key (R22) names a destructor in this library: never unload it.
if HAVE_VERSION_SCRIPT
lib_libcaplimit_la_LDFLAGS += -Wl,-z,nodelete
endif
