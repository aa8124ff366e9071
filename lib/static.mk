# SPDX-License-Identifier: MIT
# Static archive hygiene.  A program that links libcaplimit.a may define
# its own cl_malloc or any other name that lib/ uses internally: the
# archive must offer it caplimit_* and nothing else, as the shared object
# does.  After libtool makes lib/.libs/libcaplimit.a (from every object of
# lib/libcaplimit_impl.la, so new files in lib/ need nothing here),
# lib/localize-archive.sh links its members into one relocatable object
# and makes every other symbol local; make install copies that archive.
# libcaplimit_impl.la itself, which white-box tests link, is untouched.
EXTRA_DIST += lib/localize-archive.sh
if CL_LOCALIZE_STATIC
all-local: lib/libcaplimit-static.stamp
lib/libcaplimit-static.stamp: lib/libcaplimit.la $(srcdir)/lib/localize-archive.sh
	$(AM_V_GEN)LD='$(LD)' OBJCOPY='$(OBJCOPY)' AR='$(AR)' RANLIB='$(RANLIB)' \
	  $(SHELL) $(srcdir)/lib/localize-archive.sh lib/.libs/libcaplimit.a \
	  && touch $@
CLEANFILES += lib/libcaplimit-static.stamp
endif

TESTS += tests/check-static.sh
dist_noinst_SCRIPTS += tests/check-static.sh
