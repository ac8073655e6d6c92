# Packaging test driver (cmake -P), run by the CTest test package_consumer:
#   1. cmake --install <latent build tree> into <WORK_DIR>/prefix
#   2. configure, build and run tests/package              against it (find_package, CMAKE_PREFIX_PATH)
#   3. configure, build and run tests/package/add_subdirectory with the source tree
#   4. configure, build and run tests/package/fetchcontent     with the source tree (FetchContent SOURCE_DIR)
# Required: -D LATENT_SOURCE_DIR= -D LATENT_BINARY_DIR= -D WORK_DIR=
# Optional: -D LATENT_EXPECTED_VERSION= -D CONFIG= -D GENERATOR= -D CXX_COMPILER=
cmake_minimum_required(VERSION 3.21)

foreach(_var LATENT_SOURCE_DIR LATENT_BINARY_DIR WORK_DIR)
  if(NOT ${_var})
    message(FATAL_ERROR "run.cmake: pass -D ${_var}=...")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

# run(<step> <command>...): run a command, echo its output on failure, stop on failure.
function(run step)
  message(STATUS "[package] ${step}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "[package] ${step} failed (${_rc}):\n  ${ARGN}\n${_out}")
  endif()
  set(run_output "${_out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})  # fresh every time: a stale cache must not hide a packaging bug
file(MAKE_DIRECTORY ${WORK_DIR})
set(_prefix ${WORK_DIR}/prefix)

run("install into ${_prefix}" ${CMAKE_COMMAND} --install ${LATENT_BINARY_DIR} --prefix ${_prefix} --config ${CONFIG})
foreach(_file include/latent/latent.hpp include/latent/version.hpp
              share/cmake/latent/latentConfig.cmake share/cmake/latent/latentConfigVersion.cmake
              share/cmake/latent/latentTargets.cmake)
  if(NOT EXISTS ${_prefix}/${_file})
    message(FATAL_ERROR "[package] install did not produce ${_file}")
  endif()
endforeach()

set(_configure_args -D CMAKE_BUILD_TYPE=${CONFIG} -D LATENT_EXPECTED_VERSION=${LATENT_EXPECTED_VERSION}
                    -D LATENT_SOURCE_DIR=${LATENT_SOURCE_DIR})
if(GENERATOR)
  list(APPEND _configure_args -G ${GENERATOR})
endif()
if(CXX_COMPILER)
  list(APPEND _configure_args -D CMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()

# consumer(<name> <source dir> <extra configure args>...)
function(consumer name source_dir)
  set(_build ${WORK_DIR}/${name})
  run("${name}: configure" ${CMAKE_COMMAND} -S ${source_dir} -B ${_build} ${_configure_args} ${ARGN})
  run("${name}: build" ${CMAKE_COMMAND} --build ${_build} --config ${CONFIG})
  run("${name}: run" ${_build}/bin/latent_consumer ${LATENT_EXPECTED_VERSION})
  message(STATUS "[package] ${name}: ${run_output}")
endfunction()

set(_package ${LATENT_SOURCE_DIR}/tests/package)
consumer(find_package ${_package} -D CMAKE_PREFIX_PATH=${_prefix} -D LATENT_EXPECTED_PREFIX=${_prefix}
         -D CMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
consumer(add_subdirectory ${_package}/add_subdirectory)
consumer(fetchcontent ${_package}/fetchcontent)
message(STATUS "[package] all three consumers built and ran")
