# SPDX-License-Identifier: MIT
# The manual (man(7) pages, installed by suffix into man1, man3 and man7) and
# the tests that keep it honest:
#   tests/man/lint.sh      mandoc -Tlint -W warning (and groff -ww) are silent
#   tests/man/coverage.sh  every exported symbol and its errors are documented
#   tests/man/examples.sh  every complete program in a page compiles and runs
# and the install test (not part of make check; see below):
#   make check-install     install into a temporary DESTDIR, then build and
#                          run a program with only pkg-config's flags
#   make installcheck      the same against the real installation
#                          (make distcheck runs it)
dist_man_MANS += \
	man/caplimit.1 \
	man/caplimit.7 \
	man/CAPLIMIT_WITH.3 \
	man/CAPLIMIT_WITH_TOKENS.3 \
	man/caplimit_acquire.3 \
	man/caplimit_acquire_nowait.3 \
	man/caplimit_acquire_on_behalf_of.3 \
	man/caplimit_acquire_on_behalf_of_nowait.3 \
	man/caplimit_acquire_on_behalf_of_until.3 \
	man/caplimit_acquire_tokens.3 \
	man/caplimit_acquire_tokens_nowait.3 \
	man/caplimit_acquire_tokens_until.3 \
	man/caplimit_acquire_until.3 \
	man/caplimit_available_tokens.3 \
	man/caplimit_borrowed_tokens.3 \
	man/caplimit_close.3 \
	man/caplimit_counters.3 \
	man/caplimit_create.3 \
	man/caplimit_destroy.3 \
	man/caplimit_drain.3 \
	man/caplimit_format.3 \
	man/caplimit_get_policy.3 \
	man/caplimit_holds.3 \
	man/caplimit_holds_on_behalf_of.3 \
	man/caplimit_is_closed.3 \
	man/caplimit_is_shared.3 \
	man/caplimit_open.3 \
	man/caplimit_release.3 \
	man/caplimit_release_on_behalf_of.3 \
	man/caplimit_release_tokens.3 \
	man/caplimit_set_policy.3 \
	man/caplimit_set_reentrant.3 \
	man/caplimit_set_total_tokens.3 \
	man/caplimit_statistics.3 \
	man/caplimit_statistics_destroy.3 \
	man/caplimit_threads_waiting.3 \
	man/caplimit_total_tokens.3 \
	man/caplimit_unlink.3 \
	man/caplimit_version.3

CL_MAN_TESTS = tests/man/lint.sh tests/man/coverage.sh tests/man/examples.sh
TESTS += $(CL_MAN_TESTS)
dist_noinst_SCRIPTS += $(CL_MAN_TESTS) tests/check-install.sh

# The scripts find the sources through $srcdir (set by the test harness)
# and everything else through these.
AM_TESTS_ENVIRONMENT += \
	CL_TOP_BUILDDIR='$(abs_top_builddir)' \
	CL_LIBTOOL='$(SHELL) $(abs_top_builddir)/libtool' \
	CL_CC='$(CC)' CL_CPPFLAGS='$(CPPFLAGS)' \
	CL_CFLAGS='$(CFLAGS) $(CL_WARN_CFLAGS)' CL_LDFLAGS='$(LDFLAGS)' \
	CL_LIBS='$(LIBS)' CL_NM='$(NM)' CL_MANDOC='$(MANDOC)' \
	CL_MAN_PAGES='$(dist_man_MANS)'; \
	export CL_TOP_BUILDDIR CL_LIBTOOL CL_CC CL_CPPFLAGS CL_CFLAGS \
	CL_LDFLAGS CL_LIBS CL_NM CL_MANDOC CL_MAN_PAGES;

CL_INSTALL_CHECK = env CC='$(CC)' PKG_CONFIG='$(PKG_CONFIG)' NM='$(NM)' \
	CL_PKGCONFIGDIR='$(pkgconfigdir)' CL_LIBDIR='$(libdir)' \
	CL_INCLUDEDIR='$(includedir)' CL_MANDIR='$(mandir)' CL_BINDIR='$(bindir)' \
	CL_MAN_PAGES='$(dist_man_MANS)' \
	$(SHELL) $(srcdir)/tests/check-install.sh

check-install: all
	@tmp=`mktemp -d "$${TMPDIR:-/tmp}/caplimit-install.XXXXXX"` || exit 1; \
	case $$tmp in /*) ;; *) tmp=`pwd`/$$tmp ;; esac; \
	if $(MAKE) $(AM_MAKEFLAGS) install DESTDIR="$$tmp" > "$$tmp.log" 2>&1; then \
	  CL_DESTDIR="$$tmp" $(CL_INSTALL_CHECK); rc=$$?; \
	else \
	  cat "$$tmp.log"; echo "check-install: make install failed" >&2; rc=1; \
	fi; \
	rm -rf "$$tmp" "$$tmp.log"; exit $$rc

installcheck-local:
	CL_DESTDIR='$(DESTDIR)' $(CL_INSTALL_CHECK)

.PHONY: check-install
