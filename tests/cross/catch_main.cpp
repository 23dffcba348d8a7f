// Catch2's main for the cross builds (the host's libCatch2WithMain.a is for the host's CPU).
#define CATCH_CONFIG_MAIN
#include "catch.hpp"
