package stream

import (
	"math/rand/v2"
	"testing"
)

// naive is the accounting rule written directly from the spec, for
// comparison.
type naive struct {
	chunks   []naiveChunk
	delayUS  int64
	capacity int64
}

type naiveChunk struct {
	end, size int64
	inflight  bool
}

func (n *naive) count(now int64) int64 {
	var c int64
	for _, ch := range n.chunks {
		if ch.inflight || ch.end-n.delayUS > now {
			c += ch.size
		}
	}
	return c
}

func TestAccountingTable(t *testing.T) {
	a := NewAccountant(10_000)
	// 20 ms chunks of 3853 bytes (13 + 3840) playing from t=1s.
	c1, _ := a.Add(1_000_000, 20_000, 3853)
	if a.Count(0) != 3853 {
		t.Fatal("in-flight chunk not counted")
	}
	a.Sent(c1)
	c2, _ := a.Add(1_020_000, 20_000, 3853)
	a.Sent(c2)
	if a.Count(0) != 7706 || a.Fits(3853, 0) {
		t.Fatalf("count %d: a third chunk must not fit 10000", a.Count(0))
	}
	// output_delay moves completions earlier...
	a.SetOutputDelay(15)
	if a.Count(1_005_000) != 3853 {
		t.Fatalf("with 15 ms delay: %d", a.Count(1_005_000))
	}
	// ...and a smaller delay brings excluded chunks back.
	a.SetOutputDelay(0)
	if a.Count(1_005_000) != 7706 {
		t.Fatalf("delay decreased: %d", a.Count(1_005_000))
	}
	// At the first chunk's completion it leaves the count.
	if a.Count(1_019_999) != 7706 || a.Count(1_020_000) != 3853 || !a.Fits(3853, 1_020_000) {
		t.Fatalf("completion: %d %d", a.Count(1_019_999), a.Count(1_020_000))
	}
	// An unfinished transmission counts even past its completion.
	c3, _ := a.Add(1_040_000, 20_000, 100)
	if a.Count(2_000_000) != 100 {
		t.Fatalf("in flight past completion: %d", a.Count(2_000_000))
	}
	a.Sent(c3)
	if a.Count(2_000_000) != 0 {
		t.Fatal("finished and complete chunk still counted")
	}
	// stream/clear resets.
	a.Add(3_000_000, 20_000, 5000)
	a.Reset()
	if a.Count(0) != 0 {
		t.Fatal("reset")
	}
	if _, err := a.Add(3_000_000, 20_000, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Add(2_000_000, 20_000, 1); err != ErrOrder {
		t.Fatalf("out-of-order chunk: %v", err)
	}
}

// TestAccountingMatchesSpec compares the accountant with the naive rule
// over random streams with delay changes, resets and late completions.
func TestAccountingMatchesSpec(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		a := NewAccountant(1 << 40)
		n := &naive{capacity: 1 << 40}
		ids := map[int]Chunk{}
		ts, now := int64(1_000_000), int64(0)
		for step := range 400 {
			switch op := r.IntN(10); {
			case op < 5:
				dur := int64(15_000 + r.IntN(135_000))
				size := int64(13 + r.IntN(20000))
				c, err := a.Add(ts, dur, int(size))
				if err != nil {
					t.Fatal(err)
				}
				ids[len(n.chunks)] = c
				n.chunks = append(n.chunks, naiveChunk{end: ts + dur, size: size, inflight: true})
				ts += dur
			case op < 7:
				for i := range n.chunks {
					if n.chunks[i].inflight && r.IntN(2) == 0 {
						n.chunks[i].inflight = false
						a.Sent(ids[i])
					}
				}
			case op < 8:
				d := r.IntN(5001)
				a.SetOutputDelay(d)
				n.delayUS = int64(d) * 1000
			case op < 9:
				now += int64(r.IntN(200_000))
			default:
				if r.IntN(20) == 0 {
					a.Reset()
					n.chunks = nil
					ids = map[int]Chunk{}
				}
			}
			if got, want := a.Count(now), n.count(now); got != want {
				t.Fatalf("trial %d step %d: count %d, spec says %d", trial, step, got, want)
			}
		}
	}
}

// TestAccountingLongStream runs long enough for pruned chunks to be
// compacted away, checking against the spec rule throughout.
func TestAccountingLongStream(t *testing.T) {
	a := NewAccountant(1 << 40)
	n := &naive{}
	ts := int64(0)
	for i := range 5000 {
		c, _ := a.Add(ts, 20_000, 1000+i%7)
		a.Sent(c)
		n.chunks = append(n.chunks, naiveChunk{end: ts + 20_000, size: int64(1000 + i%7)})
		ts += 20_000
		now := ts - 300_000
		if i%50 == 0 {
			d := (i / 50) % 3 * 40
			a.SetOutputDelay(d)
			n.delayUS = int64(d) * 1000
		}
		if got, want := a.Count(now), n.count(now); got != want {
			t.Fatalf("chunk %d: count %d, spec says %d", i, got, want)
		}
	}
	if len(a.q)-a.head > 100 || cap(a.q) > 4096 {
		t.Fatalf("kept %d chunks (cap %d): completed chunks are not released", len(a.q)-a.head, cap(a.q))
	}
}

func TestFitsAt(t *testing.T) {
	a := NewAccountant(10_000)
	for i := range 3 {
		c, _ := a.Add(int64(1_000_000+i*20_000), 20_000, 3000)
		a.Sent(c)
	}
	at, ok := a.FitsAt(3000, 0)
	if !ok || at != 1_020_000 {
		t.Fatalf("fits at %d %v, want 1020000 (after the first chunk completes)", at, ok)
	}
	if _, ok := a.FitsAt(20_000, 0); ok {
		t.Fatal("a chunk larger than the capacity can fit")
	}
	if at, _ := a.FitsAt(1000, 0); at != 0 {
		t.Fatal("a chunk that fits now")
	}
}

func BenchmarkAccountingSteadyState(b *testing.B) {
	a := NewAccountant(1 << 20)
	ts := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		now := ts - 2_000_000
		if !a.Fits(3853, now) {
			now = ts
		}
		c, _ := a.Add(ts, 20_000, 3853)
		a.Sent(c)
		ts += 20_000
	}
}
