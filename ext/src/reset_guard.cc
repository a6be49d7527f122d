#include "qamp/reset_guard.h"
