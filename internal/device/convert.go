package device

import (
	"encoding/binary"
	"unsafe"
)

// encode writes samples (left-justified int32, see internal/audio) into
// dst as miniaudio's format of depth bits, truncating like audio.AppendPCM
// so the device gets exactly what a wav: output would record. miniaudio's
// s16 and s32 are native-endian; its s24 is packed little-endian on every
// host. dst must hold len(samples)*depth/8 bytes. It never allocates: it
// runs in the device callback.
func encode(dst []byte, samples []int32, depth int) {
	switch depth {
	case 16:
		dst = dst[:2*len(samples)] // bounds known up front
		for i, s := range samples {
			binary.NativeEndian.PutUint16(dst[2*i:2*i+2], uint16(s>>16))
		}
	case 24:
		dst = dst[:3*len(samples)]
		for i, s := range samples {
			d := dst[3*i : 3*i+3]
			d[0], d[1], d[2] = byte(s>>8), byte(s>>16), byte(s>>24)
		}
	case 32:
		// s32 is a native-endian int32: the samples' own bytes.
		copy(dst[:4*len(samples)], unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(samples))), 4*len(samples)))
	}
}
