# unidist for C. Every target that builds first runs .ci/setup, which installs what is missing
# on Debian (and does nothing when all is there). Build outputs go to build/.
#
#   make demo          build examples/mapreduce.c with MPI and run it on 4 ranks
#   make demo-threads  the same example on the threads backend
#   make test          the whole suite (tests/run.sh; VARIANTS=..., TESTS=... select parts)
#   make coverage      line coverage of the three headers by what the suite runs (gcov), each
#                      against a goal of 95%, with the lines never run (tests/coverage.sh)
#   make bench         bench/bench.c for the threads backend, then for MPI on 4 ranks (once
#                      more for large objects between 2 virtual hosts, and, as root, between
#                      2 simulated hosts: tests/hosts/hosts.sh)
#   make amalgamate    write the single-file header build/single/unidist.h
#   make check-single  fail when build/single/unidist.h is older than the modules
#   make dist          the release single header build/dist/unidist.h (usage and LICENSE inside)
#   make install       headers, the release single header, pkg-config and CMake package files
#                      under PREFIX (default /usr/local; DESTDIR too); MPI_PC=ompi-c|mpich
#                      names the MPI that unidist-mpi.pc requires
#   make uninstall     remove what make install put under PREFIX
#   make readme        regenerate README.md's configuration table
#   make clean

CC ?= cc
PYTHON ?= python3
MPICC ?= mpicc.openmpi
# Open MPI refuses root and more ranks than cores unless told; both are fine for the demo.
MPIEXEC ?= OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpiexec.openmpi --oversubscribe
CFLAGS ?= -O2 -g
WARNINGS = -Wall -Wextra -Werror
ALL_CFLAGS = -std=gnu11 $(CFLAGS) $(WARNINGS) -I.
LDLIBS = -pthread

BUILD = build
SINGLE = $(BUILD)/single/unidist.h
DIST = $(BUILD)/dist/unidist.h
HEADERS = $(wildcard unidist*.h)

PREFIX ?= /usr/local
DESTDIR ?=
CMAKE ?= cmake
VERSION := $(shell sed -n 's/^\#define UD_VERSION_STRING "\(.*\)"/\1/p' unidist.h)
# The pkg-config name of the MPI that unidist-mpi.pc requires: Open MPI's where it is installed
# (as MPICC's default), else MPICH's; empty (no MPI): no unidist-mpi.pc.
MPI_PC ?= $(shell for pc in ompi-c mpich; do pkg-config --exists $$pc 2>/dev/null && { echo $$pc; break; }; done)
# Where make install puts things (README, "Add it to your build"): the modules as in this folder,
# the release single header as unidist/unidist.h beside them, so that neither hides the other.
INCDIR = $(DESTDIR)$(PREFIX)/include
PCDIR = $(DESTDIR)$(PREFIX)/lib/pkgconfig
CMAKEDIR = $(DESTDIR)$(PREFIX)/lib/cmake/unidist

.PHONY: all setup demo demo-threads test coverage bench amalgamate check-single dist install \
    uninstall readme clean

all: $(BUILD)/mapreduce

setup:
	@bash .ci/setup

# The example under MPI on this machine: 4 ranks (driver, monitor, 2 workers), Open MPI.
demo: setup
	@$(MAKE) --no-print-directory $(BUILD)/mapreduce_mpi
	$(MPIEXEC) -n 4 ./$(BUILD)/mapreduce_mpi

demo-threads: setup
	@$(MAKE) --no-print-directory $(BUILD)/mapreduce
	./$(BUILD)/mapreduce

test: setup
	CC="$(CC)" bash tests/run.sh

coverage: setup
	CC="$(CC)" bash tests/coverage.sh

# The threads backend's figures, then the MPI backend's on 4 ranks, each beside baselines
# measured in the same run (memcpy, a condition-variable hand-off, raw MPI ping-pong and
# bandwidth over the same ranks); then the large objects again with the ranks split into two
# virtual hosts, so that results cross between hosts through MPI.
bench: setup
	@$(MAKE) --no-print-directory $(BUILD)/bench $(BUILD)/bench_mpi
	./$(BUILD)/bench $(BUILD)/bench.json
	BENCH_OUT=$(BUILD)/bench_mpi.json $(MPIEXEC) -n 4 ./$(BUILD)/bench_mpi
	UNIDIST_MPI_HOSTS=2 BENCH_ONLY=big,chain BENCH_OUT=$(BUILD)/bench_mpi_hosts.json \
	    $(MPIEXEC) -n 4 ./$(BUILD)/bench_mpi
	UNIDIST_CPUS=1 BENCH_ONLY=irregular BENCH_TAG=2workers \
	    BENCH_OUT=$(BUILD)/bench_mpi_2workers.json $(MPIEXEC) -n 3 ./$(BUILD)/bench_mpi
	UNIDIST_CPUS=2 BENCH_ONLY=tasks,remote_rtt,naps BENCH_TAG=2ranks \
	    BENCH_OUT=$(BUILD)/bench_mpi_2ranks.json $(MPIEXEC) --bind-to none -n 2 ./$(BUILD)/bench_mpi
	UNIDIST_MPI_HOSTS=4 BENCH_ONLY=hosts BENCH_OUT=$(BUILD)/bench_mpi_4hosts.json \
	    $(MPIEXEC) -n 4 ./$(BUILD)/bench_mpi
	@if why=$$(bash tests/hosts/hosts.sh check); then \
	    bash tests/hosts/hosts.sh up && \
	    BENCH_ONLY=big BENCH_TAG=realhosts BENCH_OUT=$(BUILD)/bench_mpi_realhosts.json \
	        bash tests/hosts/hosts.sh run openmpi 2,2 ./$(BUILD)/bench_mpi && \
	    BENCH_ONLY=driver_rank BENCH_TAG=onerankahost BENCH_OUT=$(BUILD)/bench_mpi_onerank.json \
	        bash tests/hosts/hosts.sh run openmpi 1,1,1 ./$(BUILD)/bench_mpi; \
	    rc=$$?; bash tests/hosts/hosts.sh down; exit $$rc; \
	else echo "bench: large objects between simulated hosts skipped: $$why"; fi

