package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// GET /api/events: server-sent events for the console page, so it follows
// the server without polling.
//
//   - `event: state`, data {"status":Status,"clients":[Client],"groups":[Group]}
//     (the objects of the GET endpoints), on connect and whenever it
//     changed: the server takes a snapshot every statePeriod and a stream
//     sends it when it differs from what that stream sent last, so at most
//     four a second. A playing group's position_ms alone changing sends
//     nothing: it is the position when the state was taken, and the page
//     moves it on while the group plays;
//   - `event: stats`, data {"clients":{"ID":PlayerStats}}, on connect and
//     every second, for the players that stream.
//
// One goroutine takes the snapshots for every open stream, and only while
// one is open; a slow reader is dropped after writeWait rather than held.

// Ours.
const (
	// maxEventStreams bounds the event streams open at once: each holds a
	// connection and a goroutine.
	maxEventStreams = 32
	// statePeriod is how often the server looks for a changed state.
	statePeriod = 250 * time.Millisecond
	// statsPeriod is the period of the stats events.
	statsPeriod = time.Second
	// snapshotShare: the next state snapshot waits at least this many
	// times as long as the last one took (at most a quarter of the time
	// on snapshots while a page listens).
	snapshotShare = 4
	// writeWait bounds one event's write: a reader that takes longer has
	// stalled and its stream ends.
	writeWait = 10 * time.Second
	// keepAlive is the period of a comment line on an idle stream, so
	// proxies and the browser see it alive.
	keepAlive = 15 * time.Second
)

// EventState is the data of an `event: state`.
type EventState struct {
	Status  Status   `json:"status"`
	Clients []Client `json:"clients"`
	Groups  []Group  `json:"groups"`
}

// EventStats is the data of an `event: stats`: live figures of each
// streaming player, by client ID.
type EventStats struct {
	Clients map[string]PlayerStats `json:"clients"`
}

// eventHub takes the snapshots the event streams send.
type eventHub struct {
	c     *Console
	slots chan struct{}

	mu      sync.Mutex
	subs    map[*eventSub]struct{}
	running bool
	down    chan struct{} // closed by Shutdown: every stream ends
	closed  bool
}

// eventSub is one stream's mailbox: the latest snapshots, and a wake-up.
type eventSub struct {
	mu                sync.Mutex
	state, key, stats []byte // stats is nil once sent
	wake              chan struct{}
}

func newEventHub(c *Console) *eventHub {
	return &eventHub{c: c, slots: make(chan struct{}, maxEventStreams), subs: map[*eventSub]struct{}{}, down: make(chan struct{})}
}

// Shutdown ends every event stream and refuses new ones. An http.Server
// waits for its handlers on Shutdown, and an event stream would otherwise
// run until its reader goes: register it with the server's
// RegisterOnShutdown.
func (c *Console) Shutdown() {
	h := c.ev
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.down)
	}
}

func (h *eventHub) subscribe() (*eventSub, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	s := &eventSub{wake: make(chan struct{}, 1)}
	h.subs[s] = struct{}{}
	if !h.running {
		h.running = true
		go h.loop()
	}
	return s, true
}

