# latent_header_check: every public header (include/latent/**/*.hpp outside detail/) compiled on its own, twice in the
# same translation unit (self-contained, and idempotent under #pragma once). One generated .cpp per header, written
# at configure time; CONFIGURE_DEPENDS re-globs when headers are added or removed. In the default build only when
# LATENT_CHECK_HEADERS is ON; the CTest test header_self_contained builds it either way.
file(GLOB_RECURSE _latent_public_headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}/include
  ${PROJECT_SOURCE_DIR}/include/latent/*.hpp)
list(FILTER _latent_public_headers EXCLUDE REGEX "(^|/)detail/")
list(SORT _latent_public_headers)

set(_latent_header_check_sources)
foreach(_header IN LISTS _latent_public_headers)
  string(MAKE_C_IDENTIFIER ${_header} _id)
  set(_source ${PROJECT_BINARY_DIR}/header_check/${_id}.cpp)
  file(CONFIGURE OUTPUT ${_source} CONTENT "#include <${_header}>\n#include <${_header}>\n")  # rewritten only on change
  list(APPEND _latent_header_check_sources ${_source})
endforeach()

if(_latent_header_check_sources)
  add_library(latent_header_check OBJECT ${_latent_header_check_sources})
  target_link_libraries(latent_header_check PRIVATE latent::latent latent_warnings)
  if(NOT MSVC)
    target_compile_options(latent_header_check PRIVATE -O0)  # parsing is the point; skip optimisation work
  endif()
  if(NOT LATENT_CHECK_HEADERS)
    set_target_properties(latent_header_check PROPERTIES EXCLUDE_FROM_ALL TRUE)
  endif()
  list(LENGTH _latent_header_check_sources _count)
  message(STATUS "latent: header check covers ${_count} public headers")
endif()
