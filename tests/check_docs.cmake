# Checks that the guide stays true to the tree: every relative link in
# docs/*.md and README.md names a file or directory that exists, and every
# example program in examples/ is mentioned in the tutorial.
# Usage: cmake -DSOURCE_DIR=<repo> -P check_docs.cmake
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "SOURCE_DIR is not set")
endif()

file(GLOB docs "${SOURCE_DIR}/docs/*.md")
list(APPEND docs "${SOURCE_DIR}/README.md")
set(failures "")
foreach(doc IN LISTS docs)
  get_filename_component(dir "${doc}" DIRECTORY)
  file(READ "${doc}" text)
  # Markdown links: ](target). Brackets and semicolons would split CMake's
  # lists oddly, so the link marker becomes a word and they go first.
  # Absolute URLs and in-page anchors are skipped.
  string(REPLACE "](" "@LINK@(" text "${text}")
  string(REGEX REPLACE "[][;]" " " text "${text}")
  string(REGEX MATCHALL "@LINK@\\([^) ]+\\)" links "${text}")
  foreach(link IN LISTS links)
    string(REGEX REPLACE "^@LINK@\\(([^)#]*)(#.*)?\\)$" "\\1" target "${link}")
    if(target STREQUAL "" OR target MATCHES "^[a-z]+:")
      continue()
    endif()
    if(NOT EXISTS "${dir}/${target}")
      file(RELATIVE_PATH rel "${SOURCE_DIR}" "${doc}")
      string(APPEND failures "${rel}: broken link ${target}\n")
    endif()
  endforeach()
endforeach()

file(READ "${SOURCE_DIR}/docs/tutorial.md" tutorial)
file(GLOB examples "${SOURCE_DIR}/examples/*.c")
foreach(example IN LISTS examples)
  get_filename_component(name "${example}" NAME)
  string(FIND "${tutorial}" "examples/${name}" at)
  if(at EQUAL -1)
    string(APPEND failures "docs/tutorial.md: examples/${name} is not mentioned\n")
  endif()
endforeach()

if(failures)
  message(FATAL_ERROR "the docs are out of date:\n${failures}")
endif()
