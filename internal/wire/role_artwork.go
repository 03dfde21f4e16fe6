package wire

import "math"

// ArtworkSource is an artwork channel's source type.
type ArtworkSource string

// The artwork sources.
const (
	ArtworkAlbum  ArtworkSource = "album"
	ArtworkArtist ArtworkSource = "artist"
	ArtworkNone   ArtworkSource = "none"
)

// ImageFormat is an artwork image format.
type ImageFormat string

// The image formats.
const (
	ImageJPEG ImageFormat = "jpeg"
	ImagePNG  ImageFormat = "png"
)

// ArtworkChannel configures one artwork channel. Format, Width and Height
// are required unless Source is none.
type ArtworkChannel struct {
	Source ArtworkSource
	Format ImageFormat
	Width  int
	Height int
}

func (c *ArtworkChannel) encode(w *writer) {
	w.str("source", string(c.Source))
	if c.Source != ArtworkNone {
		w.str("format", string(c.Format))
		w.int("width", int64(c.Width))
		w.int("height", int64(c.Height))
	}
}

func (c *ArtworkChannel) decode(r *reader) {
	s, ok := r.str("source", true)
	if !ok {
		return
	}
	c.Source = ArtworkSource(s)
	if !enumIn(c.Source, ArtworkAlbum, ArtworkArtist, ArtworkNone) {
		r.fail("source", RuleEnum)
		return
	}
	if c.Source == ArtworkNone {
		// The other fields are not used for a none channel.
		if r.st.strict {
			r.absent("format")
			r.absent("width")
			r.absent("height")
		}
		return
	}
	f, ok := r.str("format", true)
	c.Format = ImageFormat(f)
	if ok && !enumIn(c.Format, ImageJPEG, ImagePNG) {
		r.fail("format", RuleEnum)
	}
	wd, _ := r.int("width", true, 1, math.MaxInt32)
	h, _ := r.int("height", true, 1, math.MaxInt32)
	c.Width, c.Height = int(wd), int(h)
}

// decodeChannels reads an artwork channels array of at most four entries;
// minLen is 1 for client/state and 0 for stream/start.
func decodeChannels(r *reader, minLen int) []ArtworkChannel {
	elems, ok := r.objects("channels", true)
	if !ok {
		return nil
	}
	if len(elems) < minLen || len(elems) > MaxArtworkChannels {
		r.fail("channels", RuleLength)
		return nil
	}
	out := make([]ArtworkChannel, len(elems))
	for i, e := range elems {
		out[i].decode(e)
	}
	return out
}

func encodeChannels(w *writer, chans []ArtworkChannel) {
	w.arr("channels")
	for i := range chans {
		w.elemObj()
		chans[i].encode(w)
		w.end()
	}
	w.endArr()
}

// ArtworkState is the artwork object of client/state: channels 1-4, the
// array index being the channel number. A longer array is a protocol error
// (roles/artwork/v1.md).
type ArtworkState struct {
	Channels []ArtworkChannel
}

func (s *ArtworkState) encode(w *writer) { encodeChannels(w, s.Channels) }
func (s *ArtworkState) decode(r *reader) { s.Channels = decodeChannels(r, 1) }

// ArtworkStream is the artwork object of stream/start: at most four
// channels, possibly truncated after the last streamed one.
type ArtworkStream struct {
	Channels []ArtworkChannel
}

func (s *ArtworkStream) encode(w *writer) { encodeChannels(w, s.Channels) }
func (s *ArtworkStream) decode(r *reader) { s.Channels = decodeChannels(r, 0) }
