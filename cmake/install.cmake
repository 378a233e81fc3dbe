# Install rules (included by CMakeLists.txt when UNIDIST_INSTALL is on). The layout is the one
# `make install` makes (README, "Add it to your build"):
#   include/unidist*.h, unidist*.hpp     the modules, as in the source tree
#   include/unidist/unidist.h            the single header of `make dist`
#   lib/pkgconfig/unidist.pc             and unidist-mpi.pc when the MPI's pkg-config name is known
#   lib/cmake/unidist/                   unidistConfig.cmake, its version file, the targets
include(CMakePackageConfigHelpers)

set(UNIDIST_INSTALL_CMAKEDIR "lib/cmake/unidist" CACHE STRING
    "unidist: where the CMake package files go, under the prefix")
set(UNIDIST_INSTALL_PKGCONFIGDIR "lib/pkgconfig" CACHE STRING
    "unidist: where unidist.pc and unidist-mpi.pc go, under the prefix (the .pc files find the
    headers relative to themselves: keep it two levels below the prefix)")

# unidist.hpp is optional: whatever unidist*.h and unidist*.hpp are there when building.
file(GLOB ud_headers CONFIGURE_DEPENDS
     "${PROJECT_SOURCE_DIR}/unidist*.h" "${PROJECT_SOURCE_DIR}/unidist*.hpp")
install(FILES ${ud_headers} DESTINATION include)

install(TARGETS unidist EXPORT unidistTargets)
if(TARGET unidist_mpi)
    install(TARGETS unidist_mpi EXPORT unidistTargets)
endif()
# The package files are a component of their own, so that `make install` can take them alone.
install(EXPORT unidistTargets NAMESPACE unidist:: DESTINATION "${UNIDIST_INSTALL_CMAKEDIR}"
        COMPONENT unidist_cmake)

configure_package_config_file(cmake/unidistConfig.cmake.in
    "${PROJECT_BINARY_DIR}/unidistConfig.cmake"
    INSTALL_DESTINATION "${UNIDIST_INSTALL_CMAKEDIR}")
# 0.x releases may break the API at each minor version; from 1.0 on, the major one.
if(PROJECT_VERSION_MAJOR EQUAL 0)
    set(ud_compat SameMinorVersion)
else()
    set(ud_compat SameMajorVersion)
endif()
write_basic_package_version_file("${PROJECT_BINARY_DIR}/unidistConfigVersion.cmake"
    COMPATIBILITY ${ud_compat} ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/unidistConfig.cmake"
              "${PROJECT_BINARY_DIR}/unidistConfigVersion.cmake"
        DESTINATION "${UNIDIST_INSTALL_CMAKEDIR}" COMPONENT unidist_cmake)

# pkg-config: unidist-mpi.pc requires the MPI's own .pc, named after the MPI found (Debian:
# ompi-c for Open MPI, mpich for MPICH) unless UNIDIST_MPI_PC says otherwise.
set(UD_VERSION "${PROJECT_VERSION}")
configure_file(cmake/unidist.pc.in "${PROJECT_BINARY_DIR}/unidist.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/unidist.pc" DESTINATION "${UNIDIST_INSTALL_PKGCONFIGDIR}")
set(ud_mpi_pc "")
if(TARGET unidist_mpi)
    include(cmake/mpi_family.cmake)
    unidist_mpi_family(ud_family)
    if(ud_family STREQUAL "openmpi")
        set(ud_mpi_pc ompi-c)
    elseif(ud_family STREQUAL "mpich")
        set(ud_mpi_pc mpich)
    endif()
endif()
set(UNIDIST_MPI_PC "${ud_mpi_pc}" CACHE STRING
    "unidist: the pkg-config name of the MPI that unidist-mpi.pc requires (empty: no unidist-mpi.pc)")
if(UNIDIST_MPI_PC)
    set(UD_MPI_PC "${UNIDIST_MPI_PC}")
    configure_file(cmake/unidist-mpi.pc.in "${PROJECT_BINARY_DIR}/unidist-mpi.pc" @ONLY)
    install(FILES "${PROJECT_BINARY_DIR}/unidist-mpi.pc"
            DESTINATION "${UNIDIST_INSTALL_PKGCONFIGDIR}")
endif()

# The release single header, made as `make dist` makes it.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
    set(ud_single "${PROJECT_BINARY_DIR}/dist/unidist.h")
    add_custom_command(OUTPUT "${ud_single}"
        COMMAND Python3::Interpreter "${PROJECT_SOURCE_DIR}/amalgamate.py" --release
                -o "${ud_single}"
        DEPENDS "${PROJECT_SOURCE_DIR}/amalgamate.py" "${PROJECT_SOURCE_DIR}/LICENSE" ${ud_headers}
        COMMENT "unidist: the single header ${ud_single}")
    add_custom_target(unidist_single ALL DEPENDS "${ud_single}")
    install(FILES "${ud_single}" DESTINATION include/unidist)
else()
    message(STATUS "unidist: no Python 3, so the single header include/unidist/unidist.h is not installed")
endif()
