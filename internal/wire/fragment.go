package wire

// Fragmentation (messaging.md "Fragmentation"). Inside the AEAD plaintext:
//
//	first fragment       [1][flags][orig_type][data]
//	subsequent fragments [1][flags][data]
//
// flags bit 1 marks the first fragment, bit 0 the last; bits 2-7 are zero.

const (
	fragLast     = 0x01
	fragFirst    = 0x02
	fragReserved = 0xfc
	// MaxFirstFragmentData is the data a first fragment carries: 65516 bytes.
	MaxFirstFragmentData = MaxPlaintext - 3
	// MaxFragmentData is the data a later fragment carries: 65517 bytes.
	MaxFragmentData = MaxPlaintext - 2
)

// FragmentRule names a malformed fragment sequence.
type FragmentRule uint8

// The malformed-sequence rules, plus the limits a receiver needs.
const (
	FragEmptyMessage  FragmentRule = iota + 1 // a binary message without an ID byte
	FragShort                                 // a fragment shorter than its header
	FragReservedFlags                         // a nonzero reserved flag bit
	FragFirstInFlight                         // a first fragment while one is in flight
	FragNoneInFlight                          // a non-first fragment with none in flight
	FragInterleaved                           // a non-fragment message while one is in flight
	FragOrigTypeOne                           // orig_type 1
	FragTooLarge                              // reassembly would exceed our limit
)

var fragRuleText = [...]string{
	FragEmptyMessage:  "binary message without an ID byte",
	FragShort:         "fragment shorter than its header",
	FragReservedFlags: "reserved fragment flag bit set",
	FragFirstInFlight: "first fragment while a fragmented message is in flight",
	FragNoneInFlight:  "non-first fragment with none in flight",
	FragInterleaved:   "non-fragment message while a fragmented message is in flight",
	FragOrigTypeOne:   "orig_type 1",
	FragTooLarge:      "reassembled message too large",
}

func (r FragmentRule) String() string {
	if int(r) < len(fragRuleText) && fragRuleText[r] != "" {
		return fragRuleText[r]
	}
	return "unknown fragment rule"
}

// FragmentError is a malformed fragment sequence: a protocol error on which
// the receiver closes the connection.
type FragmentError struct {
	Rule FragmentRule
}

func (e *FragmentError) Error() string { return "wire: fragmentation: " + e.Rule.String() }

// Fragmenter splits binary messages too large for one Noise transport
// message. Its buffer is reused, so steady-state splitting does not
// allocate. A Fragmenter is not safe for concurrent use: one per direction,
// owned by the connection's writer, which also guarantees that no other
// binary message goes out between the fragments of one message.
type Fragmenter struct {
	buf []byte
}

// Split calls emit with msg itself when it fits one Noise transport message
// (ID byte plus at most 65518 payload bytes), and otherwise with each
// fragment in order. The slice passed to emit is valid only during the call.
// An emit error stops the split and is returned.
func (f *Fragmenter) Split(msg []byte, emit func([]byte) error) error {
	if len(msg) == 0 {
		return &FragmentError{Rule: FragEmptyMessage}
	}
	if len(msg) <= MaxPlaintext {
		return emit(msg)
	}
	if msg[0] == IDFragment {
		return &FragmentError{Rule: FragOrigTypeOne}
	}
	if cap(f.buf) < MaxPlaintext {
		f.buf = make([]byte, 0, MaxPlaintext)
	}
	data := msg[1:]
	first := true
	for len(data) > 0 {
		b := f.buf[:0]
		flags := byte(0)
		room := MaxFragmentData
		if first {
			flags |= fragFirst
			room = MaxFirstFragmentData
		}
		n := min(room, len(data))
		if n == len(data) {
			flags |= fragLast
		}
		b = append(b, IDFragment, flags)
		if first {
			b = append(b, msg[0])
		}
		b = append(b, data[:n]...)
		if err := emit(b); err != nil {
			return err
		}
		data = data[n:]
		first = false
	}
	return nil
}

// Reassembler is the receiver's single reassembly buffer for one direction.
// Feed it every decrypted binary message in order. Its zero value is ready to
// use with DefaultMaxMessage and every orig_type implemented.
type Reassembler struct {
	// Max bounds a reassembled message (ID byte included), checked before
	// the buffer grows; 0 means DefaultMaxMessage.
	Max int
	// Implemented reports whether the receiver implements a message ID. A
	// fragmented message of another orig_type is tracked but its data is
	// discarded instead of buffered, and it is never dispatched. nil means
	// every ID is implemented.
	Implemented func(id byte) bool

	inFlight bool
	discard  bool
	size     int    // bytes buffered for the in-flight message, ID included
	buf      []byte // [orig_type][data...] unless discarding
	err      error  // sticky: a malformed sequence ends the direction
}

// bufKeep is the largest buffer kept for reuse after a message completes.
const bufKeep = 64 << 10

// Feed processes one decrypted binary message. It returns the message to
// dispatch (ID byte first) when b is an ordinary message or completes a
// fragmented one, and nil otherwise. The returned slice is valid until the
// next call. After an error every later call returns the same error.
func (r *Reassembler) Feed(b []byte) ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	msg, err := r.feed(b)
	if err != nil {
		r.err = err
		r.buf, r.inFlight = nil, false
	}
	return msg, err
}

// InFlight reports whether a fragmented message is being received.
func (r *Reassembler) InFlight() bool { return r.inFlight }

func (r *Reassembler) feed(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, &FragmentError{Rule: FragEmptyMessage}
	}
	if b[0] != IDFragment {
		if r.inFlight {
			return nil, &FragmentError{Rule: FragInterleaved}
		}
		return b, nil
	}
	if len(b) < 2 {
		return nil, &FragmentError{Rule: FragShort}
	}
	flags := b[1]
	if flags&fragReserved != 0 {
		return nil, &FragmentError{Rule: FragReservedFlags}
	}
	data := b[2:]
	if flags&fragFirst != 0 {
		if r.inFlight {
			return nil, &FragmentError{Rule: FragFirstInFlight}
		}
		if len(b) < 3 {
			return nil, &FragmentError{Rule: FragShort}
		}
		orig := b[2]
		if orig == IDFragment {
			return nil, &FragmentError{Rule: FragOrigTypeOne}
		}
		data = b[3:]
		r.inFlight = true
		r.size = 1
		r.discard = r.Implemented != nil && !r.Implemented(orig)
		if !r.discard {
			r.buf = append(r.buf[:0], orig)
		}
	} else if !r.inFlight {
		return nil, &FragmentError{Rule: FragNoneInFlight}
	}
	limit := r.Max
	if limit <= 0 {
		limit = DefaultMaxMessage
	}
	if !r.discard {
		// Only buffered messages are bounded: discarded data costs nothing.
		if len(data) > limit-r.size {
			return nil, &FragmentError{Rule: FragTooLarge}
		}
		r.size += len(data)
		r.buf = append(r.buf, data...)
	}
	if flags&fragLast == 0 {
		return nil, nil
	}
	r.inFlight = false
	if r.discard {
		return nil, nil
	}
	msg := r.buf
	if cap(r.buf) > bufKeep {
		r.buf = nil
	}
	return msg, nil
}
