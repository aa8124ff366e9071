# SPDX-License-Identifier: MIT
# The Promela models: the lock and queue protocol (model/caplimit.pml), a
# shared limiter's repair after a process dies holding the lock
# (model/shared.pml, R26), and the fast lane against the locked path
# (model/lane.pml).
#   make check-model       exhaustive check of every configuration below;
#                          fails on any assertion violation or invalid end
#                          state (the trail is replayed into model-check/);
#                          prints SKIP and succeeds when spin is missing
#   make check-model-bugs  seeds each known bug (-DBUG=n ...) and fails
#                          unless spin finds a counterexample for every one
# MODEL_FLAGS adds -D options to every run (e.g. -DNCTL=3).
# The -DNMAX configurations are R23's weighted requests (FIFO policy).
EXTRA_DIST += model/caplimit.pml model/shared.pml model/lane.pml

MODEL_FLAGS =
MODEL_PAN_CFLAGS = -O2 -w -DSAFETY -DNOCLAIM
MODEL_PAN_FLAGS = -m100000 -w21
# one configuration per line of words; `,` stands for a space
MODEL_CONFIGS = \
	-DFIFO_ONLY \
	-DPOLICY0=1 \
	-DSWITCH \
	-DSWITCH,-DPOLICY0=1,-DNT=2,-DROUNDS=2 \
	-DFIFO_ONLY,-DNT=2,-DROUNDS=2 \
	-DPOLICY0=1,-DWAKE_BATCH=1 \
	-DSWITCH,-DWAKE_BATCH=1,-DNT=2,-DROUNDS=2 \
	-DOBJECT_RELEASE,-DFIFO_ONLY \
	-DNMAX=2,-DNCTL=1 \
	-DNMAX=2,-DNT=2,-DROUNDS=2 \
	-DNMAX=3,-DTMAX=3,-DNT=2,-DROUNDS=2 \
	-DNMAX=2,-DNCTL=1,-DOBJECT_RELEASE
MODEL_BUGS = \
	-DBUG=1,-DFIFO_ONLY \
	-DBUG=2,-DFIFO_ONLY \
	-DBUG=2,-DFIFO_ONLY,-DNO_P5 \
	-DBUG=3,-DPOLICY0=1 \
	-DBUG=4,-DPOLICY0=1 \
	-DBUG=5,-DOBJECT_RELEASE,-DFIFO_ONLY \
	-DBUG=6,-DPOLICY0=1 \
	-DBUG=7,-DFIFO_ONLY \
	-DBUG=8,-DFIFO_ONLY \
	-DBUG=9,-DPOLICY0=1 \
	-DBUG=10,-DNMAX=2,-DNCTL=1 \
	-DBUG=11,-DNMAX=2,-DNT=2,-DROUNDS=2 \
	-DBUG=12,-DNMAX=2,-DNCTL=1

# model/shared.pml: its pan.c is large and its searches short, so it is
# compiled without optimisation (-O2 costs a minute of compiling per run).
SHARED_PAN_CFLAGS = -O0 -w -DSAFETY -DNOCLAIM
SHARED_CONFIGS = \
	-DNP=3 \
	-DNP=3,-DNMAX=2 \
	-DNP=3,-DNDIE=2 \
	-DNP=3,-DALL_STEPS \
	-DNP=2,-DANYSLOT,-DALL_STEPS,-DNDIE=2
SHARED_BUGS = \
	-DBUG=1 \
	-DBUG=2 \
	-DBUG=3 \
	-DBUG=4 \
	-DBUG=5,-DANYSLOT \
	-DBUG=6 \
	-DBUG=7

# model/lane.pml: its larger searches (up to ten million states) are
# stored collapsed, which halves the memory for a little time.
LANE_PAN_CFLAGS = -O2 -w -DSAFETY -DNOCLAIM -DCOLLAPSE
LANE_CONFIGS = \
	-DNT=2 \
	-DNT=2,-DCAS_LOOP \
	-DNT=2,-DROOM=1 \
	-DNT=2,-DTMAX=3,-DROOM=3,-DNCTL=1 \
	-DNT=2,-DROUNDS=2,-DNO_EXTRA,-DNCTL=1 \
	-DNT=3,-DNOWAIT_ONLY,-DNO_EXTRA,-DNO_SKIP,-DNCTL=1 \
	-DNT=3,-DNOWAIT_ONLY,-DNO_EXTRA,-DNO_SKIP,-DNCTL=1,-DROOM=1,-DTMAX=3 \
	-DNT=3,-DNO_EXTRA,-DNO_SKIP,-DNCTL=0