func (h *eventHub) unsubscribe(s *eventSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// loop takes a snapshot every statePeriod, and the stats every
// statsPeriod, while any stream is open. A snapshot lists every client
// (store reads for each), so with thousands of players it is not free:
// the next one waits at least snapshotShare times as long as this one
// took, bounding what open pages cost the server.
func (h *eventHub) loop() {
	stateT := time.NewTimer(statePeriod)
	defer stateT.Stop()
	statsT := time.NewTicker(statsPeriod)
	defer statsT.Stop()
	for {
		var state, key, stats []byte
		select {
		case <-stateT.C:
			began := time.Now()
			var err error
			state, key, err = h.c.stateJSON()
			if err != nil {
				h.c.cfg.Log.Warn("console events: taking a snapshot failed", "err", err)
			}
			stateT.Reset(max(statePeriod, snapshotShare*time.Since(began)))
		case <-statsT.C:
			stats = h.c.statsJSON()
		case <-h.down:
			h.mu.Lock()
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Lock()
		if len(h.subs) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		for s := range h.subs {
			s.mu.Lock()
			if state != nil {
				s.state, s.key = state, key
			}
			if stats != nil {
				s.stats = stats
			}
			s.mu.Unlock()
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
		h.mu.Unlock()
	}
}

// stateJSON is the state event's data, and the key that tells a changed
// state: the data without the playback positions, which change all the
// time (a page moves a playing group's position on by itself).
func (c *Console) stateJSON() (data, key []byte, err error) {
	var ev EventState
	st, _ := c.status(nil, nil)
	ev.Status = st.(Status)
	list, err := c.list()
	if err != nil {
		return nil, nil, err
	}
	ev.Clients = list
	if ev.Clients == nil {
		ev.Clients = []Client{}
	}
	gl, _ := c.groups(nil, nil)
	ev.Groups = gl.(GroupList).Groups
	if data, err = json.Marshal(ev); err != nil {
		return nil, nil, err
	}
	ev.Status.PositionMS = nil
	for i := range ev.Groups {
		ev.Groups[i].PositionMS = nil
	}
	key, err = json.Marshal(ev)
	return data, key, err
}

// sameOrigin refuses a cross-site page: an event stream is a GET, which
// cross-origin protection lets through, and each open stream holds one of
// few slots.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// events serves GET /api/events.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-origin request refused"})
		return
	}
	select {
	case c.ev.slots <- struct{}{}:
		defer func() { <-c.ev.slots }()
	default:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"error": "too many event streams open (at most " + strconv.Itoa(maxEventStreams) + "); close a console page"})
		return
	}
	sub, ok := c.ev.subscribe()
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the server is shutting down"})
		return
	}
	defer c.ev.unsubscribe(sub)
	state, key, err := c.stateJSON()
	if err != nil {
		c.cfg.Log.Warn("console request failed", "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	stats := c.statsJSON()

	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	write := func() bool {
		if buf.Len() == 0 {
			return true
		}
		_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
		_, err := w.Write(buf.Bytes())
		buf.Reset()
		return err == nil && rc.Flush() == nil
	}
	event := func(name string, data []byte) {
		buf.WriteString("event: ")
		buf.WriteString(name)
		buf.WriteString("\ndata: ")
		buf.Write(data) // compact JSON: one line
		buf.WriteString("\n\n")
	}
	buf.WriteString("retry: 2000\n\n")
	event("state", state)
	event("stats", stats)
	if !write() {
		return
	}
	lastKey := key
	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.ev.down:
			return
		case <-ping.C:
			buf.WriteString(": ping\n\n")
		case <-sub.wake:
			sub.mu.Lock()
			state, key, stats := sub.state, sub.key, sub.stats
			sub.stats = nil
			sub.mu.Unlock()
			if state != nil && !bytes.Equal(key, lastKey) {
				event("state", state)
				lastKey = key
			}
			if stats != nil {
				event("stats", stats) // every second, changed or not
			}
		}
		if !write() {
			return
		}
	}
}

// PlayerStats are a streaming player's live figures in `event: stats`,
// from the server's own view (server.StreamStats). A figure the server
// does not have yet is absent.
type PlayerStats struct {
	// Codec is the stream's codec: pcm, flac or opus.
	Codec string `json:"codec,omitempty"`
	// OffsetUS is the server clock minus the player's, OffsetErrorUS its
	// worst-case error, RTTUS the round trip (player turnaround
	// included), from the player's latest burst of client/time.
	OffsetUS      *int64 `json:"offset_us,omitempty"`
	OffsetErrorUS *int64 `json:"offset_error_us,omitempty"`
	RTTUS         *int64 `json:"rtt_us,omitempty"`
	// BufferedMS is the audio sent and not yet played.
	BufferedMS int64 `json:"buffered_ms"`
	// LateChunks: sent with less than the player's min_buffer_ms ahead;
	// DroppedChunks: never sent because their time had passed. Counted
	// over the connection's life.
	LateChunks    uint64 `json:"late_chunks"`
	DroppedChunks uint64 `json:"dropped_chunks"`
}

func (c *Console) statsJSON() []byte {
	ev := EventStats{Clients: map[string]PlayerStats{}}
	for _, p := range c.cfg.Server.StreamStats() {
		ps := PlayerStats{Codec: string(p.Format.Codec), BufferedMS: p.BufferedUS / 1000,
			LateChunks: p.LateChunks, DroppedChunks: p.DroppedChunks}
		if p.HaveClock {
			off, errUS, rtt := p.Clock.Offset, p.Clock.MaxError, p.Clock.RTT
			ps.OffsetUS, ps.OffsetErrorUS, ps.RTTUS = &off, &errUS, &rtt
		}
		ev.Clients[p.Client.String()] = ps
	}
	b, _ := json.Marshal(ev) // plain values: cannot fail
	return b
}
