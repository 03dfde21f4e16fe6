package server

import (
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Refusals: silent on the wire, loud at home (GUIDE.md section 5). The
// spec's silent closes stay silent to the peer (connection.md "Failure
// Handling"), but every refused or failed connection is logged at info
// with who and why, and the last ones are kept for the operator.

// Ours.
const (
	// maxRefusals bounds the refusals kept in memory.
	maxRefusals = 100
	// maxNameRunes bounds a client's name as the operator sees it.
	maxNameRunes = 64
)

// Refusal is one refused or failed connection.
type Refusal struct {
	Time time.Time
	// Client is the client_id when the client got as far as client/init;
	// zero otherwise.
	Client keys.PublicKey
	// Name is the client's name from client/hello or from what the server
	// remembers of it; "" when unknown. A hint, never proof of identity.
	Name string
	// Addr is the peer's address (ip:port).
	Addr string
	// Reason says what went wrong, in words a person understands.
	Reason string
	// Count is how many times this happened from this host, with this
	// client and reason, while the entry was kept: repeats are coalesced
	// into one entry, moved to the newest place; Time is the latest.
	Count int
}

// refusalLog keeps the last maxRefusals refusals, newest last.
type refusalLog struct {
	mu   sync.Mutex
	list []Refusal
}

// add records r, coalescing it with an earlier entry from the same host,
// client and reason; it returns the entry's count.
func (l *refusalLog) add(r Refusal) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	host := hostOf(r.Addr)
	for i := len(l.list) - 1; i >= 0; i-- {
		e := l.list[i]
		if e.Client == r.Client && e.Reason == r.Reason && hostOf(e.Addr) == host {
			r.Count = e.Count + 1
			if r.Name == "" {
				r.Name = e.Name
			}
			l.list = append(l.list[:i], l.list[i+1:]...)
			l.list = append(l.list, r)
			return r.Count
		}
	}
	r.Count = 1
	if len(l.list) >= maxRefusals {
		l.list = append(l.list[:0], l.list[1:]...)
	}
	l.list = append(l.list, r)
	return 1
}

func (l *refusalLog) newestFirst() []Refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Refusal, len(l.list))
	for i, r := range l.list {
		out[len(l.list)-1-i] = r
	}
	return out
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Refusals lists the last refused or failed connections, newest first.
func (s *Server) Refusals() []Refusal { return s.refused.newestFirst() }

// refuse records a refusal and logs it at info. A repeat of a kept
// refusal is logged at its 2nd, 4th, 8th... occurrence, so a client
// retrying in a loop cannot flood the log.
func (s *Server) refuse(r Refusal) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if r.Name == "" && r.Client != (keys.PublicKey{}) {
		r.Name = s.knownName(r.Client)
	}
	r.Name = cleanName(r.Name)
	n := s.refused.add(r)
	if bits.OnesCount(uint(n)) != 1 {
		return
	}
	client := ""
	if r.Client != (keys.PublicKey{}) {
		client = r.Client.String()
	}
	args := []any{"client", client, "name", r.Name, "addr", r.Addr, "reason", r.Reason}
	if n > 1 {
		args = append(args, "times", n)
	}
	s.log.Info("refused a connection", args...)
}

// cleanName makes a peer-chosen name safe to show: no control characters,
// at most maxNameRunes.
func cleanName(n string) string {
	if !utf8.ValidString(n) {
		n = strings.ToValidUTF8(n, "?")
	}
	n = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, n)
	if utf8.RuneCountInString(n) > maxNameRunes {
		n = string([]rune(n)[:maxNameRunes]) + "…"
	}
	return n
}

// watchedTransport notes how far the handshake got, so a silent handshake
// failure can be told to the operator as what it was.
type watchedTransport struct {
	securechan.Transport
	// reads counts the frames read during the handshake; err is the last
	// read error. Only the handshake's goroutine touches them.
	reads int
	err   error
	done  bool
}

func (w *watchedTransport) ReadFrame(buf []byte) (securechan.FrameKind, []byte, error) {
	if w.done {
		return w.Transport.ReadFrame(buf)
	}
	k, f, err := w.Transport.ReadFrame(buf)
	if err != nil {
		w.err = err
	} else {
		w.reads++
	}
	return k, f, err
}

// handshakeReason says why a handshake failed (the caller leaves out
// failures of the server's own shutdown).
func handshakeReason(err error, w *watchedTransport, chosen wire.PSKCategory, timeout time.Duration) string {
	var ie *wire.InitError
	if errors.As(err, &ie) {
		return fmt.Sprintf("init failure: answered server/error %s (%s)", ie.Reason, describeWire(ie.Err))
	}
	timedOut := isTimeout(w.err)
	switch {
	case w.reads == 0 && timedOut:
		return fmt.Sprintf("no client/init within %s; closed silently", timeout)
	case w.reads == 0:
		return "the peer closed the connection before sending client/init"
	case w.reads == 1 && timedOut:
		return fmt.Sprintf("the client did not answer the Noise handshake within %s; closed silently", timeout)
	case w.reads == 1:
		return "the client closed the connection during the Noise handshake: it rejected server/init or Noise message 1 " +
			"(it may expect another server, or not hold the " + pskWords(chosen) + " this server used)"
	}
	return "the Noise handshake failed: the client's message 2 did not verify under the " + pskWords(chosen) +
		" (wrong key, or a PSK the client does not hold); closed silently"
}

