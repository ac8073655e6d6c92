# Shared by the three consumer projects: the executable and the checks on what latent::latent hands to users.
if(NOT TARGET latent::latent)
  message(FATAL_ERROR "latent::latent is not defined")
endif()

# The library must not push our build choices onto users: no compile options (-march, -Werror, ...) at all.
get_target_property(_options latent::latent INTERFACE_COMPILE_OPTIONS)
if(_options)
  message(FATAL_ERROR "latent::latent forces compile options on its users: ${_options}")
endif()
# ... nor build latent's own tests, examples or benchmarks when it is not the top-level project.
foreach(_target latent_core_tests latent_header_check latent_warnings latent_bench diffusion_2d)
  if(TARGET ${_target})
    message(FATAL_ERROR "a consumer build defines latent's internal target ${_target}")
  endif()
endforeach()

# No CMAKE_CXX_STANDARD here: C++20 must come from latent::latent's compile features.
add_executable(latent_consumer ${CMAKE_CURRENT_LIST_DIR}/main.cpp)
target_link_libraries(latent_consumer PRIVATE latent::latent)
if(MSVC)
  target_compile_options(latent_consumer PRIVATE /W4 /WX)
else()
  target_compile_options(latent_consumer PRIVATE -Wall -Wextra -Wpedantic -Werror)
endif()
# bin/ in every generator ($<0:> stops multi-config generators from appending a per-configuration folder).
set_target_properties(latent_consumer PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin/$<0:>)
