package session

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestArbiterInvariants drives the arbiter with long random event sequences
// (fixed seeds, so failures reproduce) and checks after every event: at most
// one admitted connection and one alongside, an alongside only next to a
// holder, at most one pairing attempt, the caps, and closed connections
// forgotten.
func TestArbiterInvariants(t *testing.T) {
	sets := []ActivitySet{NoActivities, Pairing, Playback, Playback | Pairing}
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		cfg := ArbiterConfig{
			PairingAlongsidePlayback: r.IntN(2) == 0,
			MaxProvisional:           1 + r.IntN(4),
			RecordCapacity:           5,
			MaxPairedOpen:            1 + r.IntN(4),
		}
		a, err := NewArbiter(cfg, srv(byte(1+r.IntN(4))))
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		next := ConnID(1)
		var ids []ConnID
		for i := 0; i < 300; i++ {
			now = now.Add(time.Duration(r.IntN(8)) * time.Second)
			pick := func() ConnID {
				if len(ids) == 0 {
					return 999
				}
				return ids[r.IntN(len(ids))]
			}
			var out Outcome
			switch r.IntN(7) {
			case 0, 1:
				out, _ = a.Open(next, srv(byte(1+r.IntN(4))), r.IntN(2) == 0, now)
				ids = append(ids, next)
				next++
			case 2, 3:
				out, _ = a.Activate(pick(), sets[r.IntN(len(sets))])
			case 4:
				out, _ = a.AttemptStarted(pick())
			case 5:
				_ = a.AttemptEnded(pick())
				if r.IntN(3) == 0 {
					a.Closed(pick())
				}
			case 6:
				if r.IntN(2) == 0 {
					out, _ = a.Rekeyed(pick(), r.IntN(2) == 0)
				} else {
					out = a.Tick(now)
				}
			}
			for _, c := range out.Closes {
				if a.State(c.Conn) != StateNone {
					t.Fatalf("seed %d step %d: closed %d still open", seed, i, c.Conn)
				}
				if c.Goodbye != "" && c.Abort != "" {
					t.Fatalf("seed %d: goodbye and abort together", seed)
				}
			}
			checkArbiter(t, a, cfg, seed, i)
		}
	}
}

func checkArbiter(t *testing.T, a *Arbiter, cfg ArbiterConfig, seed uint64, step int) {
	t.Helper()
	var admitted, alongside, attempts, paired, provisional int
	for _, c := range a.conns {
		switch c.state {
		case StateAdmitted:
			admitted++
			if a.holder != c {
				t.Fatalf("seed %d step %d: admitted conn is not the holder", seed, step)
			}
		case StateAlongside:
			alongside++
			if a.alongside != c {
				t.Fatalf("seed %d step %d: alongside conn not recorded", seed, step)
			}
		case StateProvisional:
			provisional++
			if c.attempt {
				t.Fatalf("seed %d step %d: attempt on a provisional connection", seed, step)
			}
		default:
			t.Fatalf("seed %d step %d: conn in state %v kept", seed, step, c.state)
		}
		if c.attempt {
			attempts++
		}
		if c.paired {
			paired++
		}
	}
	switch {
	case admitted > 1 || alongside > 1:
		t.Fatalf("seed %d step %d: %d admitted, %d alongside", seed, step, admitted, alongside)
	case alongside == 1 && admitted == 0:
		t.Fatalf("seed %d step %d: alongside without a holder", seed, step)
	case alongside == 1 && !cfg.PairingAlongsidePlayback:
		t.Fatalf("seed %d step %d: alongside held although disabled", seed, step)
	case attempts > 1:
		t.Fatalf("seed %d step %d: %d attempts", seed, step, attempts)
	case paired > cfg.MaxPairedOpen:
		t.Fatalf("seed %d step %d: %d paired open, cap %d", seed, step, paired, cfg.MaxPairedOpen)
	case provisional > cfg.MaxProvisional:
		t.Fatalf("seed %d step %d: %d provisional, cap %d", seed, step, provisional, cfg.MaxProvisional)
	case len(a.Backing()) > paired:
		t.Fatalf("seed %d step %d: backing more servers than paired connections", seed, step)
	}
	if (a.holder == nil) != (admitted == 0) || (a.alongside == nil) != (alongside == 0) {
		t.Fatalf("seed %d step %d: dangling holder/alongside", seed, step)
	}
}
