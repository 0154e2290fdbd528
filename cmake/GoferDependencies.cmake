# The library's own dependencies: Debian packages, found with find_package. Nothing is
# vendored or downloaded. Used by the build and (through goferConfig.cmake) by consumers.
find_package(Threads REQUIRED)

# The asan preset swaps Debian's Boost.Context/Boost.Fiber (assembly stack switch, invisible to
# AddressSanitizer) for the same version built with ucontext and ASan's fiber annotations by
# cmake/asan-boost.sh, cached outside the checkout (cmake/GoferSanitizerBoost.cmake). The
# environment variable is for nested builds of the asan suite (the consumer.* tests).
set(_gofer_sanitizer_boost_default OFF)
if(DEFINED ENV{GOFER_SANITIZER_BOOST})
  set(_gofer_sanitizer_boost_default "$ENV{GOFER_SANITIZER_BOOST}")
endif()
option(GOFER_SANITIZER_BOOST "Use Boost.Context/Fiber built for AddressSanitizer (asan preset)"
  ${_gofer_sanitizer_boost_default})
set(_gofer_boost_components fiber context stacktrace_backtrace)
if(GOFER_SANITIZER_BOOST)
  list(REMOVE_ITEM _gofer_boost_components fiber context)
endif()
find_package(Boost 1.74 CONFIG REQUIRED COMPONENTS ${_gofer_boost_components})
if(GOFER_SANITIZER_BOOST)
  set(GOFER_BOOST_SANITIZER_PREFIX "" CACHE PATH
    "Where cmake/asan-boost.sh put the archives (empty: its cache directory for this compiler)")
  if(NOT GOFER_BOOST_SANITIZER_PREFIX)
    execute_process(
      COMMAND ${CMAKE_COMMAND} -E env CXX=${CMAKE_CXX_COMPILER}
              bash ${CMAKE_CURRENT_LIST_DIR}/asan-boost.sh --print-prefix
      OUTPUT_VARIABLE GOFER_BOOST_SANITIZER_PREFIX OUTPUT_STRIP_TRAILING_WHITESPACE
      COMMAND_ERROR_IS_FATAL ANY)
    # The directory's name hashes the script: editing it re-runs this and picks the new one.
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
      ${CMAKE_CURRENT_LIST_DIR}/asan-boost.sh)
  endif()
  message(STATUS "gofer: Boost.Context/Fiber for ASan from ${GOFER_BOOST_SANITIZER_PREFIX}")
  include(${CMAKE_CURRENT_LIST_DIR}/GoferSanitizerBoost.cmake)
  if(GOFER_INSTALL)
    install(FILES ${CMAKE_CURRENT_LIST_DIR}/GoferSanitizerBoost.cmake
            DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gofer)
  endif()
endif()
unset(_gofer_sanitizer_boost_default)
unset(_gofer_boost_components)

find_package(absl CONFIG REQUIRED)
find_package(concurrentqueue MODULE REQUIRED)
find_package(nlohmann_json 3 CONFIG REQUIRED)
