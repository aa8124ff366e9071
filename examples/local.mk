# SPDX-License-Identifier: MIT
# Example programs, built with the library as a user would link it.
noinst_PROGRAMS += examples/demo examples/controller
examples_demo_SOURCES = examples/demo.c
examples_demo_LDADD = lib/libcaplimit.la
examples_controller_SOURCES = examples/controller.c
examples_controller_LDADD = lib/libcaplimit.la

# make demo: build and run the demo
demo: examples/demo$(EXEEXT)
	./examples/demo$(EXEEXT)
.PHONY: demo
