package clocksync

import "testing"

// TestServerViewBoundsTheOffset: a client in bursts (each message after
// the previous reply) with a clock offset, asymmetric delays and a
// turnaround: the server's view finds an offset within its max_error of
// the true one, and the round trip including the turnaround.
func TestServerViewBoundsTheOffset(t *testing.T) {
	const (
		offset = 123_456_789 // server minus client
		up     = 700         // client to server, µs
		down   = 300
		turn   = 50 // the client's turnaround
		proc   = 20 // the server's, between reading and replying
	)
	var v ServerView
	client := int64(1_000_000) // client clock
	var got Estimate
	changes := 0
	for burst := 0; burst < 3; burst++ {
		for i := 0; i < 8; i++ {
			t1 := client
			t2 := t1 + offset + up + int64(i%3)*40 // jitter on the way up
			t3 := t2 + proc
			if e, changed := v.Exchange(t1, t2, t3); changed {
				got, changes = e, changes+1
			}
			client = t3 - offset + down + turn // the reply arrives, the next goes out
		}
		client += 10_000_000 // the next burst
	}
	if changes == 0 {
		t.Fatal("no estimate")
	}
	if d := got.Offset - offset; d > got.MaxError || -d > got.MaxError {
		t.Fatalf("offset %d ± %d does not hold the true %d", got.Offset, got.MaxError, offset)
	}
	if lo := int64(up + down + turn); got.RTT < lo || got.RTT > lo+80 {
		t.Fatalf("rtt %d, want %d plus at most the jitter", got.RTT, lo)
	}
	if got.MaxError > (up+down+turn)/2 {
		t.Fatalf("max_error %d beyond half the round trip", got.MaxError)
	}
	// A client that sends before the reply came (pipelined) gives an
	// inconsistent exchange, which is dropped.
	var p ServerView
	p.Exchange(100, 100+offset+up, 100+offset+up+proc)
	if _, changed := p.Exchange(110, 110+offset+up, 110+offset+up+proc); changed {
		t.Fatal("a pipelined exchange gave an estimate")
	}
}
