#include "qamp/migrator.h"
