# Boost::context and Boost::fiber for AddressSanitizer builds (the asan preset): the static
# archives cmake/asan-boost.sh builds from Debian's boost1.74 source package with the ucontext
# backend and Boost's ASan fiber annotations, in place of Debian's fcontext libraries.
#
# Input: GOFER_BOOST_SANITIZER_PREFIX, the directory holding lib/libboost_{context,fiber}.a.
# Whoever includes a Boost.Context header must define the macros the archives were built with,
# so both targets carry them as INTERFACE compile definitions. The headers stay Debian's
# (Boost::headers, found before this file is included). Used by GoferDependencies.cmake and,
# installed next to it, by goferConfig.cmake.
foreach(_gofer_lib context fiber)
  set(_gofer_archive "${GOFER_BOOST_SANITIZER_PREFIX}/lib/libboost_${_gofer_lib}.a")
  if(NOT EXISTS "${_gofer_archive}")
    message(FATAL_ERROR
      "Boost.${_gofer_lib} built for AddressSanitizer is missing: ${_gofer_archive}\n"
      "Build it with ./gofer setup --preset asan (or cmake/asan-boost.sh).")
  endif()
  if(TARGET Boost::${_gofer_lib})
    get_target_property(_gofer_location Boost::${_gofer_lib} IMPORTED_LOCATION)
    if(NOT _gofer_location STREQUAL _gofer_archive)
      message(FATAL_ERROR "Boost::${_gofer_lib} is already defined (${_gofer_location}), "
        "but an ASan build of gofer needs ${_gofer_archive}")
    endif()
  endif()
endforeach()
if(NOT TARGET Boost::fiber)
  add_library(Boost::context STATIC IMPORTED)
  add_library(Boost::fiber STATIC IMPORTED)
  # BOOST_USE_UCONTEXT selects fiber_ucontext.hpp; BOOST_USE_ASAN adds the switch
  # annotations. The archives are instrumented, so whatever links them needs the ASan runtime.
  set_target_properties(Boost::context PROPERTIES
    IMPORTED_LOCATION "${GOFER_BOOST_SANITIZER_PREFIX}/lib/libboost_context.a"
    INTERFACE_COMPILE_DEFINITIONS "BOOST_USE_UCONTEXT;BOOST_USE_ASAN"
    INTERFACE_LINK_LIBRARIES "Boost::headers;Threads::Threads"
    INTERFACE_LINK_OPTIONS "-fsanitize=address")
  set_target_properties(Boost::fiber PROPERTIES
    IMPORTED_LOCATION "${GOFER_BOOST_SANITIZER_PREFIX}/lib/libboost_fiber.a"
    INTERFACE_LINK_LIBRARIES "Boost::context;Boost::headers;Threads::Threads")
endif()
unset(_gofer_lib)
unset(_gofer_archive)
unset(_gofer_location)
