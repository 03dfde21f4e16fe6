package clocksync

import (
	"math/rand/v2"
	"testing"
)

// TestBurstSchedule drives the burster against the simulated network:
// eight messages per burst, each after the previous reply, the best
// measurement fed, a fast start then 10 s gaps.
func TestBurstSchedule(t *testing.T) {
	sim := netSim{r: rand.New(rand.NewPCG(3, 4)), offset: 2e6, base: 300, jitter: 100}
	f := New()
	b := NewBurster(f)
	now := int64(5_000_000)
	var sends []int64
	var burstStarts []int64
	lastSend := int64(0)
	for len(burstStarts) < 8 {
		send, wake := b.Poll(now)
		if send {
			if lastSend == 0 || now-lastSend > 100_000 {
				burstStarts = append(burstStarts, now)
			}
			lastSend = now
			sends = append(sends, now)
			m := sim.exchange(float64(now))
			b.Reply(m.T1, m.T2, m.T3, m.T4)
			now = m.T4
			continue
		}
		if wake <= now {
			t.Fatalf("Poll asked to wake at %d, now %d", wake, now)
		}
		now = wake
	}
	if len(sends) < 8*BurstSize-BurstSize {
		t.Fatalf("%d sends", len(sends))
	}
	if f.Count() != b.Bursts() || b.Bursts() < 7 {
		t.Fatalf("filter fed %d times for %d bursts", f.Count(), b.Bursts())
	}
	wantGaps := []int64{500_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000, 10_000_000, 10_000_000}
	for i := 1; i < len(burstStarts); i++ {
		gap := burstStarts[i] - burstStarts[i-1]
		// The gap runs from the end of the previous burst (8 round trips).
		if gap < wantGaps[i-1] || gap > wantGaps[i-1]+20_000 {
			t.Fatalf("gap %d = %d µs, want about %d", i, gap, wantGaps[i-1])
		}
	}
	if !f.Converged() {
		t.Fatal("not converged after the bursts")
	}
}

// TestBurstLostReply: a lost reply times out and the burst goes on; a late
// reply to it is ignored.
func TestBurstLostReply(t *testing.T) {
	f := New()
	b := NewBurster(f)
	send, wake := b.Poll(1000)
	if !send || wake != 1000+ReplyTimeout.Microseconds() {
		t.Fatal("first send")
	}
	if send, _ := b.Poll(2000); send {
		t.Fatal("sent while a reply is outstanding")
	}
	send, _ = b.Poll(wake)
	if !send {
		t.Fatal("no send after the reply timed out")
	}
	if b.Reply(1000, 5, 6, wake+10) {
		t.Fatal("late reply used")
	}
	// Finish the burst with good replies.
	t1 := wake
	for i := 0; ; i++ {
		m := Measurement{T1: t1, T2: t1 + 500, T3: t1 + 510, T4: t1 + 20}
		b.Reply(m.T1, m.T2, m.T3, m.T4)
		s, _ := b.Poll(m.T4)
		if !s {
			break
		}
		t1 = m.T4
		if i > BurstSize {
			t.Fatal("burst never ended")
		}
	}
	if f.Count() != 1 || b.Bursts() != 1 {
		t.Fatalf("count %d bursts %d", f.Count(), b.Bursts())
	}
}
