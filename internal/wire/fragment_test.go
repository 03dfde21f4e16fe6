package wire

import (
	"bytes"
	"errors"
	"testing"
)

func frag(flags byte, rest ...byte) []byte { return append([]byte{IDFragment, flags}, rest...) }

// TestReassemblerRules is the table of messaging.md "Fragmentation": each
// row feeds a sequence and names what each message yields.
func TestReassemblerRules(t *testing.T) {
	type step struct {
		in   []byte
		out  []byte // nil: nothing dispatched
		rule FragmentRule
	}
	cases := []struct {
		name        string
		implemented func(byte) bool
		max         int
		steps       []step
	}{
		{"plain message passes through", nil, 0, []step{{in: []byte{4, 1, 2}, out: []byte{4, 1, 2}}}},
		{"first, middle, last", nil, 0, []step{
			{in: frag(0x02, 0, 'a')}, {in: frag(0x00, 'b', 'c')}, {in: frag(0x01, 'd'), out: []byte{0, 'a', 'b', 'c', 'd'}},
		}},
		{"first and last in one", nil, 0, []step{{in: frag(0x03, 4, 9, 9), out: []byte{4, 9, 9}}}},
		{"empty data fragments", nil, 0, []step{{in: frag(0x02, 12)}, {in: frag(0x00)}, {in: frag(0x01), out: []byte{12}}}},
		{"sequence state clears after last", nil, 0, []step{
			{in: frag(0x03, 0, 'x'), out: []byte{0, 'x'}}, {in: []byte{0, 'y'}, out: []byte{0, 'y'}},
			{in: frag(0x02, 4, 1)}, {in: frag(0x01, 2), out: []byte{4, 1, 2}},
		}},
		{"first while in flight", nil, 0, []step{{in: frag(0x02, 0, 'a')}, {in: frag(0x02, 0, 'b'), rule: FragFirstInFlight}}},
		{"first-and-last while in flight", nil, 0, []step{{in: frag(0x02, 0, 'a')}, {in: frag(0x03, 0, 'b'), rule: FragFirstInFlight}}},
		{"non-first with none in flight", nil, 0, []step{{in: frag(0x00, 'a'), rule: FragNoneInFlight}}},
		{"last with none in flight", nil, 0, []step{{in: frag(0x01, 'a'), rule: FragNoneInFlight}}},
		{"last after completed message", nil, 0, []step{{in: frag(0x03, 0, 'a'), out: []byte{0, 'a'}}, {in: frag(0x01), rule: FragNoneInFlight}}},
		{"non-fragment while in flight", nil, 0, []step{{in: frag(0x02, 0, 'a')}, {in: []byte{4, 0}, rule: FragInterleaved}}},
		{"reserved bit 2", nil, 0, []step{{in: frag(0x06, 0, 'a'), rule: FragReservedFlags}}},
		{"reserved bit 7 on later fragment", nil, 0, []step{{in: frag(0x02, 0, 'a')}, {in: frag(0x81, 'b'), rule: FragReservedFlags}}},
		{"orig_type 1", nil, 0, []step{{in: frag(0x02, 1, 'a'), rule: FragOrigTypeOne}}},
		{"first without orig_type", nil, 0, []step{{in: frag(0x02), rule: FragShort}}},
		{"no flags byte", nil, 0, []step{{in: []byte{IDFragment}, rule: FragShort}}},
		{"empty binary message", nil, 0, []step{{in: []byte{}, rule: FragEmptyMessage}}},
		{"errors stick", nil, 0, []step{{in: frag(0x00), rule: FragNoneInFlight}, {in: []byte{0, '{'}, rule: FragNoneInFlight}}},
		{"limit checked before buffering", nil, 4, []step{{in: frag(0x02, 0, 'a', 'b')}, {in: frag(0x00, 'c', 'd'), rule: FragTooLarge}}},
		{"limit allows exact size", nil, 4, []step{{in: frag(0x02, 0, 'a', 'b')}, {in: frag(0x01, 'c'), out: []byte{0, 'a', 'b', 'c'}}}},
		{"unimplemented orig_type discarded", func(id byte) bool { return id != 200 }, 2, []step{
			{in: frag(0x02, 200, 'a', 'b', 'c')}, {in: frag(0x00, 'd', 'e', 'f')}, {in: frag(0x01, 'g')},
			{in: []byte{0, 'z'}, out: []byte{0, 'z'}},
		}},
		{"discarded sequence still enforced", func(id byte) bool { return id != 200 }, 0, []step{
			{in: frag(0x02, 200, 'a')}, {in: []byte{4}, rule: FragInterleaved},
		}},
		{"discarded first while in flight", func(id byte) bool { return id != 200 }, 0, []step{
			{in: frag(0x02, 200, 'a')}, {in: frag(0x02, 200, 'a'), rule: FragFirstInFlight},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Reassembler{Max: c.max, Implemented: c.implemented}
			for i, s := range c.steps {
				out, err := r.Feed(s.in)
				if s.rule != 0 {
					var fe *FragmentError
					if !errors.As(err, &fe) || fe.Rule != s.rule {
						t.Fatalf("step %d: err %v, want %v", i, err, s.rule)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if !bytes.Equal(out, s.out) || (out == nil) != (s.out == nil) {
					t.Fatalf("step %d: got %v, want %v", i, out, s.out)
				}
			}
		})
	}
}

// TestFragmenter checks the split sizes and that the reassembler restores
// the message, across the threshold.
func TestFragmenter(t *testing.T) {
	var f Fragmenter
	for _, n := range []int{1, 100, MaxPlaintext - 1, MaxPlaintext, MaxPlaintext + 1,
		1 + MaxFirstFragmentData + MaxFragmentData, 2 + MaxFirstFragmentData + MaxFragmentData, 300000} {
		msg := make([]byte, n)
		msg[0] = IDAudioChunk
		for i := 1; i < n; i++ {
			msg[i] = byte(i * 7)
		}
		var r Reassembler
		var got []byte
		pieces := 0
		err := f.Split(msg, func(b []byte) error {
			pieces++
			if len(b) > MaxPlaintext {
				t.Fatalf("n=%d: piece of %d bytes exceeds one Noise message", n, len(b))
			}
			out, err := r.Feed(b)
			if err != nil {
				return err
			}
			if out != nil {
				got = bytes.Clone(out)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("n=%d: reassembled %d bytes differ", n, len(got))
		}
		want := 1
		if n > MaxPlaintext {
			rest := n - 1 - MaxFirstFragmentData
			want = 1 + (rest+MaxFragmentData-1)/MaxFragmentData
		}
		if pieces != want {
			t.Fatalf("n=%d: %d pieces, want %d", n, pieces, want)
		}
	}
	if err := f.Split(nil, func([]byte) error { return nil }); err == nil {
		t.Fatal("empty message split")
	}
	big := make([]byte, MaxPlaintext+1)
	big[0] = IDFragment
	if err := f.Split(big, func([]byte) error { return nil }); err == nil {
		t.Fatal("orig_type 1 split")
	}
	stop := errors.New("stop")
	big[0] = 0
	if err := f.Split(big, func([]byte) error { return stop }); err != stop {
		t.Fatalf("emit error not returned: %v", err)
	}
}

func TestFragmenterFlags(t *testing.T) {
	var f Fragmenter
	msg := make([]byte, MaxPlaintext+10)
	msg[0] = 0
	var flags []byte
	_ = f.Split(msg, func(b []byte) error { flags = append(flags, b[1]); return nil })
	if !bytes.Equal(flags, []byte{0x02, 0x01}) {
		t.Fatalf("flags %x", flags)
	}
}
