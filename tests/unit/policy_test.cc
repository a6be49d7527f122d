#include <catch2/catch_test_macros.hpp>
#include "qamp/policy.h"
TEST_CASE("placeholder") { CHECK(qamp::parse_level("any") == qamp::Level::any); }
