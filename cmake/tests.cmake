# The suite's core under ctest (included by CMakeLists.txt when UNIDIST_BUILD_TESTS is on):
#   t_*            every tests/t_*.c on the threads backend
#   example        examples/mapreduce.c on the threads backend
#   mpi3_*         with MPI: tests/m_*.c (but m_big.c, over 2 GiB) and the tests/t_*.c that say
#                  "ut: mpi", built with -DUT_MPI and run on 3 ranks, one at a time
#   mpi3_example   examples/mapreduce.c on the MPI backend, 3 ranks
# bench/bench.c is built (bench, bench_mpi), not run: `make bench` runs it.
# A test fails on a non-zero exit or a FAIL line; each has a TIMEOUT (UNIDIST_TEST_TIMEOUT).
# MPI: the one find_package(MPI) found; choose one with -DMPI_C_COMPILER=mpicc.mpich
# -DMPIEXEC_EXECUTABLE=/usr/bin/mpiexec.mpich (both, so that they belong to the same MPI).
set(UNIDIST_TEST_TIMEOUT 120 CACHE STRING "unidist: seconds a test program may take")
set(UNIDIST_TEST_RANKS 3 CACHE STRING "unidist: ranks of the MPI tests")

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
    set(CMAKE_BUILD_TYPE RelWithDebInfo)   # the suite's -O2 -g: stress loops are slow at -O0
endif()
set(ud_warnings "")
if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    set(ud_warnings -Wall -Wextra -Werror)
endif()

# ud_test_program(TARGET SOURCE LIBRARY [DEFINES...])
function(ud_test_program target src lib)
    add_executable(${target} "${PROJECT_SOURCE_DIR}/${src}")
    target_link_libraries(${target} PRIVATE ${lib})
    target_compile_options(${target} PRIVATE ${ud_warnings})
    target_compile_definitions(${target} PRIVATE ${ARGN})
endfunction()

# ud_add_test(NAME COMMAND...) with the properties every test has.
function(ud_add_test name)
    add_test(NAME ${name} COMMAND ${ARGN})
    set_tests_properties(${name} PROPERTIES TIMEOUT ${UNIDIST_TEST_TIMEOUT}
                                            FAIL_REGULAR_EXPRESSION "(^|\n)FAIL ")
endfunction()

file(GLOB ud_thread_tests RELATIVE "${PROJECT_SOURCE_DIR}" CONFIGURE_DEPENDS
     "${PROJECT_SOURCE_DIR}/tests/t_*.c")
set(ud_mpi_tests "")
foreach(src IN LISTS ud_thread_tests)
    get_filename_component(name "${src}" NAME_WE)
    ud_test_program(unidist_${name} ${src} unidist)
    ud_add_test(${name} unidist_${name})
    file(STRINGS "${PROJECT_SOURCE_DIR}/${src}" ut_mpi REGEX "ut: mpi")
    if(ut_mpi)
        list(APPEND ud_mpi_tests "${src}")
    endif()
endforeach()

ud_test_program(unidist_mapreduce examples/mapreduce.c unidist)
ud_add_test(example unidist_mapreduce)
ud_test_program(unidist_bench bench/bench.c unidist NDEBUG)

if(NOT TARGET unidist_mpi)
    message(STATUS "unidist: no MPI, so ctest runs the threads backend only")
    return()
endif()

# mpiexec must belong to the MPI that compiles: a stranger's runs every rank as a singleton.
include("${CMAKE_CURRENT_LIST_DIR}/mpi_family.cmake")
unidist_mpi_family(ud_family)
execute_process(COMMAND "${MPIEXEC_EXECUTABLE}" --version
                OUTPUT_VARIABLE ud_mpiexec_version ERROR_VARIABLE ud_mpiexec_version)
if(ud_mpiexec_version MATCHES "Open MPI|OpenRTE")
    set(ud_exec_family openmpi)
elseif(ud_mpiexec_version MATCHES "HYDRA")
    set(ud_exec_family mpich)
else()
    set(ud_exec_family "${ud_family}")   # unknown: trust it
endif()
if(NOT ud_exec_family STREQUAL ud_family)
    message(FATAL_ERROR "unidist: MPIEXEC_EXECUTABLE ${MPIEXEC_EXECUTABLE} is ${ud_exec_family}'s "
                        "but the MPI compiler is ${ud_family}'s: set MPIEXEC_EXECUTABLE to its "
                        "mpiexec (Debian: /usr/bin/mpiexec.${ud_family})")
endif()
set(ud_mpiexec_flags "")
set(ud_mpi_env "")
if(ud_family STREQUAL "openmpi")
    # Open MPI refuses root and more ranks than cores unless told.
    set(ud_mpiexec_flags --oversubscribe)
    set(ud_mpi_env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
endif()

# ud_add_mpi_test(NAME TARGET): on UNIDIST_TEST_RANKS ranks, one MPI test at a time (the
# shared store's tests count the files they leave in /dev/shm).
function(ud_add_mpi_test name target)
    ud_add_test(${name} "${MPIEXEC_EXECUTABLE}" ${MPIEXEC_NUMPROC_FLAG} ${UNIDIST_TEST_RANKS}
                ${ud_mpiexec_flags} ${MPIEXEC_PREFLAGS} "$<TARGET_FILE:${target}>"
                ${MPIEXEC_POSTFLAGS})
    set_tests_properties(${name} PROPERTIES RESOURCE_LOCK unidist_mpi
                                            ENVIRONMENT "${ud_mpi_env}")
endfunction()

file(GLOB ud_m_tests RELATIVE "${PROJECT_SOURCE_DIR}" CONFIGURE_DEPENDS
     "${PROJECT_SOURCE_DIR}/tests/m_*.c")
list(REMOVE_ITEM ud_m_tests tests/m_big.c)
foreach(src IN LISTS ud_m_tests ud_mpi_tests)
    get_filename_component(name "${src}" NAME_WE)
    ud_test_program(unidist_mpi_${name} ${src} unidist_mpi UT_MPI)
    ud_add_mpi_test(mpi${UNIDIST_TEST_RANKS}_${name} unidist_mpi_${name})
endforeach()

ud_test_program(unidist_mapreduce_mpi examples/mapreduce.c unidist_mpi WITH_MPI)
ud_add_mpi_test(mpi${UNIDIST_TEST_RANKS}_example unidist_mapreduce_mpi)
ud_test_program(unidist_bench_mpi bench/bench.c unidist_mpi NDEBUG BENCH_MPI)
