# SPDX-License-Identifier: MIT
# Packaging: what make install puts in the doc directory, what the release
# tarball carries besides the sources, and the Debian packaging (debian/,
# built and checked by tests/packaging/check-deb.sh, which CI runs).
dist_doc_DATA = LICENSE README.md NEWS CONTRIBUTING.md
cl_examplesdir = $(docdir)/examples
dist_cl_examples_DATA = examples/demo.c examples/controller.c

dist_noinst_SCRIPTS += quickstart tests/packaging/check-deb.sh \
	tests/packaging/check-dist.sh
EXTRA_DIST += \
	debian/changelog \
	debian/control \
	debian/copyright \
	debian/rules \
	debian/source/format \
	debian/libcaplimit1.install \
	debian/libcaplimit1.symbols \
	debian/libcaplimit-dev.install \
	debian/libcaplimit-dev.docs \
	debian/libcaplimit-dev.examples \
	debian/caplimit.install \
	debian/caplimit.examples \
	debian/not-installed

# The tarball carries every file the README names (make distcheck runs it).
dist-hook:
	$(AM_V_at)$(SHELL) $(srcdir)/tests/packaging/check-dist.sh '$(srcdir)' '$(distdir)'
