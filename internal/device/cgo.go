package device

/*
#include <stdlib.h>
*/
import "C"

import "unsafe"

// freeC frees C memory malgo allocated for us (DeviceID.Pointer).
func freeC(p unsafe.Pointer) { C.free(p) }
