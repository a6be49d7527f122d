#include "qamp/gate.h"
