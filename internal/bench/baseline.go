package bench

import (
	"context"
	"encoding/binary"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The reference of the fan-out figure (GUIDE.md section 7): a plain
// WebSocket server sending every connection a 20 ms chunk of 48 kHz
// stereo 16-bit PCM (3840 bytes) every 20 ms, no encryption, no protocol.
// Each message carries its sequence number and the wall-clock time it was
// due to be sent; the client counts a message late when it arrives more
// than one chunk after that, and missing when a sequence number is
// skipped.

const (
	baselinePeriod = 20 * time.Millisecond
	baselineBytes  = 3840
)

// BaselineServer is the plain fan-out.
type BaselineServer struct {
	epoch time.Time
	conns atomic.Int64
}

// NewBaselineServer returns a server whose schedule starts now.
func NewBaselineServer() *BaselineServer { return &BaselineServer{epoch: time.Now()} }

// Conns is the number of connections being fed.
func (b *BaselineServer) Conns() int { return int(b.conns.Load()) }

func (b *BaselineServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 16 << 10}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	b.conns.Add(1)
	defer b.conns.Add(-1)
	go func() { // notice the client going away
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				c.Close()
				return
			}
		}
	}()
	msg := make([]byte, baselineBytes)
	seq := int64(time.Since(b.epoch)/baselinePeriod) + 1
	for {
		due := b.epoch.Add(time.Duration(seq) * baselinePeriod)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		binary.LittleEndian.PutUint64(msg[0:], uint64(seq))
		binary.LittleEndian.PutUint64(msg[8:], uint64(due.UnixNano()))
		if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			return
		}
		seq++
	}
}

// RunBaselineLoad connects n plain clients to url and measures window.
func RunBaselineLoad(ctx context.Context, url string, n int, window time.Duration) (Result, error) {
	res := Result{Players: n, ChunkMS: float64(baselinePeriod / time.Millisecond), BadFrom: -1, BadTo: -1}
	var (
		mu      sync.Mutex
		margins []float64
		wg      sync.WaitGroup
		ready   sync.WaitGroup
		failed  atomic.Int64
		conns   atomic.Int64
	)
	begin := make(chan struct{})
	sem := make(chan struct{}, 32)
	ready.Add(n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			c, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
			<-sem
			ready.Done()
			if err != nil {
				failed.Add(1)
				return
			}
			defer c.Close()
			conns.Add(1)
			<-begin
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			var chunks, late, missing, last int64
			var local []float64
			first := time.Time{}
			for {
				_, m, err := c.ReadMessage()
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					break
				}
				now := time.Now()
				if first.IsZero() {
					first = now
				} else if now.Sub(first) > window {
					break
				}
				seq := int64(binary.LittleEndian.Uint64(m[0:]))
				due := time.Unix(0, int64(binary.LittleEndian.Uint64(m[8:])))
				chunks++
				// The deadline: one chunk after it was due.
				margin := float64(due.Add(baselinePeriod).Sub(now)) / float64(time.Millisecond)
				if margin < 0 {
					late++
				}
				if chunks%8 == 1 || margin < 20 {
					local = append(local, margin)
				}
				if last > 0 && seq != last+1 {
					missing++
				}
				last = seq
			}
			mu.Lock()
			res.Chunks += chunks
			res.Late += late
			res.Missing += missing
			margins = append(margins, local...)
			mu.Unlock()
		}()
	}
	ready.Wait()
	close(begin)
	wg.Wait()
	res.Connected = int(conns.Load())
	res.Failed = int(failed.Load())
	if len(margins) > 0 {
		sort.Float64s(margins)
		res.MarginMin, res.MarginP01, res.MarginP50 = margins[0], margins[len(margins)/100], margins[len(margins)/2]
	}
	return res, nil
}
