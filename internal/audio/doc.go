// Package audio holds Tonearm's audio sources and outputs and the PCM
// sample format they share: a built-in test signal, WAV, FLAC and MP3
// files (OpenFile sniffs which), raw PCM (stdin) and, for players, WAV and
// null outputs.
//
// Samples are interleaved int32 values, left-justified: full scale is the
// int32 range whatever the source's bit depth, so a 16-bit sample s is
// s<<16. Converting to and from a wire bit depth is a shift, exact both
// ways for depths up to 32.
//
// Sources and outputs do their own I/O but keep no clock: pacing belongs
// to the server's scheduler and the player's output driver. File decoders
// are fed untrusted bytes: every size is bounded before allocation and a
// panic inside a third-party decoder becomes an error.
package audio