func pskWords(c wire.PSKCategory) string {
	switch c {
	case wire.PSKLongTerm:
		return "pairing record's PSK or the Sentinel"
	case wire.PSKPairing:
		return "PSK of the pairing token the operator entered"
	}
	return "Sentinel PSK"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// describeWire puts a wire decoding error in words: the message, the
// field and the rule it broke (never the peer's input).
func describeWire(err error) string {
	var we *wire.Error
	if !errors.As(err, &we) {
		return err.Error()
	}
	what := "the message"
	if we.Field != "" {
		what = fmt.Sprintf("field %q", we.Field)
	} else if we.Type != "" {
		what = "the payload"
	}
	return what + " " + we.Rule.Phrase()
}

// invalidMessage describes a message that failed to decode.
func invalidMessage(err error) string {
	var we *wire.Error
	if errors.As(err, &we) {
		if we.Type != "" {
			return fmt.Sprintf("invalid %s: %s; closed silently", we.Type, describeWire(err))
		}
		return fmt.Sprintf("an invalid message: %s; closed silently", describeWire(err))
	}
	return "an invalid message (" + err.Error() + "); closed silently"
}

// goodbyeRefuses reports the goodbye reasons by which a client refuses the
// session; the others say it leaves (messaging.md "client/goodbye").
func goodbyeRefuses(r wire.GoodbyeReason) bool {
	switch r {
	case wire.GoodbyePairingRequired, wire.GoodbyeUnauthorized, wire.GoodbyeConcurrentAttempt:
		return true
	}
	return false
}

// goodbyeWords says what a client/goodbye reason means for the operator.
func goodbyeWords(r wire.GoodbyeReason) string {
	switch r {
	case wire.GoodbyePairingRequired:
		return "the device refused: it does not allow unpaired access, so it needs pairing first (pairing_required)"
	case wire.GoodbyeUnauthorized:
		return "the device refused the server's activation as not authorized for this session (unauthorized)"
	case wire.GoodbyeConcurrentAttempt:
		return "the device refused: it is busy with another server (concurrent_attempt); it may accept later"
	case wire.GoodbyeAnotherServer:
		return "the device left for another server (another_server)"
	case wire.GoodbyeShutdown:
		return "the device shut down (shutdown)"
	case wire.GoodbyeRestart:
		return "the device is restarting (restart)"
	case wire.GoodbyeUserRequest:
		return "the device's owner disconnected it from this server (user_request)"
	case wire.GoodbyeUnpaired:
		return "the device removed its pairing with this server (unpaired)"
	}
	return "the device said goodbye (" + string(r) + ")"
}

// sessionRefusal says why a session that got past the handshake ended as
// a refusal or a failure; false when it ended normally (a goodbye that
// leaves, a drop, the server's own close).
func (c *conn) sessionRefusal(runErr error, e *Ended) (string, bool) {
	c.mu.Lock()
	readErr := c.readErr
	c.mu.Unlock()
	switch {
	case readErr != nil:
		return invalidMessage(readErr), true
	case e.Goodbye != "":
		if goodbyeRefuses(e.Goodbye) {
			return goodbyeWords(e.Goodbye), true
		}
		return "", false
	case runErr == nil:
		return "", false
	case errors.Is(runErr, errNoHello):
		return fmt.Sprintf("no client/hello within %s; closed", helloTimeout), true
	case errors.Is(runErr, errProtocol):
		return strings.TrimPrefix(runErr.Error(), "server: ") + "; closed silently", true
	}
	var rh *rehandshakeError
	if errors.As(runErr, &rh) {
		return "the client did not complete the re-handshake to start pairing (with a token: a wrong or stale token)", true
	}
	var fe *wire.FragmentError
	switch {
	case errors.Is(runErr, securechan.ErrDecrypt):
		return "a message failed authentication (AEAD); closed silently", true
	case errors.Is(runErr, securechan.ErrCleartext):
		return "a cleartext frame after the handshake; closed silently", true
	case errors.Is(runErr, securechan.ErrProtocol):
		return "a message out of sequence around a re-handshake; closed silently", true
	case errors.Is(runErr, securechan.ErrSilent):
		return "the client did not complete a re-handshake in time; closed silently", true
	case errors.As(runErr, &fe):
		return "a malformed fragmented message; closed silently", true
	}
	return "", false
}
