package player

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
)

// Output is where rendered audio goes. Open starts it for one stream
// format; the output then asks for audio block by block, giving the local
// time (the player's clock, µs) at which each block's first frame is heard.
type Output interface {
	Open(f audio.Format, render func(out []int32, localStart int64)) (OutputStream, error)
}

// OutputStream is an open output; Close stops it and flushes what it wrote.
// Err reports a failure that stopped it (a full disk under wav:).
type OutputStream interface {
	Close() error
	Err() error
}

// blockDuration is the output period of the clocked outputs.
const blockDuration = 10 * time.Millisecond

// ClockedOutput writes to a sink in real time on the player's clock: each
// block's local start time is exact (frames written so far over the rate,
// from the moment it opened), as if the sink were a device whose clock is
// the player's. The wav: and null outputs are this; what they record is
// what a perfect device would have played, sample for sample.
type ClockedOutput struct {
	// NewSink creates the sink for a stream format (a WAV file, a Null).
	NewSink func(f audio.Format) (audio.Sink, error)
	// Now is the player's clock in µs.
	Now func() int64
}

// Open implements Output.
func (o *ClockedOutput) Open(f audio.Format, render func([]int32, int64)) (OutputStream, error) {
	sink, err := o.NewSink(f)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &clockedStream{sink: sink, cancel: cancel, done: make(chan struct{}), now: o.Now}
	// The timeline starts now, not when the goroutine first runs.
	go s.loop(ctx, f, render, o.Now())
	return s, nil
}

type clockedStream struct {
	sink   audio.Sink
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	now    func() int64
	// closeAt is when Close was called (player µs): the loop renders the
	// blocks due by then before it stops.
	closeAt atomic.Int64
	mu      sync.Mutex
	err     error
}

func (s *clockedStream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *clockedStream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *clockedStream) loop(ctx context.Context, f audio.Format, render func([]int32, int64), start int64) {
	now := s.now
	defer close(s.done)
	frames := f.SampleRate * int(blockDuration) / int(time.Second)
	buf := make([]int32, frames*f.Channels)
	var written int64
	tick := time.NewTicker(blockDuration / 2)
	defer tick.Stop()
	// renderUntil renders every block whose start time is at or before
	// t; a late wake-up catches up rather than drifting.
	renderUntil := func(t int64) bool {
		for {
			local := start + written*1_000_000/int64(f.SampleRate)
			if local > t {
				return true
			}
			render(buf, local)
			if err := s.sink.Write(buf); err != nil {
				s.fail(err)
				return false
			}
			written += int64(frames)
		}
	}
	for {
		if !renderUntil(now()) {
			return
		}
		select {
		case <-ctx.Done():
			// A loop held back by a busy machine owes the blocks due
			// before Close: a device would have played them, so the
			// recording has them too.
			renderUntil(s.closeAt.Load())
			return
		case <-tick.C:
		}
	}
}

func (s *clockedStream) Close() error {
	s.once.Do(func() {
		s.closeAt.Store(s.now())
		s.cancel()
		<-s.done
		if err := s.sink.Close(); err != nil {
			s.fail(err)
		}
	})
	return s.Err()
}
