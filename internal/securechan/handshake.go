package securechan

import (
	"crypto/rand"
	"errors"
	"io"

	"github.com/flynn/noise"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// The handshake state machines. Each is a straight list of the spec's steps
// (messaging.md "Communication" steps 1-5, connection.md "Encryption"); the
// Noise tokens are noted at each message. They do no I/O: the driver feeds
// them frames and sends what they return.
//
//	KKpsk2:  -> s            (pre-message: the client_id, known from client/init)
//	         <- s            (pre-message: the server_id, known from server/init)
//	         ...
//	         -> e, es, ss     message 1, server (initiator) to client
//	         <- e, ee, se, psk message 2, client (responder) to server

// PSKChoice is a PSK and the category the server uses it as.
type PSKChoice struct {
	PSK      keys.PSK
	Category wire.PSKCategory
}

// SentinelChoice is the Sentinel PSK as a choice: the PSK of every
// connection without a pairing record or pairing token.
var SentinelChoice = PSKChoice{PSK: keys.Sentinel, Category: wire.PSKSentinel}

// Result is what a completed handshake established.
type Result struct {
	Suite keys.Suite
	// Peer is the other side's static key: the client_id on a server, the
	// server_id on a client.
	Peer keys.PublicKey
	// Matched is the PSK the session is keyed with and its category.
	Matched PSKChoice
	// CredentialMismatch is set on a server whose message 2 verified only
	// under the Sentinel after referencing another PSK: an authenticated
	// signal that the client could not use it (connection.md "Sentinel
	// Fallback"). On a client it is set when a lookup miss made it fall
	// back to the Sentinel.
	CredentialMismatch bool
	// H is the Noise handshake hash: the pairing sid input and the next
	// re-handshake's prologue.
	H [32]byte

	tx, rx *noise.CipherState
}

// Handshake errors. None carries secrets or peer input.
var (
	// ErrSilent is a handshake failure the spec answers with a silent close.
	ErrSilent = errors.New("securechan: handshake failed")
	// ErrMisbinding is a psk_id match whose stored server_id differs.
	ErrMisbinding = errors.New("securechan: PSK is bound to another server")
	// ErrLookupMiss is a psk_id the client does not hold, in a re-handshake.
	ErrLookupMiss = errors.New("securechan: unknown psk_id in re-handshake")
)

// newNoise builds a KKpsk2 handshake state.
func newNoise(suite keys.Suite, id *keys.Identity, peer keys.PublicKey, initiator bool,
	prologue []byte, psk *keys.PSK, rnd io.Reader) (*noise.HandshakeState, error) {
	cs, err := noiseSuite(suite, newDH(id))
	if err != nil {
		return nil, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	priv, pub := id.Private(), id.Public()
	cfg := noise.Config{
		CipherSuite:           cs,
		Random:                rnd,
		Pattern:               noise.HandshakeKK,
		Initiator:             initiator,
		Prologue:              prologue,
		PresharedKeyPlacement: 2,
		// flynn/noise keeps this slice for the whole handshake.
		StaticKeypair: noise.DHKey{Private: priv[:], Public: pub[:]},
		PeerStatic:    append([]byte(nil), peer[:]...),
	}
	if psk != nil {
		cfg.PresharedKey = psk[:]
	}
	return noise.NewHandshakeState(cfg)
}

func (r *Result) fill(hs *noise.HandshakeState) {
	copy(r.H[:], hs.ChannelBinding())
}

// serverHandshake is the server side (Noise initiator).
type serverHandshake struct {
	id      *keys.Identity
	choose  func(client keys.PublicKey) PSKChoice
	rnd     io.Reader
	res     Result
	hs      *noise.HandshakeState
	initial bool // the initial handshake (Sentinel fallback applies)
}

// onClientInit takes the raw client/init and returns the frames to send: a
// server/error (with an *wire.InitError) or server/init followed by Noise
// message 1. messaging.md: server/init is immediately followed by message 1.
func (s *serverHandshake) onClientInit(raw []byte) (serverInit, msg1 []byte, err error) {
	// Step 1: client/init, checked in the spec's order.
	ci, err := wire.ParseClientInit(raw)
	if err != nil {
		var ie *wire.InitError
		errors.As(err, &ie)
		reply, merr := wire.Marshal(&wire.ServerError{Reason: ie.Reason})
		if merr != nil {
			return nil, nil, merr
		}
		return reply, nil, err
	}
	s.res.Suite, s.res.Peer = ci.Suite, ci.ClientID
	// Step 2: server/init.
	si := &wire.ServerInit{ServerID: s.id.Public(), Version: wire.CoreVersion}
	serverInit, err = wire.MarshalInit(si)
	if err != nil {
		return nil, nil, err
	}
	// Step 3: Noise message 1, keyed by the PSK the server picks.
	s.res.Matched = s.choose(ci.ClientID)
	if s.res.Matched.Category != wire.PSKSentinel && s.res.Matched.PSK == (keys.PSK{}) {
		return nil, nil, errors.New("securechan: the server chose an unset PSK")
	}
	s.initial = true
	prologue := append(append([]byte(nil), ci.Raw...), serverInit...)
	msg1, err = s.start(prologue)
	if err != nil {
		return nil, nil, err
	}
	hsMsg, err := wire.Marshal(&wire.NoiseHandshake{Data: msg1})
	return serverInit, hsMsg, err
}

// start writes message 1: -> e, es, ss, with payload {psk_id, psk_category}.
func (s *serverHandshake) start(prologue []byte) ([]byte, error) {
	psk := s.res.Matched.PSK
	hs, err := newNoise(s.res.Suite, s.id, s.res.Peer, true, prologue, &psk, s.rnd)
	if err != nil {
		return nil, err
	}
	s.hs = hs
	payload, err := wire.HandshakePayload1{PSKID: psk.ID(), Category: s.res.Matched.Category}.Marshal()
	if err != nil {
		return nil, err
	}
	msg1, _, _, err := hs.WriteMessage(nil, payload)
	return msg1, err
}

// onMessage2 reads message 2 (<- e, ee, se, psk) from its noise/handshake
// data. connection.md "Sentinel Fallback": if it does not verify under the
// referenced PSK, the initial handshake retries it under the Sentinel, and
// success there is the credential-mismatch signal.
func (s *serverHandshake) onMessage2(msg2 []byte) (*Result, error) {
	if len(msg2) > maxNoiseHandshakeMessage {
		return nil, ErrSilent
	}
	payload, tx, rx, err := s.hs.ReadMessage(nil, msg2)
	if err != nil && s.initial && s.res.Matched.Category != wire.PSKSentinel {
		// flynn/noise rolls the chaining key and hash back on a failed
		// read, so the same message can be read again under another PSK.
		if err = s.hs.SetPresharedKey(keys.Sentinel[:]); err == nil {
			payload, tx, rx, err = s.hs.ReadMessage(nil, msg2)
			if err == nil {
				s.res.Matched = SentinelChoice
				s.res.CredentialMismatch = true
			}
		}
	}
	if err != nil || tx == nil || wire.CheckHandshakePayload2(payload) != nil {
		return nil, ErrSilent
	}
	s.res.tx, s.res.rx = tx, rx // initiator: first CipherState encrypts to the responder
	s.res.fill(s.hs)
	return &s.res, nil
}

// clientHandshake is the client side (Noise responder).
type clientHandshake struct {
	id         *keys.Identity
	suite      keys.Suite
	pairingPSK keys.PSK
	longTerm   func(keys.PSKID) (keys.PSK, keys.PublicKey, bool)
	rnd        io.Reader
	initial    bool
	prologue   []byte
	res        Result
}

// start returns the client/init to send.
func (c *clientHandshake) start() ([]byte, error) {
	ci := &wire.ClientInit{ClientID: c.id.Public(), Version: wire.CoreVersion, Suite: c.suite}
	raw, err := wire.MarshalInit(ci)
	if err != nil {
		return nil, err
	}
	c.initial = true
	c.prologue = raw
	c.res.Suite = c.suite
	return raw, nil
}

// ServerRejected is a server/error received in place of server/init.
type ServerRejected struct {
	Reason wire.ErrorReason
}

func (e *ServerRejected) Error() string {
	return "securechan: server rejected client/init: " + string(e.Reason)
}

// onServerInit takes the raw server/init (or server/error). Any other input
// is a silent failure.
func (c *clientHandshake) onServerInit(raw []byte) error {
	si, se, err := wire.ParseServerInit(raw)
	if err != nil {
		return ErrSilent
	}
	if se != nil {
		return &ServerRejected{Reason: se.Reason}
	}
	c.res.Peer = si.ServerID
	c.prologue = append(c.prologue, si.Raw...)
	return nil
}

// lookup selects the PSK that message 1 references (connection.md
// "Pre-Shared Key"): a candidate of the declared category whose psk_id
// matches. A long-term match must be bound to this server.
func (c *clientHandshake) lookup(p wire.HandshakePayload1) (PSKChoice, bool, error) {
	switch p.Category {
	case wire.PSKSentinel:
		if p.PSKID.Equal(keys.SentinelID) {
			return SentinelChoice, true, nil
		}
	case wire.PSKPairing:
		if p.PSKID.Equal(c.pairingPSK.ID()) {
			return PSKChoice{PSK: c.pairingPSK, Category: wire.PSKPairing}, true, nil
		}
	case wire.PSKLongTerm:
		if c.longTerm == nil {
			break
		}
		psk, server, ok := c.longTerm(p.PSKID)
		if !ok || psk == (keys.PSK{}) {
			break // an unset key is no candidate
		}
		if !server.Equal(c.res.Peer) {
			return PSKChoice{}, false, ErrMisbinding
		}
		return PSKChoice{PSK: psk, Category: wire.PSKLongTerm}, true, nil
	}
	return PSKChoice{}, false, nil
}

// onMessage1 reads message 1 (-> e, es, ss), selects the PSK from its
// payload and returns message 2 (<- e, ee, se, psk) with payload "{}".
func (c *clientHandshake) onMessage1(msg1 []byte) ([]byte, *Result, error) {
	if len(msg1) > maxNoiseHandshakeMessage {
		return nil, nil, ErrSilent
	}
	hs, err := newNoise(c.suite, c.id, c.res.Peer, false, c.prologue, nil, c.rnd)
	if err != nil {
		return nil, nil, err
	}
	payload, _, _, err := hs.ReadMessage(nil, msg1)
	if err != nil {
		return nil, nil, ErrSilent
	}
	p, err := wire.ParseHandshakePayload1(payload)
	if err != nil {
		return nil, nil, ErrSilent
	}
	choice, ok, err := c.lookup(p)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		// A miss falls back to the Sentinel in the initial handshake only.
		if !c.initial {
			return nil, nil, ErrLookupMiss
		}
		choice = SentinelChoice
		c.res.CredentialMismatch = true
	}
	c.res.Matched = choice
	if err := hs.SetPresharedKey(choice.PSK[:]); err != nil {
		return nil, nil, err
	}
	msg2, rx, tx, err := hs.WriteMessage(nil, wire.HandshakePayload2)
	if err != nil || tx == nil {
		return nil, nil, ErrSilent
	}
	c.res.tx, c.res.rx = tx, rx // responder: the first CipherState decrypts from the initiator
	c.res.fill(hs)
	return msg2, &c.res, nil
}

// noiseData unwraps a noise/handshake message; anything else is a silent
// failure.
func noiseData(raw []byte, from wire.Sender) ([]byte, error) {
	m, err := wire.Decode(raw, from)
	if err != nil {
		return nil, ErrSilent
	}
	nh, ok := m.(*wire.NoiseHandshake)
	if !ok {
		return nil, ErrSilent
	}
	return nh.Data, nil
}
