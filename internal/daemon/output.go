package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/player"
)

// outputBlock is the period of the timeline outputs.
const outputBlock = 10 * time.Millisecond

// Timing is the sidecar a wav: output writes next to each file
// (PATH.json): the wall-clock time at which the file's frame 0 would have
// been heard. With it, recordings of players on one machine can be laid
// on one timeline and compared sample by sample.
type Timing struct {
	SampleRate  int   `json:"sample_rate"`
	Channels    int   `json:"channels"`
	BitDepth    int   `json:"bit_depth"`
	StartUnixNS int64 `json:"start_unix_ns"`
}

// TimelineOutput is the wav: and null output of the player command: one
// continuous recording of what a perfect device on the player's clock
// would have played for the whole run, silence between streams included,
// so that sample n of the file is heard n/rate after its start. A stream
// in another format starts a new file (PATH-2.wav, PATH-3.wav, ...), as
// a WAV file holds one format.
type TimelineOutput struct {
	// Path is the WAV file; empty for the null output.
	Path string
	// Now is the player's clock in µs.
	Now func() int64

	mu     sync.Mutex
	format audio.Format
	files  int
	run    *timeline
	closed bool
}

// timeline is one file's recording loop.
type timeline struct {
	sink   audio.Sink
	cancel context.CancelFunc
	done   chan struct{}

	renderMu sync.Mutex // held while render runs, so a closed stream is never called
	render   func([]int32, int64)
	owner    uint64 // the stream that set render

	errMu sync.Mutex
	err   error
}

// Open implements player.Output.
func (o *TimelineOutput) Open(f audio.Format, render func([]int32, int64)) (player.OutputStream, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, errors.New("output: closed")
	}
	if o.run == nil || f != o.format {
		if o.run != nil {
			if err := o.run.stop(); err != nil {
				return nil, err
			}
			o.run = nil
		}
		// The first stream's render is in place before the loop starts, so
		// the file does not begin with a block of silence the stream never
		// played.
		t, err := o.start(f, render)
		if err != nil {
			return nil, err
		}
		o.run, o.format = t, f
		return &timelineStream{t: t, gen: t.owner}, nil
	}
	t := o.run
	t.renderMu.Lock()
	t.owner++
	t.render = render
	gen := t.owner
	t.renderMu.Unlock()
	return &timelineStream{t: t, gen: gen}, nil
}

// start opens the next file (or the null sink) and its loop.
func (o *TimelineOutput) start(f audio.Format, render func([]int32, int64)) (*timeline, error) {
	var sink audio.Sink = &audio.Null{}
	now := o.Now()
	wall := time.Now()
	if o.Path != "" {
		o.files++
		path := o.Path
		if o.files > 1 {
			ext := filepath.Ext(path)
			path = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), o.files, ext)
		}
		w, err := audio.CreateWAV(path, f)
		if err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		timing, _ := json.Marshal(Timing{SampleRate: f.SampleRate, Channels: f.Channels, BitDepth: f.BitDepth,
			StartUnixNS: wall.UnixNano()})
		if err := os.WriteFile(path+".json", append(timing, '\n'), 0o644); err != nil {
			w.Close()
			return nil, fmt.Errorf("output: %w", err)
		}
		sink = w
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &timeline{sink: sink, cancel: cancel, done: make(chan struct{}), owner: 1, render: render}
	go t.loop(ctx, f, now, o.Now)
	return t, nil
}

// Close ends the recording and finishes the file.
func (o *TimelineOutput) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.run == nil {
		return nil
	}
	err := o.run.stop()
	o.run = nil
	return err
}

func (t *timeline) loop(ctx context.Context, f audio.Format, start int64, now func() int64) {
	defer close(t.done)
	frames := f.SampleRate * int(outputBlock) / int(time.Second)
	buf := make([]int32, frames*f.Channels)
	var written int64
	tick := time.NewTicker(outputBlock / 2)
	defer tick.Stop()
	for {
		// Every block whose start time has come: a late wake-up catches
		// up rather than drifting.
		for {
			local := start + written*1_000_000/int64(f.SampleRate)
			if local > now() {
				break
			}
			t.renderMu.Lock()
			if t.render != nil {
				t.render(buf, local)
			} else {
				clear(buf)
			}
			t.renderMu.Unlock()
			if err := t.sink.Write(buf); err != nil {
				t.fail(err)
				return
			}
			written += int64(frames)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *timeline) fail(err error) {
	t.errMu.Lock()
	if t.err == nil {
		t.err = err
	}
	t.errMu.Unlock()
}

func (t *timeline) Err() error {
	t.errMu.Lock()
	defer t.errMu.Unlock()
	return t.err
}

func (t *timeline) stop() error {
	t.cancel()
	<-t.done
	if err := t.sink.Close(); err != nil {
		t.fail(err)
	}
	return t.Err()
}

// timelineStream is one stream's hold on the timeline: closing it returns
// the timeline to silence.
type timelineStream struct {
	t    *timeline
	gen  uint64
	once sync.Once
}

func (s *timelineStream) Close() error {
	s.once.Do(func() {
		s.t.renderMu.Lock()
		// Only if a later stream has not taken the timeline over.
		if s.t.owner == s.gen {
			s.t.render = nil
		}
		s.t.renderMu.Unlock()
	})
	return s.t.Err()
}

func (s *timelineStream) Err() error { return s.t.Err() }
