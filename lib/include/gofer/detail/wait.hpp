// gofer/detail/wait.hpp — the old name of gofer/detail/park.hpp (the park layer), kept for
// code written before the rename. Include gofer/detail/park.hpp.
#pragma once

#include "gofer/detail/park.hpp"
