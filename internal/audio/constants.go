package audio

// Limits we accept from files and peers.
const (
	MaxChannels   = 32
	MaxSampleRate = 768_000
)

// Ours: bounds on what a file may make us buffer or compute.
const (
	// maxWAVChunk bounds a non-data WAV chunk we buffer (fmt); others are
	// skipped without buffering.
	maxWAVChunk = 1 << 16
	// maxID3Tags is how many ID3v2 tags in a row we skip before the audio;
	// each is skipped by discarding, never buffered.
	maxID3Tags = 4
	// sniffBuffer is the read buffer in front of a file being sniffed and
	// decoded; it holds at least one whole MPEG frame (at most 1441 bytes).
	sniffBuffer = 64 << 10

	// mp3DecoderDelay is the delay of MPEG layer III synthesis in samples:
	// the decoded stream lags the encoder's input by this much on top of
	// the encoder delay the LAME tag records (the figure LAME, mpg123 and
	// ffmpeg use; measured for go-mp3 in TestMP3Alignment).
	mp3DecoderDelay = 529
	// mp3ReadFrames is how many frames an MP3 read decodes at most.
	mp3ReadFrames = 4096

	// convertBlock is how many input frames the converter reads at a time.
	convertBlock = 1024
	// resampleStopbandDB is the Kaiser design target of the resampler's
	// filter; the guarantee is 90 dB (tested), the margin absorbs
	// coefficient interpolation.
	resampleStopbandDB = 100
	// resamplePassband and resampleStopband are the filter's band edges
	// as fractions of the lower of the two rates.
	resamplePassband = 0.45
	resampleStopband = 0.5
	// maxRateRatio bounds the ratio of two rates Convert converts between:
	// the filter is as many times longer as the rate falls.
	maxRateRatio = 256
	// maxFilterTable bounds the resampler's coefficient table (float64
	// entries, 4 MiB); beyond it, phases are interpolated.
	maxFilterTable = 1 << 19

	// playlistBuffer is how many frames a playlist reads ahead from its
	// current run of tracks, so that a Read never spans two tracks.
	playlistBuffer = 4096
)