$(BUILD)/mapreduce: examples/mapreduce.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/mapreduce_mpi: examples/mapreduce.c $(HEADERS)
	@mkdir -p $(@D)
	$(MPICC) $(ALL_CFLAGS) -DWITH_MPI -o $@ $<

$(BUILD)/bench_mpi: bench/bench.c $(HEADERS)
	@mkdir -p $(@D)
	$(MPICC) -std=gnu11 -O2 -g -DNDEBUG $(WARNINGS) -I. -DBENCH_MPI -o $@ $<

$(BUILD)/bench: bench/bench.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -DNDEBUG $(WARNINGS) -I. -o $@ $< $(LDLIBS)

amalgamate:
	$(PYTHON) amalgamate.py -o $(SINGLE)

# The single file is a build output, not committed: this checks that the one in build/ matches
# the modules as they are now.
check-single:
	$(PYTHON) amalgamate.py --check $(SINGLE)

# The single header a release ships: the same code as build/single/unidist.h, with the usage and
# LICENSE's text at the top. Tests build it with this same command (tests/run.sh).
dist:
	$(PYTHON) amalgamate.py --release -o $(DIST)

# The .pc files find the headers relative to themselves (${pcfiledir}), so DESTDIR and a moved
# tree work. The CMake package files come from CMake itself (its component unidist_cmake).
install: dist
	install -d $(INCDIR)/unidist $(PCDIR)
	install -m 644 $(wildcard unidist*.h unidist*.hpp) $(INCDIR)/
	install -m 644 $(DIST) $(INCDIR)/unidist/unidist.h
	sed 's/@UD_VERSION@/$(VERSION)/g' cmake/unidist.pc.in >$(PCDIR)/unidist.pc
	@if [ -n "$(MPI_PC)" ]; then \
	    echo "sed ... cmake/unidist-mpi.pc.in >$(PCDIR)/unidist-mpi.pc  (MPI_PC=$(MPI_PC))"; \
	    sed -e 's/@UD_VERSION@/$(VERSION)/g' -e 's/@UD_MPI_PC@/$(MPI_PC)/g' \
	        cmake/unidist-mpi.pc.in >$(PCDIR)/unidist-mpi.pc; \
	else echo "install: no MPI's pkg-config file (ompi-c, mpich): unidist-mpi.pc left out"; fi
	@if command -v $(CMAKE) >/dev/null; then \
	    $(CMAKE) -S . -B $(BUILD)/install-cmake -DUNIDIST_BUILD_TESTS=OFF >$(BUILD)/install-cmake.log && \
	    DESTDIR="$(DESTDIR)" $(CMAKE) --install $(BUILD)/install-cmake --component unidist_cmake \
	        --prefix "$(PREFIX)" || { cat $(BUILD)/install-cmake.log; exit 1; }; \
	else echo "install: no $(CMAKE): the CMake package files are left out"; fi

uninstall:
	rm -f $(addprefix $(INCDIR)/,$(wildcard unidist*.h unidist*.hpp)) $(INCDIR)/unidist/unidist.h
	rm -f $(PCDIR)/unidist.pc $(PCDIR)/unidist-mpi.pc
	rm -rf $(CMAKEDIR)
	rmdir $(INCDIR)/unidist 2>/dev/null || true

# The table between <!-- config-table --> and <!-- /config-table --> comes from unidist.h.
readme: $(BUILD)/config_table
	@$(BUILD)/config_table > $(BUILD)/config_table.md
	@awk -v table=$(BUILD)/config_table.md ' \
	    /^<!-- \/config-table -->$$/ { skip = 0 } \
	    !skip { print } \
	    /^<!-- config-table -->$$/ { while ((getline line < table) > 0) print line; skip = 1 }' \
	    README.md > $(BUILD)/README.md.new
	@mv $(BUILD)/README.md.new README.md
	@echo "README.md: configuration table regenerated"

$(BUILD)/config_table: tests/config_table.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

clean:
	rm -rf $(BUILD)
