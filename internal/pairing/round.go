package pairing

import (
	"encoding/binary"
	"io"

	"github.com/tonearm-audio/tonearm/internal/cpace"
	"github.com/tonearm-audio/tonearm/internal/keys"
)

// RoundParams are the inputs of one CPace round (pairing.md "PAKE",
// "Rounds"). Both peers must use the same values.
type RoundParams struct {
	// Suite is the connection's negotiated cipher suite; its AEAD wraps
	// values under K_wrap.
	Suite keys.Suite
	// H is the Noise handshake hash of the connection.
	H HandshakeHash
	// PairingIndex counts pairing server/activate messages since the last
	// Noise handshake; the first is 1.
	PairingIndex uint32
	// Round is the round within the attempt, 1 for the first (always 1 in
	// the Static Pairing Code Flow).
	Round uint32
	// Code is the pairing code: a DynamicCode, QRCode or StaticCode.
	Code Code
}

// sessionID is sid = "sendspin-pair-pake-v1" || h || uint32_be(pairing_index)
// || uint32_be(round) (pairing.md "PAKE").
func sessionID(h HandshakeHash, pairingIndex, round uint32) []byte {
	sid := make([]byte, 0, sidLen)
	sid = append(sid, sidLabel...)
	sid = append(sid, h[:]...)
	sid = binary.BigEndian.AppendUint32(sid, pairingIndex)
	sid = binary.BigEndian.AppendUint32(sid, round)
	return sid
}

// cpaceParams maps RoundParams onto the CPace inputs: PRS = the code
// bytes, CI empty, ADa = "server", ADb = "client". The caller wipes PRS.
func (p *RoundParams) cpaceParams() (cpace.Params, error) {
	if !p.Suite.Known() || p.Code == nil || p.PairingIndex == 0 || p.Round == 0 {
		return cpace.Params{}, ErrParams
	}
	return cpace.Params{
		PRS: p.Code.prs(),
		SID: sessionID(p.H, p.PairingIndex, p.Round),
		ADa: []byte(adServer),
		ADb: []byte(adClient),
	}, nil
}

// ServerRound is the server's side of one round: CPace party A. Use it for
// exactly one round; a retry needs a new ServerRound with the next Round
// number (fresh scalar, own sid). Not safe for concurrent use.
type ServerRound struct {
	suite keys.Suite
	a     *cpace.Initiator
}

// NewServerRound starts a round, drawing the scalar from rnd (crypto/rand
// if nil).
func NewServerRound(p RoundParams, rnd io.Reader) (*ServerRound, error) {
	cp, err := p.cpaceParams()
	if err != nil {
		return nil, err
	}
	defer clear(cp.PRS)
	a, err := cpace.NewInitiator(cp, randOrDefault(rnd))
	if err != nil {
		return nil, err
	}
	return &ServerRound{suite: p.Suite, a: a}, nil
}

// Share returns Ya, sent as pake_msg_1 in server/pair-auth.
func (r *ServerRound) Share() cpace.Share { return r.a.Share() }

// Receive takes pake_msg_2 (Yb) and returns server_kc (Ta) for
// server/pair-confirm. cpace.ErrLowOrder here is a protocol error.
func (r *ServerRound) Receive(yb cpace.Share) (cpace.Tag, error) {
	return r.a.Receive(yb)
}

// Confirm verifies client_kc (Tb), step 1 of "Server verification", and
// only then returns the wrap keys. cpace.ErrTagMismatch means
// pair/abort pairing_code_mismatch.
func (r *ServerRound) Confirm(tb cpace.Tag) (*WrapKeys, error) {
	out, err := r.a.Confirm(tb)
	if err != nil {
		return nil, err
	}
	return newWrapKeys(r.suite, out), nil
}

// ClientRound is the client's side of one round: CPace party B. Use it for
// exactly one round. Not safe for concurrent use.
type ClientRound struct {
	suite keys.Suite
	b     *cpace.Responder
}

// NewClientRound starts a round, drawing the scalar from rnd (crypto/rand
// if nil).
func NewClientRound(p RoundParams, rnd io.Reader) (*ClientRound, error) {
	cp, err := p.cpaceParams()
	if err != nil {
		return nil, err
	}
	defer clear(cp.PRS)
	b, err := cpace.NewResponder(cp, randOrDefault(rnd))
	if err != nil {
		return nil, err
	}
	return &ClientRound{suite: p.Suite, b: b}, nil
}

// Respond takes pake_msg_1 (Ya) and returns pake_msg_2 (Yb) for
// client/pair-auth. cpace.ErrLowOrder here is a protocol error.
func (r *ClientRound) Respond(ya cpace.Share) (cpace.Share, error) {
	return r.b.Respond(ya)
}

// Confirm verifies server_kc (Ta) and only then returns client_kc (Tb) for
// client/pair-confirm and the wrap keys. On cpace.ErrTagMismatch the
// client sends client/pair-retry or pair/abort pairing_code_mismatch
// (pairing.md "Rounds").
func (r *ClientRound) Confirm(ta cpace.Tag) (cpace.Tag, *WrapKeys, error) {
	tb, out, err := r.b.Confirm(ta)
	if err != nil {
		return cpace.Tag{}, nil, err
	}
	return tb, newWrapKeys(r.suite, out), nil
}
