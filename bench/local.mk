# SPDX-License-Identifier: MIT
# The benchmark: built and run by `make bench` only, never by make or make
# check.  It links the shared library as programs do.  BENCH_QUICK=1 for a
# smoke run; BENCH_ARGS passes options (see bench/bench --help).
EXTRA_PROGRAMS = bench/bench
bench_bench_SOURCES = bench/bench.c bench/bench.h bench/limiters.c bench/scenarios.c \
	bench/weighted.c bench/shared.c
bench_bench_LDADD = lib/libcaplimit.la
EXTRA_DIST += bench/results.gp bench/README.md \
	bench/results/2026-11-25.csv bench/results/2026-11-25.png \
	bench/results/2026-12-01.csv bench/results/2026-12-01.png
CLEANFILES += bench/bench$(EXEEXT) bench/results.csv bench/results.png

bench: bench/bench$(EXEEXT)
	./bench/bench$(EXEEXT) --csv bench/results.csv $(BENCH_ARGS)
	@if test -n "$(GNUPLOT)"; then \
	  $(GNUPLOT) -e "csv='bench/results.csv'; png='bench/results.png'" \
	    $(srcdir)/bench/results.gp && echo "wrote bench/results.png"; \
	else echo "gnuplot not found: no bench/results.png"; fi
.PHONY: bench
