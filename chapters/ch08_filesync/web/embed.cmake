# Writes OUT, a C++ header holding each of FILES (the page's HTML, CSS and JS) as a
# std::string_view in namespace filesync_web, named after the file ("app.js" → app_js):
# the program serves its page from memory, with no files to install and nothing from a CDN.
#   cmake -DOUT=<header> "-DFILES=<f1>;<f2>" -P embed.cmake
set(text "// Generated from chapters/ch08_filesync/web/ by web/embed.cmake — edit those files.\n#pragma once\n#include <string_view>\nnamespace filesync_web {\n")
foreach(f IN LISTS FILES)
  file(READ ${f} content)
  if(content MATCHES "\\)gofer_web\"")
    message(FATAL_ERROR "${f} contains the raw string delimiter )gofer_web\"")
  endif()
  get_filename_component(name ${f} NAME)
  string(MAKE_C_IDENTIFIER ${name} var)
  string(APPEND text "inline constexpr std::string_view ${var} = R\"gofer_web(${content})gofer_web\";\n")
endforeach()
string(APPEND text "}  // namespace filesync_web\n")
file(WRITE ${OUT}.tmp "${text}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
