# SPDX-License-Identifier: MIT
# The CMake package: find_package(caplimit 1.0) finds LIBDIR/cmake/caplimit/
# and gets the imported target caplimit::caplimit.  The files are made at
# make time, when libdir and includedir are known in full: each path is
# written relative to the installed file's own directory when it lies under
# the prefix (relocatable), absolute otherwise.
#   make check-install-cmake  install into a temporary DESTDIR, then build
#                             a CMake project with find_package against it
#   make installcheck         runs the same against the real installation
cmakedir = $(libdir)/cmake/caplimit
cmake_DATA = cmake/caplimit-config.cmake cmake/caplimit-config-version.cmake
EXTRA_DIST += cmake/caplimit-config.cmake.in cmake/caplimit-config-version.cmake.in
CLEANFILES += $(cmake_DATA)
dist_noinst_SCRIPTS += tests/check-cmake.sh

cl_cmake_subst = \
	rel() { case $$1 in "$$p") echo .;; "$$p"/*) echo "$${1\#"$$p"/}";; *) return 1;; esac; }; \
	p='$(prefix)'; \
	if r=`rel '$(cmakedir)'`; then \
	  here='$${CMAKE_CURRENT_LIST_DIR}/'`echo "$$r" | sed 's|[^/][^/]*|..|g'`; \
	else here='$(prefix)'; fi; \
	if r=`rel '$(includedir)'`; then inc="\$${_caplimit_prefix}/$$r"; else inc='$(includedir)'; fi; \
	if r=`rel '$(libdir)'`; then lib="\$${_caplimit_prefix}/$$r"; else lib='$(libdir)'; fi; \
	$(MKDIR_P) cmake && \
	sed -e "s|@CL_CMAKE_PREFIX@|$$here|g" \
	    -e 's|@CL_CMAKE_ORIG_DIR@|$(cmakedir)|g' \
	    -e 's|@CL_CMAKE_ORIG_PREFIX@|$(prefix)|g' \
	    -e "s|@CL_CMAKE_INCLUDEDIR@|$$inc|g" \
	    -e "s|@CL_CMAKE_LIBDIR@|$$lib|g" \
	    -e 's|@CL_CMAKE_EXTRA_LIBS@|$(CL_CMAKE_STATIC_LIBS)|g' \
	    -e 's|@CL_CMAKE_POINTER_SIZE@|$(CL_SIZEOF_VOID_P)|g' \
	    -e 's|@CL_CMAKE_VERSION@|$(PACKAGE_VERSION)|g'

cmake/caplimit-config.cmake: $(srcdir)/cmake/caplimit-config.cmake.in Makefile
	$(AM_V_GEN)$(cl_cmake_subst) $(srcdir)/cmake/caplimit-config.cmake.in > $@.tmp && mv -f $@.tmp $@
cmake/caplimit-config-version.cmake: $(srcdir)/cmake/caplimit-config-version.cmake.in Makefile
	$(AM_V_GEN)$(cl_cmake_subst) $(srcdir)/cmake/caplimit-config-version.cmake.in > $@.tmp && mv -f $@.tmp $@

CL_CMAKE_CHECK = env CC='$(CC)' CMAKE='$(CMAKE)' CL_PREFIX='$(prefix)' \
	CL_LIBDIR='$(libdir)' CL_CMAKEDIR='$(cmakedir)' \
	$(SHELL) $(srcdir)/tests/check-cmake.sh

check-install-cmake: all
	@tmp=`mktemp -d "$${TMPDIR:-/tmp}/caplimit-cmake.XXXXXX"` || exit 1; \
	case $$tmp in /*) ;; *) tmp=`pwd`/$$tmp ;; esac; \
	if $(MAKE) $(AM_MAKEFLAGS) install DESTDIR="$$tmp" > "$$tmp.log" 2>&1; then \
	  CL_DESTDIR="$$tmp" $(CL_CMAKE_CHECK); rc=$$?; \
	else \
	  cat "$$tmp.log"; echo "check-install-cmake: make install failed" >&2; rc=1; \
	fi; \
	rm -rf "$$tmp" "$$tmp.log"; test $$rc = 0 || test $$rc = 77

# make check-install and make installcheck (so make distcheck) run it too.
check-install: check-install-cmake
installcheck-local: installcheck-cmake
installcheck-cmake:
	@CL_DESTDIR='$(DESTDIR)' $(CL_CMAKE_CHECK); rc=$$?; test $$rc = 0 || test $$rc = 77

.PHONY: check-install-cmake installcheck-cmake