LANE_BUGS = \
	-DBUG=1,-DNT=2 \
	-DBUG=2,-DNT=2 \
	-DBUG=3,-DNT=2 \
	-DBUG=4,-DNT=2 \
	-DBUG=5,-DNT=2 \
	-DBUG=6,-DNT=2 \
	-DBUG=7,-DNT=2 \
	-DBUG=8,-DNT=2 \
	-DBUG=9,-DNT=2

# The shell sets want ("pass" or "fail": what each run must give), pml
# (the model's file), cflags (pan's) and configs before it expands this.
model_run = \
	if test -z "$(SPIN)"; then \
	  echo "SKIP: $@: spin not found (install spin and re-run configure)"; \
	  exit 0; \
	fi; \
	d=model-check; rm -rf $$d; mkdir -p $$d; \
	cp $(srcdir)/model/$$pml $$d/ || exit 1; \
	bad=0; \
	for c in $$configs; do \
	  flags=`echo "$$c" | tr ',' ' '`; \
	  ( cd $$d && rm -f pan pan.* $$pml.trail \
	    && $(SPIN) $$flags $(MODEL_FLAGS) -a $$pml >spin.out 2>&1 \
	    && $(CC) $$cflags -o pan pan.c \
	    && ./pan $(MODEL_PAN_FLAGS) >pan.out 2>&1 ) \
	    || { cat $$d/spin.out; echo "FAIL: $@: cannot build or run pan for $$flags"; exit 1; }; \
	  if grep -q 'errors: 0$$' $$d/pan.out \
	     && ! grep -q 'max search depth too small' $$d/pan.out; then r=pass; else r=fail; fi; \
	  s=`sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' $$d/pan.out`; \
	  t=`sed -n 's/^pan: elapsed time \(.*\)/\1/p' $$d/pan.out`; \
	  if test $$r = $$want; then \
	    echo "ok: $$pml $$flags: $$r ($$s states, $$t)"; \
	  else \
	    bad=1; \
	    echo "FAIL: $$pml $$flags: $$r, expected $$want ($$s states, $$t)"; \
	    grep '^pan:1' $$d/pan.out; \
	    if test -f $$d/$$pml.trail; then \
	      ( cd $$d && $(SPIN) $$flags $(MODEL_FLAGS) -t -p -g $$pml \
	          >trail-`basename $$pml .pml`-`echo "$$c" | tr -c 'A-Za-z0-9=\n' '_'`.txt 2>&1 ); \
	      echo "  trail replayed into $$d/trail-*.txt"; \
	    fi; \
	  fi; \
	done; \
	test $$bad = 0 || exit 1; \
	rm -rf $$d

check-model:
	@(want=pass; pml=caplimit.pml; cflags='$(MODEL_PAN_CFLAGS)'; \
	  configs='$(MODEL_CONFIGS)'; $(model_run)) && \
	(want=pass; pml=shared.pml; cflags='$(SHARED_PAN_CFLAGS)'; \
	  configs='$(SHARED_CONFIGS)'; $(model_run)) && \
	(want=pass; pml=lane.pml; cflags='$(LANE_PAN_CFLAGS)'; \
	  configs='$(LANE_CONFIGS)'; $(model_run))

check-model-bugs:
	@(want=fail; pml=caplimit.pml; cflags='$(MODEL_PAN_CFLAGS)'; \
	  configs='$(MODEL_BUGS)'; $(model_run)) && \
	(want=fail; pml=shared.pml; cflags='$(SHARED_PAN_CFLAGS)'; \
	  configs='$(SHARED_BUGS)'; $(model_run)) && \
	(want=fail; pml=lane.pml; cflags='$(LANE_PAN_CFLAGS)'; \
	  configs='$(LANE_BUGS)'; $(model_run))

.PHONY: check-model check-model-bugs
