#include "qamp/planner.h"
